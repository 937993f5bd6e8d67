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
pub use cxm_facts::{AddedRows, KeepRows};

/// Ingests the request's files into the data directory and reports what happened.
pub async fn ingest(dir: &DataDir, request: &IngestRequest) -> Result<IngestSummary, IngestError> {
    Ok(ingest_keeping(dir, request, None).await?.0)
}

/// [`ingest`], also keeping the facts `keep` asks for as they are written: they come back
/// when the ingest only added records (see [`AddedRows`]), so what reads the table's
/// recent records next (the alert rules) need not read back what was just written.
pub async fn ingest_keeping(
    dir: &DataDir,
    request: &IngestRequest,
    keep: Option<&KeepRows>,
) -> Result<(IngestSummary, Option<AddedRows>), IngestError> {
    let _writer = if request.dry_run {
        None
    } else {
        Some(dir.lock_for_writing().await?)
    };
    let prepared = request::Prepared::new(dir, request).await?;
    let reference = |run: Result<IngestSummary, IngestError>| run.map(|summary| (summary, None));
    match request.kind {
        RecordKind::Interactions => {
            fact_pipeline::run::<Interaction>(dir, request, prepared, keep).await
        }
        RecordKind::Surveys => {
            fact_pipeline::run::<SurveyResponse>(dir, request, prepared, keep).await
        }
        RecordKind::Transactions => {
            fact_pipeline::run::<Transaction>(dir, request, prepared, keep).await
        }
        RecordKind::CustomerEvents => {
            fact_pipeline::run::<CustomerEvent>(dir, request, prepared, keep).await
        }
        RecordKind::Customers => {
            reference(reference_pipeline::run::<Customer>(dir, request, prepared).await)
        }
        RecordKind::OrgUnits => {
            reference(reference_pipeline::run::<OrgUnit>(dir, request, prepared).await)
        }
        RecordKind::People => {
            reference(reference_pipeline::run::<Person>(dir, request, prepared).await)
        }
        RecordKind::Memberships => {
            reference(reference_pipeline::run::<Membership>(dir, request, prepared).await)
        }
        RecordKind::Topics => {
            reference(reference_pipeline::run::<Topic>(dir, request, prepared).await)
        }
    }
}
