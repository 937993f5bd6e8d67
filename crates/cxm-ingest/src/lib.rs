//! Ingestion: `cxm ingest <kind> <file>…`.
//!
//! Files (CSV, NDJSON or Parquet, gzip or not, adapted by an optional mapping) are read in
//! a streaming fashion; every row becomes a validated record or a quarantined rejection
//! (file, line, field, value, reason, and the row itself). Valid records are stored in one
//! atomic, idempotent batch per table: facts in Delta tables, reference data in SQL.

mod error;
mod fact_pipeline;
mod quarantine;
mod records;
mod reference_pipeline;
mod references;
mod request;
mod sources;

pub use error::IngestError;
pub use records::{BatchReport, RecordBatchRequest, RecordResult, RecordStatus, ingest_records};
pub use request::{IngestRequest, IngestSummary};

use cxm_catalog::DataDir;
use cxm_domain::{Customer, Membership, OrgUnit, Person, Topic};
use cxm_domain::{CustomerEvent, Interaction, RecordKind, SurveyResponse, Transaction};

/// Ingests the request's files into the data directory and reports what happened.
pub async fn ingest(dir: &DataDir, request: &IngestRequest) -> Result<IngestSummary, IngestError> {
    let _writer = if request.dry_run {
        None
    } else {
        Some(dir.lock_for_writing().await?)
    };
    let prepared = request::Prepared::new(dir, request).await?;
    match request.kind {
        RecordKind::Interactions => fact_pipeline::run::<Interaction>(dir, request, prepared).await,
        RecordKind::Surveys => fact_pipeline::run::<SurveyResponse>(dir, request, prepared).await,
        RecordKind::Transactions => fact_pipeline::run::<Transaction>(dir, request, prepared).await,
        RecordKind::CustomerEvents => {
            fact_pipeline::run::<CustomerEvent>(dir, request, prepared).await
        }
        RecordKind::Customers => reference_pipeline::run::<Customer>(dir, request, prepared).await,
        RecordKind::OrgUnits => reference_pipeline::run::<OrgUnit>(dir, request, prepared).await,
        RecordKind::People => reference_pipeline::run::<Person>(dir, request, prepared).await,
        RecordKind::Memberships => {
            reference_pipeline::run::<Membership>(dir, request, prepared).await
        }
        RecordKind::Topics => reference_pipeline::run::<Topic>(dir, request, prepared).await,
    }
}
