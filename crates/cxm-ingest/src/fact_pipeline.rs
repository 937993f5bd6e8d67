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
    /// end of one atomic batch, with the key hashes of its rows
    Commit(KeyHashes),
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

/// Key hash → content hash of the latest row with that key in a batch.
type KeyHashes = HashMap<u64, u64, BuildHasherDefault<Prehashed>>;

/// Counts the parser can know without the store.
#[derive(Default)]
struct ParseStats {
    read: u64,
    accepted: u64,
    rejected: u64,
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
    // Rows are rarely under 96 bytes: a bound on the rows of one batch.
    let expected_rows = (prepared.total_bytes / 96).min(batch_rows) as usize;
    let (chunk_sender, chunk_receiver) = std::sync::mpsc::sync_channel::<Chunk<R>>(4);
    let spawn_error = |e: std::io::Error| IngestError::Worker(e.to_string());
    let reader = std::thread::Builder::new()
        .name("cxm-ingest-read".into())
        .spawn(move || read_records::<R>(prepared, quarantine, chunk_sender, progress))
        .map_err(spawn_error)?;
    let assembler = std::thread::Builder::new()
        .name("cxm-ingest-assemble".into())
        .spawn(move || assemble::<R>(chunk_receiver, sender, batch_rows, expected_rows))
        .map_err(spawn_error)?;

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
                Message::Commit(keys) => {
                    if let Some(batch_writer) = staged.take() {
                        let outcome = batch_writer
                            .commit_knowing(|hash| keys.contains_key(&hash))
                            .await?;
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
    // On a write error the assembler, then the reader, see their channels close and stop.
    drop(receiver);
    let repeats = assembler
        .join()
        .map_err(|_| IngestError::Worker("the assembler thread panicked".into()))?;
    let read = reader
        .join()
        .map_err(|_| IngestError::Worker("the reader thread panicked".into()))?;
    written?;
    // The reader's error is the cause when it failed first (e.g. an unreadable file).
    let stats = read?;
    let mut repeats = repeats?;
    if request.dry_run {
        // Without writing there is nothing to classify against: report validation only.
        repeats = Repeats::default();
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
        replaced: totals.replaced + repeats.superseded,
        unchanged: totals.unchanged + repeats.identical,
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

/// Records parsed per chunk handed from the reader to the assembler.
const RECORDS_PER_CHUNK: usize = 4096;

/// Stage one, the reader: reads every file, validates, checks references and quarantines
/// rejected rows; valid records go to the assembler in chunks.
fn read_records<R>(
    mut prepared: Prepared,
    mut quarantine: Quarantine,
    assembler: std::sync::mpsc::SyncSender<Chunk<R>>,
    progress: ProgressBar,
) -> Result<ParseStats, IngestError>
where
    R: FactRow + Refers,
{
    let mut stats = ParseStats::default();
    let mut chunk = Vec::with_capacity(RECORDS_PER_CHUNK);
    let mut bytes_done: u64 = 0;
    let mut last_tick = Instant::now();
    let send = |chunk: Chunk<R>| {
        assembler
            .send(chunk)
            .map_err(|_| IngestError::Worker("the assembler stopped".into()))
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
            chunk.push(record);
            if chunk.len() == RECORDS_PER_CHUNK {
                send(Chunk::Records(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(RECORDS_PER_CHUNK),
                )))?;
                if last_tick.elapsed() > Duration::from_millis(100) {
                    progress.set_position(bytes_done + source.bytes_read());
                    last_tick = Instant::now();
                }
            }
        }
        bytes_done += source.size();
        progress.set_position(bytes_done);
    }
    send(Chunk::Records(chunk))?;
    // Only now may the last batch be committed: a read error above ends without it.
    send(Chunk::End)?;
    progress.finish_and_clear();
    stats.rejected = quarantine.rejected;
    stats.quarantine = quarantine.finish()?;
    Ok(stats)
}

/// What the reader hands the assembler.
enum Chunk<R> {
    Records(Vec<R>),
    /// every file was read completely
    End,
}

/// Counts of the assembler: repeats of an id within a batch.
#[derive(Default)]
struct Repeats {
    /// repeats with identical content
    identical: u64,
    /// superseding rows that were themselves superseded later in the batch
    superseded: u64,
}

/// Stage two, the assembler: deduplicates ids within a batch (last wins), builds Arrow
/// batches and hands them to the writer, ending a batch every `batch_rows` rows.
fn assemble<R: FactRow>(
    chunks: std::sync::mpsc::Receiver<Chunk<R>>,
    sender: mpsc::Sender<Message>,
    batch_rows: u64,
    expected_rows: usize,
) -> Result<Repeats, IngestError> {
    let mut repeats = Repeats::default();
    let mut builder = FactBatchBuilder::<R>::default();
    // key hash → content hash of the latest row with that key in this batch, sized up
    // front so it does not rehash while it grows
    let mut seen: KeyHashes = HashMap::with_capacity_and_hasher(expected_rows, Default::default());
    let mut late: HashMap<String, (R, u64)> = HashMap::new();
    let mut rows_in_batch: u64 = 0;
    let send = |message: Message| {
        sender
            .blocking_send(message)
            .map_err(|_| IngestError::Worker("the writer stopped".into()))
    };
    let mut complete = false;
    for chunk in chunks {
        let records = match chunk {
            Chunk::Records(records) => records,
            Chunk::End => {
                complete = true;
                break;
            }
        };
        for record in records {
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
                        repeats.identical += 1;
                    } else {
                        entry.insert(content);
                        if late.insert(record.key(), (record, content)).is_some() {
                            repeats.superseded += 1;
                        }
                    }
                }
            }
            if rows_in_batch + late.len() as u64 >= batch_rows {
                let keys = std::mem::replace(
                    &mut seen,
                    HashMap::with_capacity_and_hasher(expected_rows, Default::default()),
                );
                end_batch(&mut builder, &mut late, keys, &send)?;
                rows_in_batch = 0;
            }
        }
    }
    if !complete {
        return Err(IngestError::Worker("the reader stopped".into()));
    }
    end_batch(&mut builder, &mut late, seen, &send)?;
    Ok(repeats)
}

fn end_batch<R: FactRow>(
    builder: &mut FactBatchBuilder<R>,
    late: &mut HashMap<String, (R, u64)>,
    keys: KeyHashes,
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
    send(Message::Commit(keys))
}
