//! Ingesting a batch of records sent as JSON (the HTTP API): the same validation and
//! quarantine as files, one atomic commit for the batch, and a result for every record.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use cxm_catalog::DataDir;
use cxm_domain::{CustomerEvent, Interaction, RecordKind, SurveyResponse, Transaction};
use cxm_facts::FactBatchBuilder;
use cxm_facts::batch::FactRow;
use cxm_readers::JsonRecords;
use cxm_readers::rejection::RejectedField;
use serde::Serialize;

use crate::quarantine::Quarantine;
use crate::references::{References, Refers};
use crate::{IngestError, IngestSummary};

/// A batch of records of one fact kind.
#[derive(Debug, Clone)]
pub struct RecordBatchRequest {
    pub kind: RecordKind,
    pub records: Vec<serde_json::Value>,
    /// Reject records that name customers, agents or topics the store does not know.
    pub enforce_references: bool,
    /// Who sent the batch, written as the source of quarantined records (e.g.
    /// `api:token:ab12`).
    pub source: String,
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Its id was new.
    Inserted,
    /// Its id was stored (or came earlier in the batch) with different content; this
    /// record replaced it.
    Replaced,
    /// Its id was stored (or came earlier in the batch) with the same content.
    Unchanged,
    /// Invalid: not stored, quarantined, with the reasons.
    Rejected,
}

/// One record's result, in the order the records were sent.
#[derive(Debug, Clone, Serialize)]
pub struct RecordResult {
    /// 1-based position in the batch.
    pub record: u64,
    /// The record's id, when it could be read.
    pub id: Option<String>,
    pub status: RecordStatus,
    /// Why it was rejected (empty otherwise).
    pub errors: Vec<RejectedField>,
}

/// The batch's summary (as `cxm ingest --json` prints it) and every record's result.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    pub summary: IngestSummary,
    pub records: Vec<RecordResult>,
    /// The table version the batch created; `None` when nothing had to change.
    pub version: Option<u64>,
}

/// Validates the batch, then stores its valid records in one atomic commit (durable when
/// this returns) and reports each record. A batch sent twice changes nothing the second
/// time; when ids repeat within the batch the last record wins.
pub async fn ingest_records(
    dir: &DataDir,
    request: RecordBatchRequest,
) -> Result<BatchReport, IngestError> {
    match request.kind {
        RecordKind::Interactions => run::<Interaction>(dir, request).await,
        RecordKind::Surveys => run::<SurveyResponse>(dir, request).await,
        RecordKind::Transactions => run::<Transaction>(dir, request).await,
        RecordKind::CustomerEvents => run::<CustomerEvent>(dir, request).await,
        other => Err(IngestError::Worker(format!(
            "{other} are reference data: ingest them from files (`cxm ingest {}`)",
            other.cli_name()
        ))),
    }
}

async fn run<R: FactRow + Refers>(
    dir: &DataDir,
    request: RecordBatchRequest,
) -> Result<BatchReport, IngestError> {
    let table = R::TABLE;
    let _writer = dir.lock_for_writing().await?;
    let references = if request.enforce_references {
        Some(References::load(dir, request.kind).await?)
    } else {
        None
    };
    let reader = JsonRecords::new(request.kind, &request.records)?;
    let mut quarantine = Quarantine::new(&dir.quarantine_dir(), request.kind.cli_name(), true);
    let source = Path::new(&request.source);
    let mut results = Vec::with_capacity(request.records.len());
    let mut valid: Vec<(usize, R)> = Vec::new();
    for (record, number) in request.records.into_iter().zip(1..) {
        let id = record.get(table.key_column()).and_then(|id| match id {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Number(number) => Some(number.to_string()),
            _ => None,
        });
        // The record as sent is kept only where a reference check could still reject it.
        let as_sent = references.as_ref().map(|_| record.clone());
        let parsed = reader.parse::<R>(number, record).and_then(|(_, r)| {
            match (references.as_ref().map(|refs| refs.check(&r)), as_sent) {
                (Some(errors), Some(as_sent)) if !errors.is_empty() => {
                    Err(cxm_readers::Rejection::new(number, errors, as_sent))
                }
                _ => Ok(r),
            }
        });
        match parsed {
            Ok(parsed) => {
                valid.push((results.len(), parsed));
                results.push(RecordResult {
                    record: number,
                    id,
                    // classified below
                    status: RecordStatus::Inserted,
                    errors: Vec::new(),
                });
            }
            Err(rejection) => {
                quarantine.reject(source, &rejection)?;
                results.push(RecordResult {
                    record: number,
                    id,
                    status: RecordStatus::Rejected,
                    errors: rejection.errors,
                });
            }
        }
    }
    let rejected = quarantine.rejected;
    let quarantine = quarantine.finish()?;

    let facts = dir.facts().await?;
    let ids: Vec<String> = valid
        .iter()
        .map(|(_, record)| record.key())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut current = facts.stored_hashes(table, &ids).await?;
    let mut builder = FactBatchBuilder::<R>::default();
    // per id hash: the content of its last record, for ids that occur more than once
    let mut occurrences: HashMap<u64, (u32, u64)> = HashMap::new();
    let mut changes = false;
    for (index, record) in &valid {
        let key = record.key();
        let content = record.content_hash();
        results[*index].id = Some(key.clone());
        let status = match current.insert(key, content) {
            None => RecordStatus::Inserted,
            Some(stored) if stored == content => RecordStatus::Unchanged,
            Some(_) => RecordStatus::Replaced,
        };
        changes |= status != RecordStatus::Unchanged;
        results[*index].status = status;
        let seen = occurrences.entry(record.key_hash()).or_insert((0, content));
        *seen = (seen.0 + 1, content);
        builder.push(record, content);
    }
    let mut version = None;
    let mut earliest = None;
    if changes {
        let mut writer = facts
            .writers(table, 1)
            .await?
            .pop()
            .ok_or_else(|| IngestError::Worker("no writer for the batch".into()))?;
        let batch = builder.finish()?;
        earliest = crate::fact_pipeline::earliest_micros(&batch, table.time_column());
        writer.write(batch).await?;
        let mut staged = facts.stage(table).await?;
        staged.add(writer.flush().await?);
        let last: HashMap<u64, u64> = occurrences
            .iter()
            .filter(|(_, (count, _))| *count > 1)
            .map(|(key, (_, content))| (*key, *content))
            .collect();
        staged.keep_last(&last).await?;
        let outcome = staged
            .commit_knowing(|hash| occurrences.contains_key(&hash))
            .await?;
        version = outcome.version;
    }
    let count = |status| results.iter().filter(|r| r.status == status).count() as u64;
    let summary = IngestSummary {
        kind: request.kind.cli_name().to_owned(),
        files: vec![request.source.clone()],
        read: results.len() as u64,
        accepted: valid.len() as u64,
        inserted: count(RecordStatus::Inserted),
        replaced: count(RecordStatus::Replaced),
        unchanged: count(RecordStatus::Unchanged),
        rejected,
        quarantine,
        earliest_micros: earliest,
    };
    Ok(BatchReport {
        summary,
        records: results,
        version,
    })
}
