//! Ingesting reference data (customers, org units, people, memberships, topics) into the
//! SQL store: one transaction per ingest, upserted by key.

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
    Ok(IngestSummary {
        kind: request.kind.cli_name().to_owned(),
        files: request
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        read,
        accepted: rows.len() as u64,
        inserted: counts.inserted,
        replaced: counts.replaced,
        unchanged: counts.unchanged,
        rejected: quarantine.rejected,
        quarantine: quarantine.finish()?,
    })
}

fn parse_all<R: Record + Refers + ToReferenceRow>(
    mut prepared: Prepared,
    mut quarantine: Quarantine,
    progress: indicatif::ProgressBar,
) -> Result<Parsed<R>, IngestError> {
    let mut accepted = Vec::new();
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
                        accepted.push(Accepted {
                            source: index,
                            line,
                            row: ReferenceRow::from_record(&record),
                            raw: is_unit.then(|| source.last_row()),
                            record: is_unit.then_some(record),
                        });
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
    Ok(Parsed {
        accepted,
        quarantine,
        read,
        prepared,
    })
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
