//! Ingesting facts: a parser thread turns rows into Arrow batches while the async side
//! streams them into a staged Delta batch, committed atomically at the end (or every
//! `batch_rows` rows).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use cxm_catalog::DataDir;
use cxm_facts::arrow::array::RecordBatch;
use cxm_facts::batch::FactRow;
use cxm_facts::{BatchOutcome, FactBatchBuilder, StagedBatch};
use cxm_readers::Rejection;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use crate::quarantine::Quarantine;
use crate::references::Refers;
use crate::request::Prepared;
use crate::{IngestError, IngestRequest, IngestSummary};

/// Rows per Arrow batch handed to the writer.
const ROWS_PER_BATCH: usize = 64 * 1024;

enum Message {
    /// rows whose ids are first seen in the current batch
    Rows(RecordBatch),
    /// rows superseding earlier rows of the current batch
    Late(RecordBatch),
    /// end of one atomic batch
    Commit,
}

/// Keys of the in-batch id map are already xxh3 hashes: use them as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Counts the parser can know without the store.
#[derive(Default)]
struct ParseStats {
    read: u64,
    accepted: u64,
    rejected: u64,
    /// repeats of an id within a batch with identical content
    identical_repeats: u64,
    /// superseding rows that were themselves superseded later in the batch
    superseded_repeats: u64,
    quarantine: Option<String>,
}

pub(crate) async fn run<R>(
    dir: &DataDir,
    request: &IngestRequest,
    prepared: Prepared,
) -> Result<IngestSummary, IngestError>
where
    R: FactRow + Refers,
{
    let table = R::TABLE;
    let facts = if request.dry_run {
        None
    } else {
        Some(dir.facts().await?)
    };
    let quarantine = Quarantine::new(
        &dir.quarantine_dir(),
        request.kind.cli_name(),
        !request.dry_run,
    );
    let progress = progress_bar(request.progress, prepared.total_bytes);
    let (sender, mut receiver) = mpsc::channel::<Message>(2);
    let batch_rows = request.batch_rows.max(1);
    let parser = std::thread::Builder::new()
        .name("cxm-ingest-parse".into())
        .spawn(move || parse_all::<R>(prepared, quarantine, sender, batch_rows, progress))
        .map_err(|e| IngestError::Worker(e.to_string()))?;

    let mut totals = BatchOutcome::default();
    let mut staged: Option<StagedBatch> = None;
    let written: Result<(), IngestError> = async {
        while let Some(message) = receiver.recv().await {
            let Some(facts) = &facts else { continue };
            match message {
                Message::Rows(batch) => {
                    if staged.is_none() {
                        staged = Some(facts.stage(table).await?);
                    }
                    if let Some(batch_writer) = staged.as_mut() {
                        batch_writer.write(batch).await?;
                    }
                }
                Message::Late(batch) => {
                    if staged.is_none() {
                        staged = Some(facts.stage(table).await?);
                    }
                    if let Some(batch_writer) = staged.as_mut() {
                        batch_writer.supersede(batch);
                    }
                }
                Message::Commit => {
                    if let Some(batch_writer) = staged.take() {
                        let outcome = batch_writer.commit().await?;
                        totals.inserted += outcome.inserted;
                        totals.replaced += outcome.replaced;
                        totals.unchanged += outcome.unchanged;
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    // On a write error the parser sees the channel close and stops.
    drop(receiver);
    let parsed = parser
        .join()
        .map_err(|_| IngestError::Worker("the parser thread panicked".into()))?;
    written?;
    let mut stats = parsed?;
    if request.dry_run {
        // Without writing there is nothing to classify against: report validation only.
        (stats.identical_repeats, stats.superseded_repeats) = (0, 0);
    }
    Ok(IngestSummary {
        kind: request.kind.cli_name().to_owned(),
        files: request
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        read: stats.read,
        accepted: stats.accepted,
        inserted: totals.inserted,
        replaced: totals.replaced + stats.superseded_repeats,
        unchanged: totals.unchanged + stats.identical_repeats,
        rejected: stats.rejected,
        quarantine: stats.quarantine,
    })
}

pub(crate) fn progress_bar(enabled: bool, total_bytes: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// The parser side: reads every file, validates, quarantines, deduplicates ids within a
/// batch (last wins) and sends Arrow batches.
fn parse_all<R>(
    mut prepared: Prepared,
    mut quarantine: Quarantine,
    sender: mpsc::Sender<Message>,
    batch_rows: u64,
    progress: ProgressBar,
) -> Result<ParseStats, IngestError>
where
    R: FactRow + Refers,
{
    let mut stats = ParseStats::default();
    let mut builder = FactBatchBuilder::<R>::default();
    // key hash → content hash of the latest row with that key in this batch
    // Sized up front from the input size (rows are rarely under 96 bytes) so the map does
    // not rehash while it grows; bounded by the batch size.
    let expected_rows = (prepared.total_bytes / 96).min(batch_rows) as usize;
    let mut seen: HashMap<u64, u64, BuildHasherDefault<Prehashed>> =
        HashMap::with_capacity_and_hasher(expected_rows, Default::default());
    let mut late: HashMap<String, (R, u64)> = HashMap::new();
    let mut rows_in_batch: u64 = 0;
    let mut bytes_done: u64 = 0;
    let mut last_tick = Instant::now();
    let send = |message: Message| {
        sender
            .blocking_send(message)
            .map_err(|_| IngestError::Worker("the writer stopped".into()))
    };

    for source in prepared.sources.iter_mut() {
        while let Some(row) = source.next_record::<R>()? {
            stats.read += 1;
            let (line, record) = match row {
                Ok(parsed) => parsed,
                Err(rejection) => {
                    quarantine.reject(source.path(), &rejection)?;
                    continue;
                }
            };
            if let Some(references) = &prepared.references {
                let errors = references.check(&record);
                if !errors.is_empty() {
                    quarantine.reject(
                        source.path(),
                        &Rejection::new(line, errors, source.last_row()),
                    )?;
                    continue;
                }
            }
            stats.accepted += 1;
            let content = record.content_hash();
            match seen.entry(record.key_hash()) {
                Entry::Vacant(entry) => {
                    entry.insert(content);
                    builder.push(&record, content);
                    rows_in_batch += 1;
                    if builder.len() >= ROWS_PER_BATCH {
                        send(Message::Rows(builder.finish()?))?;
                    }
                }
                Entry::Occupied(mut entry) => {
                    if *entry.get() == content {
                        stats.identical_repeats += 1;
                    } else {
                        entry.insert(content);
                        if late.insert(record.key(), (record, content)).is_some() {
                            stats.superseded_repeats += 1;
                        }
                    }
                }
            }
            if rows_in_batch + late.len() as u64 >= batch_rows {
                end_batch(&mut builder, &mut late, &send)?;
                seen.clear();
                rows_in_batch = 0;
            }
            if stats.read % 4096 == 0 && last_tick.elapsed() > Duration::from_millis(100) {
                progress.set_position(bytes_done + source.bytes_read());
                last_tick = Instant::now();
            }
        }
        bytes_done += source.size();
        progress.set_position(bytes_done);
    }
    end_batch(&mut builder, &mut late, &send)?;
    progress.finish_and_clear();
    stats.rejected = quarantine.rejected;
    stats.quarantine = quarantine.finish()?;
    Ok(stats)
}

fn end_batch<R: FactRow>(
    builder: &mut FactBatchBuilder<R>,
    late: &mut HashMap<String, (R, u64)>,
    send: &impl Fn(Message) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    if !builder.is_empty() {
        send(Message::Rows(builder.finish()?))?;
    }
    if !late.is_empty() {
        let mut late_builder = FactBatchBuilder::<R>::default();
        for (record, content) in late.values() {
            late_builder.push(record, *content);
        }
        late.clear();
        send(Message::Late(late_builder.finish()?))?;
    }
    send(Message::Commit)
}
