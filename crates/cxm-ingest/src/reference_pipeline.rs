//! Ingesting reference data (customers, org units, people, memberships, topics) into the
//! SQL store: one transaction per ingest, upserted by key. Org units are checked as a whole
//! tree first; everything else is written in chunks as it is read.

use std::collections::{HashMap, HashSet};

use cxm_catalog::DataDir;
use cxm_domain::{FieldError, OrgUnit, Record, RecordKind, UnitLevel};
use cxm_readers::Rejection;
use cxm_sql::reference::ToReferenceRow;
use cxm_sql::{ReferenceRow, ReferenceStore, ReferenceTable, UpsertCounts};

use crate::fact_pipeline::progress_bar;
use crate::quarantine::Quarantine;
use crate::references::Refers;
use crate::request::Prepared;
use crate::{IngestError, IngestRequest, IngestSummary};

struct Accepted<R> {
    source: usize,
    line: u64,
    /// The row to store (the parsed record is dropped at once, except for org units).
    row: ReferenceRow,
    /// Org units only: the record and the row as read, for the tree check.
    record: Option<R>,
    raw: Option<serde_json::Value>,
}

struct Parsed<R> {
    accepted: Vec<Accepted<R>>,
    quarantine: Quarantine,
    read: u64,
    prepared: Prepared,
}

pub(crate) async fn run<R>(
    dir: &DataDir,
    request: &IngestRequest,
    prepared: Prepared,
) -> Result<IngestSummary, IngestError>
where
    R: ToReferenceRow + Refers + Send + 'static,
{
    let quarantine = Quarantine::new(
        &dir.quarantine_dir(),
        request.kind.cli_name(),
        !request.dry_run,
    );
    let progress = progress_bar(request.progress, prepared.total_bytes);
    if R::KIND != RecordKind::OrgUnits {
        return run_streaming::<R>(dir, request, prepared, quarantine, progress).await;
    }
    let parsed =
        tokio::task::spawn_blocking(move || parse_all::<R>(prepared, quarantine, progress))
            .await
            .map_err(|e| IngestError::Worker(e.to_string()))??;
    let Parsed {
        mut accepted,
        mut quarantine,
        read,
        prepared,
    } = parsed;
    let store = dir.reference().await?;
    if R::KIND == RecordKind::OrgUnits {
        let existing = store.rows(ReferenceTable::OrgUnits).await?;
        let rejected = check_tree(&existing, &accepted);
        for (index, errors) in &rejected {
            let row = &accepted[*index];
            quarantine.reject(
                prepared.sources[row.source].path(),
                &Rejection::new(
                    row.line,
                    errors.clone(),
                    row.raw.clone().unwrap_or_default(),
                ),
            )?;
        }
        let rejected: std::collections::HashSet<usize> =
            rejected.into_iter().map(|(index, _)| index).collect();
        let mut index = 0;
        accepted.retain(|_| {
            index += 1;
            !rejected.contains(&(index - 1))
        });
    }
    let rows: Vec<ReferenceRow> = accepted.into_iter().map(|a| a.row).collect();
    let table = R::TABLE;
    let counts: UpsertCounts = store.upsert(table, &rows, request.dry_run).await?;
    store.close().await;
    summary(request, read, rows.len() as u64, counts, quarantine)
}

fn parse_all<R: Record + Refers + ToReferenceRow>(
    mut prepared: Prepared,
    mut quarantine: Quarantine,
    progress: indicatif::ProgressBar,
) -> Result<Parsed<R>, IngestError> {
    let mut accepted = Vec::new();
    let read = parse_each::<R>(&mut prepared, &mut quarantine, &progress, |row| {
        accepted.push(row);
        Ok(())
    })?;
    Ok(Parsed {
        accepted,
        quarantine,
        read,
        prepared,
    })
}

/// Reads every file, quarantines rejected rows and hands each accepted one to `emit`.
/// Returns the rows read.
fn parse_each<R: Record + Refers + ToReferenceRow>(
    prepared: &mut Prepared,
    quarantine: &mut Quarantine,
    progress: &indicatif::ProgressBar,
    mut emit: impl FnMut(Accepted<R>) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    let mut read = 0;
    let mut bytes_done = 0;
    for (index, source) in prepared.sources.iter_mut().enumerate() {
        while let Some(row) = source.next_record::<R>()? {
            read += 1;
            match row {
                Err(rejection) => quarantine.reject(source.path(), &rejection)?,
                Ok((line, record)) => {
                    let errors = prepared
                        .references
                        .as_ref()
                        .map(|r| r.check(&record))
                        .unwrap_or_default();
                    if errors.is_empty() {
                        let is_unit = R::KIND == RecordKind::OrgUnits;
                        emit(Accepted {
                            source: index,
                            line,
                            row: ReferenceRow::from_record(&record),
                            raw: is_unit.then(|| source.last_row()),
                            record: is_unit.then_some(record),
                        })?;
                    } else {
                        quarantine.reject(
                            source.path(),
                            &Rejection::new(line, errors, source.last_row()),
                        )?;
                    }
                }
            }
            if read % 4096 == 0 {
                progress.set_position(bytes_done + source.bytes_read());
            }
        }
        bytes_done += source.size();
    }
    progress.finish_and_clear();
    Ok(read)
}

/// Rows per chunk written to the store while the files are still being read.
const ROWS_PER_CHUNK: usize = 50_000;

/// Customers, people, memberships and topics: parsed on a blocking thread and written in
/// chunks as they come, all in one transaction (memory stays bounded however large the
/// file); an unreadable file or a failed write rolls everything back.
async fn run_streaming<R>(
    dir: &DataDir,
    request: &IngestRequest,
    mut prepared: Prepared,
    mut quarantine: Quarantine,
    progress: indicatif::ProgressBar,
) -> Result<IngestSummary, IngestError>
where
    R: ToReferenceRow + Refers + Send + 'static,
{
    let store = dir.reference().await?;
    let mut session = store.begin_upsert(R::TABLE, request.dry_run).await?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<ReferenceRow>>(2);
    let parser = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(ROWS_PER_CHUNK);
        let closed = || IngestError::Worker("the store writer stopped".into());
        let read = parse_each::<R>(&mut prepared, &mut quarantine, &progress, |accepted| {
            chunk.push(accepted.row);
            if chunk.len() == ROWS_PER_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(ROWS_PER_CHUNK));
                sender.blocking_send(full).map_err(|_| closed())?;
            }
            Ok(())
        })?;
        sender.blocking_send(chunk).map_err(|_| closed())?;
        Ok::<_, IngestError>((read, quarantine))
    });
    let mut counts = UpsertCounts::default();
    let mut accepted = 0u64;
    let written: Result<(), IngestError> = async {
        while let Some(chunk) = receiver.recv().await {
            accepted += chunk.len() as u64;
            let chunk_counts = session.write(&chunk).await?;
            counts.inserted += chunk_counts.inserted;
            counts.replaced += chunk_counts.replaced;
            counts.unchanged += chunk_counts.unchanged;
        }
        Ok(())
    }
    .await;
    // On a write error the parser sees the channel close and stops.
    drop(receiver);
    let parsed = parser
        .await
        .map_err(|e| IngestError::Worker(e.to_string()))?;
    // The parser's error is the cause when it failed first (e.g. an unreadable file).
    let (read, quarantine) = match (parsed, written) {
        (Err(error), _) | (Ok(_), Err(error)) => {
            drop(session);
            store.close().await;
            return Err(error);
        }
        (Ok(parsed), Ok(())) => parsed,
    };
    session.commit().await?;
    store.close().await;
    summary(request, read, accepted, counts, quarantine)
}

/// Checks that every unit's parent exists (in the store or the batch) and sits at a higher
/// level (so the tree has no cycles). Returns the rejected rows' indexes with their
/// errors; children of rejected units are rejected in turn.
fn check_tree<R: Refers>(
    existing: &[ReferenceRow],
    accepted: &[Accepted<R>],
) -> Vec<(usize, Vec<FieldError>)> {
    // unit id → level: stored units, overlaid by the batch (the batch wins)
    let mut stored: HashMap<String, UnitLevel> = HashMap::new();
    for row in existing {
        if let Some(level) = row
            .values
            .get(3)
            .cloned()
            .flatten()
            .and_then(|l| UnitLevel::parse("level", &l).ok())
        {
            stored.insert(row.key().to_owned(), level);
        }
    }
    let units: Vec<Option<&OrgUnit>> = accepted
        .iter()
        .map(|row| row.record.as_ref().and_then(|r| r.as_org_unit()))
        .collect();
    let mut levels = stored.clone();
    for unit in units.iter().flatten() {
        levels.insert(unit.unit_id.to_string(), unit.level);
    }
    let mut is_rejected = vec![false; units.len()];
    let mut rejected_ids: HashSet<String> = HashSet::new();
    let mut rejected: Vec<(usize, Vec<FieldError>)> = Vec::new();
    loop {
        let mut changed = false;
        for (index, unit) in units.iter().enumerate() {
            let Some(unit) = unit else { continue };
            let Some(parent) = &unit.parent_id else {
                continue;
            };
            if is_rejected[index] {
                continue;
            }
            let error = match levels.get(parent.as_str()) {
                None if rejected_ids.contains(parent.as_str()) => {
                    Some(format!("parent unit {parent} was rejected"))
                }
                None => Some(format!("unknown parent unit {parent}")),
                Some(parent_level) if parent_level.depth() >= unit.level.depth() => Some(format!(
                    "a {} cannot be under the {} {parent}",
                    unit.level, parent_level
                )),
                Some(_) => None,
            };
            if let Some(reason) = error {
                is_rejected[index] = true;
                rejected.push((
                    index,
                    vec![FieldError::new("parent_id", parent.as_str(), reason)],
                ));
                // The stored version of a rejected unit, if any, stays in force.
                match stored.get(unit.unit_id.as_str()) {
                    Some(level) => {
                        levels.insert(unit.unit_id.to_string(), *level);
                    }
                    None => {
                        levels.remove(unit.unit_id.as_str());
                        rejected_ids.insert(unit.unit_id.to_string());
                    }
                }
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    rejected
}

/// What an ingest of reference data did.
fn summary(
    request: &IngestRequest,
    read: u64,
    accepted: u64,
    counts: UpsertCounts,
    quarantine: Quarantine,
) -> Result<IngestSummary, IngestError> {
    Ok(IngestSummary {
        read,
        accepted,
        inserted: counts.inserted,
        replaced: counts.replaced,
        unchanged: counts.unchanged,
        rejected: quarantine.rejected,
        quarantine: quarantine.finish()?,
        ..IngestSummary::of(request)
    })
}
