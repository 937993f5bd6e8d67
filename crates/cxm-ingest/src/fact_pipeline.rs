//! Ingesting facts on every core.
//!
//! - The **reader** cuts CSV files into blocks of whole records (other formats it parses
//!   itself, in chunks).
//! - **Parsers**, one per core, validate a block's rows, check references, hash each row's
//!   key and content and build the block's Arrow batch.
//! - The **assembler** puts the parsed blocks back in file order, quarantines rejected
//!   rows, notes every row's key and content hash, cuts the stream into atomic batches of
//!   at most `batch_rows` rows and hands record batches to the writers.
//! - **Writers**, one per core, encode the rows as staged Parquet files.
//! - The async side commits each batch: ids repeated within the batch are resolved (the
//!   last row wins), then the batch is appended, or merged by id when the table already
//!   holds some of its ids.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use cxm_catalog::DataDir;
use cxm_domain::ParseContext;
use cxm_facts::arrow::array::RecordBatch;
use cxm_facts::batch::FactRow;
use cxm_facts::{
    AddedRows, BatchOutcome, FactBatchBuilder, FactStore, KeepRows, RowKeeper, StagedFiles,
    StagedWriter,
};
use cxm_readers::{Block, CsvLayout, MAX_DIRECT_FIELDS, Rejection};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use crate::quarantine::Quarantine;
use crate::references::{References, Refers};
use crate::request::Prepared;
use crate::sources::AnyRows;
use crate::{IngestError, IngestRequest, IngestSummary};

/// Rows per unit when the reader parses a file itself (NDJSON, Parquet).
const RECORDS_PER_UNIT: usize = 8192;

/// A block of a CSV file for a parser.
struct Work {
    seq: u64,
    source: usize,
    layout: Arc<CsvLayout>,
    block: Block,
    /// bytes of all files consumed when the block was cut
    progress: u64,
}

/// The rows of one block (or chunk), parsed.
#[derive(Default)]
struct Parsed {
    seq: u64,
    source: usize,
    /// the accepted rows
    batch: Option<RecordBatch>,
    /// per accepted row: xxh3 of its key, and its content hash
    keys: Vec<u64>,
    contents: Vec<u64>,
    rejections: Vec<Rejection>,
    read: u64,
    progress: u64,
    /// when the earliest accepted row happened, microseconds since the epoch
    earliest_micros: Option<i64>,
}

/// What reaches the assembler.
enum Unit {
    Parsed(Result<Parsed, IngestError>),
    /// every file was read completely, in this many units
    End(u64),
}

/// One atomic batch, ready to commit.
struct Commit {
    files: Vec<StagedFiles>,
    keys: BatchKeys,
    /// the batch's rows the writers kept (see [`RowKeeper`])
    kept: Vec<RecordBatch>,
}

/// What a writer hands back at the end of a batch.
type Flushed = Result<(StagedFiles, Vec<RecordBatch>), IngestError>;

/// The ids of one batch.
#[derive(Default)]
struct BatchKeys {
    /// xxh3 of every id, sorted (repeats included)
    sorted: Vec<u64>,
    /// a bit per slot of `64 - shift` leading hash bits, set for the slots of the batch's
    /// ids: the stored ids a commit checks are nearly all ruled out by one load, not a
    /// binary search (a day's batch against ten million stored ids)
    slots: Vec<u64>,
    shift: u32,
    /// for each id occurring more than once: the content hash of its last row
    last: HashMap<u64, u64>,
    /// later rows of a repeated id identical to the row they follow
    identical: u64,
    /// later rows of a repeated id that differ from the row they follow
    changed: u64,
}

/// Batches of at least this many ids are sorted on two threads (at a batch's end the
/// parsers are idle, and a single-threaded sort of ten million ids was a fifth of a second
/// during which nothing else ran).
const PARALLEL_SORT_FROM: usize = 1 << 18;

/// `keys`, sorted; from `parallel_from` keys on, the keys below and above the middle of
/// the range are sorted on two threads.
fn sorted_keys(keys: &[u64], parallel_from: usize) -> Vec<u64> {
    if keys.len() < parallel_from.max(2) {
        let mut sorted = keys.to_vec();
        radsort::sort(&mut sorted);
        return sorted;
    }
    let low = keys.iter().filter(|&&key| key >> 63 == 0).count();
    let mut sorted = vec![0; keys.len()];
    let (below, above) = sorted.split_at_mut(low);
    let (mut next_below, mut next_above) = (below.iter_mut(), above.iter_mut());
    for &key in keys {
        let slot = if key >> 63 == 0 {
            next_below.next()
        } else {
            next_above.next()
        };
        if let Some(slot) = slot {
            *slot = key;
        }
    }
    // Without a second thread (the system refusing one), the lower half is sorted here.
    let spawned = std::thread::scope(|scope| {
        let other = std::thread::Builder::new()
            .name("cxm-ingest-sort".into())
            .spawn_scoped(scope, || radsort::sort(&mut *below));
        radsort::sort(above);
        other.is_ok()
    });
    if !spawned {
        radsort::sort(below);
    }
    sorted
}

impl BatchKeys {
    fn new(keys: Vec<u64>, contents: &[u64]) -> Self {
        let sorted = sorted_keys(&keys, PARALLEL_SORT_FROM);
        let repeated: HashSet<u64> = sorted
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        // About 32 slots per id (a stored id not in the batch passes with odds of 1 in 32),
        // at most 2^27 bits (16 MiB).
        let bits = (sorted.len().max(1) * 32)
            .next_power_of_two()
            .clamp(64, 1 << 27);
        let shift = 64 - bits.trailing_zeros();
        let mut slots = vec![0u64; bits / 64];
        for &key in &sorted {
            let slot = (key >> shift) as usize;
            slots[slot / 64] |= 1 << (slot % 64);
        }
        let mut batch = BatchKeys {
            sorted,
            slots,
            shift,
            ..Default::default()
        };
        if repeated.is_empty() {
            return batch;
        }
        for (key, &content) in keys.iter().zip(contents) {
            if !repeated.contains(key) {
                continue;
            }
            match batch.last.entry(*key) {
                Entry::Vacant(entry) => {
                    entry.insert(content);
                }
                Entry::Occupied(entry) if *entry.get() == content => batch.identical += 1,
                Entry::Occupied(mut entry) => {
                    entry.insert(content);
                    batch.changed += 1;
                }
            }
        }
        batch
    }

    fn may_contain(&self, key: u64) -> bool {
        self.slot_is_set(key) && self.sorted.binary_search(&key).is_ok()
    }

    /// Whether some id of the batch shares `key`'s slot.
    fn slot_is_set(&self, key: u64) -> bool {
        let slot = (key >> self.shift) as usize;
        self.slots
            .get(slot / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }
}

/// Counts the assembler knows without the store.
#[derive(Default)]
struct AssembleStats {
    read: u64,
    accepted: u64,
    rejected: u64,
    quarantine: Option<String>,
    /// repeats within a batch: identical ones are unchanged, differing ones replace
    identical: u64,
    changed: u64,
    /// when the earliest accepted record happened, microseconds since the epoch
    earliest_micros: Option<i64>,
}

/// Ingests `prepared`'s files into `R`'s table. With `keep`, also returns the rows it
/// asks for when the ingest only appended rows (no id replaced, none repeated) and they
/// were not too many: with the table's version before, they are the table's rows from
/// that time on.
pub(crate) async fn run<R>(
    dir: &DataDir,
    request: &IngestRequest,
    prepared: Prepared,
    keep: Option<&KeepRows>,
) -> Result<(IngestSummary, Option<AddedRows>), IngestError>
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
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let paths: Vec<PathBuf> = prepared
        .sources
        .iter()
        .map(|s| s.path().to_owned())
        .collect();
    let references = prepared.references.map(Arc::new);

    let (work_sender, work_receiver) = sync_channel::<Work>(2 * cores);
    let (unit_sender, unit_receiver) = sync_channel::<Unit>(2 * cores);
    let (commit_sender, mut commit_receiver) = mpsc::channel::<Commit>(1);
    let mut threads = Threads::default();
    let work_receiver = Arc::new(Mutex::new(work_receiver));
    for _ in 0..cores {
        let work = work_receiver.clone();
        let units = unit_sender.clone();
        let references = references.clone();
        threads.parsers.push(spawn("cxm-ingest-parse", move || {
            parse_blocks::<R>(&work, &units, references.as_deref());
            Ok(())
        })?);
    }
    let mut writers = Vec::new();
    // The table's version before the first batch, and what keeps the rows asked for.
    let mut added = None;
    if let Some(facts) = &facts {
        let keeper = match keep {
            Some(keep) => {
                let version = facts.version_of(table).await?;
                added = Some((version, RowKeeper::new(table, keep)?));
                added.as_ref().map(|(_, keeper)| keeper.clone())
            }
            None => None,
        };
        for writer in facts.writers(table, cores).await? {
            writers.push(Writer::start(writer, keeper.clone(), &mut threads)?);
        }
    }
    let sources = prepared.sources;
    let reader_units = unit_sender;
    threads.reader = Some(spawn("cxm-ingest-read", move || {
        read_sources::<R>(sources, &work_sender, &reader_units, references.as_deref())
    })?);
    let batch_rows = request.batch_rows.max(1);
    let assembler = spawn("cxm-ingest-assemble", move || {
        assemble(
            unit_receiver,
            &paths,
            quarantine,
            writers,
            &commit_sender,
            batch_rows,
            &progress,
        )
    })?;

    let mut totals = BatchOutcome::default();
    // While every batch was appended onto the one before: the version reached and the
    // rows kept.
    let mut appended: Option<(u64, Vec<RecordBatch>)> =
        added.as_ref().map(|(version, _)| (*version, Vec::new()));
    let committed: Result<(), IngestError> = async {
        while let Some(mut commit) = commit_receiver.recv().await {
            let Some(facts) = &facts else { continue };
            let kept = std::mem::take(&mut commit.kept);
            let repeats = !commit.keys.last.is_empty();
            let outcome = commit_batch(facts, table, commit).await?;
            totals.inserted += outcome.inserted;
            totals.replaced += outcome.replaced;
            totals.unchanged += outcome.unchanged;
            appended = appended.take().and_then(|(version, mut rows)| {
                let only_new = !repeats && outcome.replaced == 0 && outcome.unchanged == 0;
                match outcome.version {
                    Some(next) if only_new && next == version + 1 => {
                        rows.extend(kept);
                        Some((next, rows))
                    }
                    None if outcome.inserted == 0 && !repeats => Some((version, rows)),
                    _ => None,
                }
            });
        }
        Ok(())
    }
    .await;
    // On a commit error the assembler, then the reader and the others, see their channels
    // close and stop.
    drop(commit_receiver);
    let assembled = assembler
        .join()
        .map_err(|_| IngestError::Worker("the assembler thread panicked".into()));
    let read = threads.join();
    committed?;
    // The reader's error is the cause when it failed first (e.g. an unreadable file).
    read?;
    let stats = assembled??;
    let (identical, changed) = if request.dry_run {
        // Without writing there is nothing to classify against: report validation only.
        (0, 0)
    } else {
        (stats.identical, stats.changed)
    };
    let added = match (added, appended) {
        (Some((base_version, keeper)), Some((version, batches))) if !keeper.overflowed() => {
            Some(AddedRows {
                table,
                base_version,
                version,
                from_micros: keeper.from_micros(),
                batches,
            })
        }
        _ => None,
    };
    let summary = IngestSummary {
        read: stats.read,
        accepted: stats.accepted,
        inserted: totals.inserted,
        replaced: totals.replaced + changed,
        unchanged: totals.unchanged + identical,
        rejected: stats.rejected,
        quarantine: stats.quarantine,
        earliest_micros: stats.earliest_micros,
        ..IngestSummary::of(request)
    };
    Ok((summary, added))
}

/// Commits one batch: repeated ids resolved to their last row, then appended or merged.
async fn commit_batch(
    facts: &FactStore,
    table: cxm_facts::FactTable,
    commit: Commit,
) -> Result<BatchOutcome, IngestError> {
    let mut staged = facts.stage(table).await?;
    for files in commit.files {
        staged.add(files);
    }
    staged.keep_last(&commit.keys.last).await?;
    let keys = commit.keys;
    Ok(staged.commit_knowing(|hash| keys.may_contain(hash)).await?)
}

fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<JoinHandle<Result<T, IngestError>>, IngestError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map_err(|e| IngestError::Worker(e.to_string()))
}

/// The threads besides the assembler, joined in an order that reports the first cause.
#[derive(Default)]
struct Threads {
    reader: Option<JoinHandle<Result<(), IngestError>>>,
    parsers: Vec<JoinHandle<Result<(), IngestError>>>,
    writers: Vec<JoinHandle<Result<(), IngestError>>>,
}

impl Threads {
    fn join(self) -> Result<(), IngestError> {
        let join = |handle: JoinHandle<Result<(), IngestError>>, what: &str| {
            handle
                .join()
                .map_err(|_| IngestError::Worker(format!("the {what} thread panicked")))?
        };
        let mut first = Ok(());
        if let Some(reader) = self.reader {
            first = join(reader, "reader");
        }
        for parser in self.parsers {
            let result = join(parser, "parser");
            first = first.and(result);
        }
        for writer in self.writers {
            let result = join(writer, "writer");
            first = first.and(result);
        }
        first
    }
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

/// The reader: cuts every CSV file into blocks for the parsers and parses other files
/// itself; units are numbered in file order. Ends with [`Unit::End`] only when every
/// file was read completely.
fn read_sources<R: FactRow + Refers>(
    sources: Vec<AnyRows>,
    work: &SyncSender<Work>,
    units: &SyncSender<Unit>,
    references: Option<&References>,
) -> Result<(), IngestError> {
    let stopped = || IngestError::Worker("the parsers stopped".into());
    let mut seq = 0;
    let mut done_bytes = 0;
    for (index, source) in sources.into_iter().enumerate() {
        let size = source.size();
        match source.into_blocks() {
            Ok(mut csv) => {
                while let Some(block) = csv.blocks.next_block()? {
                    let job = Work {
                        seq,
                        source: index,
                        layout: csv.layout.clone(),
                        block,
                        progress: done_bytes + csv.progress.load(Ordering::Relaxed),
                    };
                    work.send(job).map_err(|_| stopped())?;
                    seq += 1;
                }
            }
            Err(mut rows) => loop {
                let mut parsed = parse_rows::<R>(&mut rows, references)?;
                if parsed.read == 0 {
                    break;
                }
                parsed.seq = seq;
                parsed.source = index;
                parsed.progress = done_bytes + rows.bytes_read();
                units
                    .send(Unit::Parsed(Ok(parsed)))
                    .map_err(|_| stopped())?;
                seq += 1;
            },
        }
        done_bytes += size;
    }
    units.send(Unit::End(seq)).map_err(|_| stopped())
}

/// Accepted rows of one unit, as they are parsed.
struct UnitBuilder<R: FactRow> {
    builder: FactBatchBuilder<R>,
    parsed: Parsed,
}

impl<R: FactRow + Refers> UnitBuilder<R> {
    fn new(rows: usize) -> Self {
        Self {
            builder: FactBatchBuilder::with_capacity(rows),
            parsed: Parsed {
                keys: Vec::with_capacity(rows),
                contents: Vec::with_capacity(rows),
                ..Default::default()
            },
        }
    }

    /// Takes one row: rejected, or checked against the references and accepted.
    fn take(
        &mut self,
        row: Result<(u64, R), Rejection>,
        references: Option<&References>,
        row_as_read: impl FnOnce() -> serde_json::Value,
    ) {
        self.parsed.read += 1;
        let (line, record) = match row {
            Ok(parsed) => parsed,
            Err(rejection) => {
                self.parsed.rejections.push(rejection);
                return;
            }
        };
        if let Some(references) = references {
            let errors = references.check(&record);
            if !errors.is_empty() {
                let rejection = Rejection::new(line, errors, row_as_read());
                self.parsed.rejections.push(rejection);
                return;
            }
        }
        let content = record.content_hash();
        self.parsed.keys.push(record.key_hash());
        self.parsed.contents.push(content);
        self.builder.push(&record, content);
    }

    /// Takes one row straight from its canonical field values when they are in their
    /// common form (see [`FactRow::append_common`]); `false` when they are not and
    /// nothing was taken.
    #[inline]
    fn take_common(&mut self, values: &[Option<&str>], ctx: &ParseContext) -> bool {
        let Some((key, content)) = self.builder.push_common(values, ctx) else {
            return false;
        };
        self.parsed.read += 1;
        self.parsed.keys.push(key);
        self.parsed.contents.push(content);
        true
    }

    fn finish(mut self) -> Result<Parsed, IngestError> {
        if !self.builder.is_empty() {
            let batch = self.builder.finish()?;
            self.parsed.earliest_micros = earliest_micros(&batch, R::TABLE.time_column());
            self.parsed.batch = Some(batch);
        }
        Ok(self.parsed)
    }
}

/// Up to [`RECORDS_PER_UNIT`] rows of a file read row by row.
fn parse_rows<R: FactRow + Refers>(
    rows: &mut AnyRows,
    references: Option<&References>,
) -> Result<Parsed, IngestError> {
    let mut unit = UnitBuilder::<R>::new(RECORDS_PER_UNIT);
    while unit.parsed.read < RECORDS_PER_UNIT as u64 {
        let Some(row) = rows.next_record::<R>()? else {
            break;
        };
        unit.take(row, references, || rows.last_row());
    }
    unit.finish()
}

/// A parser: parses blocks until the reader is done or the assembler stops.
fn parse_blocks<R: FactRow + Refers>(
    work: &Mutex<Receiver<Work>>,
    units: &SyncSender<Unit>,
    references: Option<&References>,
) {
    loop {
        let job = match work.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let (seq, source, progress) = (job.seq, job.source, job.progress);
        let rows_hint = job.block.bytes.len() / 64;
        let mut rows = job.layout.rows(job.block);
        let mut unit = UnitBuilder::<R>::new(rows_hint);
        // Rows in their common form go straight into the columns, without a record; other
        // valid rows become records from the same values, and only rejected ones are read
        // again, for their reasons. Referential checks need the record, so with them every
        // row takes the full path.
        let common = R::APPENDS_COMMON && references.is_none();
        while rows.advance() {
            if common {
                let mut values = [None; MAX_DIRECT_FIELDS];
                if let Some(count) = rows.canonical_fields(&mut values) {
                    let values = &values[..count];
                    if unit.take_common(values, rows.parse_context()) {
                        continue;
                    }
                    if let Some(row) = rows.parse_canonical::<R>(values) {
                        unit.take(Ok(row), None, serde_json::Value::default);
                        continue;
                    }
                }
            }
            let row = rows.parse_current::<R>();
            unit.take(row, references, || rows.last_row());
        }
        let parsed = unit.finish().map(|mut parsed| {
            parsed.seq = seq;
            parsed.source = source;
            parsed.progress = progress;
            parsed
        });
        if units.send(Unit::Parsed(parsed)).is_err() {
            return;
        }
    }
}

/// A writer thread: encodes record batches into staged files of the current batch.
struct Writer {
    jobs: SyncSender<WriterJob>,
}

enum WriterJob {
    Write(RecordBatch),
    /// finish the files of the current batch
    Flush(SyncSender<Flushed>),
}

impl Writer {
    /// A writer thread; with `keeper`, it also keeps the rows the keeper picks of each
    /// batch it writes.
    fn start(
        mut writer: StagedWriter,
        keeper: Option<Arc<RowKeeper>>,
        threads: &mut Threads,
    ) -> Result<Self, IngestError> {
        let runtime = tokio::runtime::Handle::current();
        let (jobs, receiver) = sync_channel::<WriterJob>(2);
        threads.writers.push(spawn("cxm-ingest-write", move || {
            let mut failed: Option<IngestError> = None;
            let mut kept = Vec::new();
            for job in receiver {
                match job {
                    WriterJob::Write(batch) => {
                        if failed.is_some() {
                            continue;
                        }
                        let keep = keeper.as_ref().map(|keeper| keeper.keep(&batch));
                        match keep.transpose() {
                            Ok(rows) => kept.extend(rows.flatten()),
                            Err(error) => failed = Some(error.into()),
                        }
                        if let Err(error) = runtime.block_on(writer.write(batch)) {
                            failed = Some(error.into());
                        }
                    }
                    WriterJob::Flush(reply) => {
                        let files = match failed.take() {
                            Some(error) => Err(error),
                            None => runtime
                                .block_on(writer.flush())
                                .map(|files| (files, std::mem::take(&mut kept)))
                                .map_err(Into::into),
                        };
                        kept.clear();
                        let _ = reply.send(files);
                    }
                }
            }
            Ok(())
        })?);
        Ok(Self { jobs })
    }
}

/// The assembler's state within the current batch.
struct Batch {
    rows: u64,
    keys: Vec<u64>,
    contents: Vec<u64>,
    next_writer: usize,
}

/// The assembler: puts parsed units in order, quarantines rejected rows, cuts atomic
/// batches and feeds the writers; hands each finished batch to the async side.
/// The earliest time in a batch's time column (microseconds since the epoch).
pub(crate) fn earliest_micros(records: &RecordBatch, column: &str) -> Option<i64> {
    let times = records.column_by_name(column)?;
    let times = times
        .as_any()
        .downcast_ref::<cxm_facts::arrow::array::TimestampMicrosecondArray>()?;
    cxm_facts::arrow::compute::min(times)
}

fn assemble(
    units: Receiver<Unit>,
    paths: &[PathBuf],
    mut quarantine: Quarantine,
    writers: Vec<Writer>,
    commits: &mpsc::Sender<Commit>,
    batch_rows: u64,
    progress: &ProgressBar,
) -> Result<AssembleStats, IngestError> {
    let mut stats = AssembleStats::default();
    let mut waiting: BTreeMap<u64, Parsed> = BTreeMap::new();
    let mut next = 0;
    let mut total = None;
    let reserve = batch_rows.min(1 << 24) as usize;
    let mut batch = Batch {
        rows: 0,
        keys: Vec::with_capacity(reserve),
        contents: Vec::with_capacity(reserve),
        next_writer: 0,
    };
    let writer_stopped = || IngestError::Worker("a writer stopped".into());
    let end_batch = |batch: &mut Batch, stats: &mut AssembleStats| -> Result<(), IngestError> {
        // The writers finish their files while the batch's ids are sorted.
        let mut answers = Vec::with_capacity(writers.len());
        for writer in &writers {
            let (reply, answer) = sync_channel(1);
            writer
                .jobs
                .send(WriterJob::Flush(reply))
                .map_err(|_| writer_stopped())?;
            answers.push(answer);
        }
        let keys = BatchKeys::new(
            std::mem::replace(&mut batch.keys, Vec::with_capacity(reserve)),
            &std::mem::replace(&mut batch.contents, Vec::with_capacity(reserve)),
        );
        stats.identical += keys.identical;
        stats.changed += keys.changed;
        batch.rows = 0;
        let mut files = Vec::with_capacity(writers.len());
        let mut kept = Vec::new();
        for answer in answers {
            let (written, rows) = answer.recv().map_err(|_| writer_stopped())??;
            files.push(written);
            kept.extend(rows);
        }
        if writers.is_empty() {
            return Ok(());
        }
        commits
            .blocking_send(Commit { files, keys, kept })
            .map_err(|_| IngestError::Worker("the committer stopped".into()))
    };
    while total.is_none_or(|total| next < total) {
        let Ok(unit) = units.recv() else {
            return Err(IngestError::Worker("the reader stopped".into()));
        };
        match unit {
            Unit::End(units) => total = Some(units),
            Unit::Parsed(parsed) => {
                let parsed = parsed?;
                waiting.insert(parsed.seq, parsed);
            }
        }
        while let Some(parsed) = waiting.remove(&next) {
            next += 1;
            stats.read += parsed.read;
            for rejection in &parsed.rejections {
                quarantine.reject(&paths[parsed.source], rejection)?;
            }
            progress.set_position(parsed.progress);
            let rows = parsed.keys.len();
            stats.accepted += rows as u64;
            stats.earliest_micros = match (stats.earliest_micros, parsed.earliest_micros) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut offset = 0;
            while offset < rows {
                let take = (rows - offset).min((batch_rows - batch.rows) as usize);
                if let (Some(records), false) = (&parsed.batch, writers.is_empty()) {
                    let writer = &writers[batch.next_writer % writers.len()];
                    batch.next_writer += 1;
                    writer
                        .jobs
                        .send(WriterJob::Write(records.slice(offset, take)))
                        .map_err(|_| writer_stopped())?;
                }
                batch
                    .keys
                    .extend_from_slice(&parsed.keys[offset..offset + take]);
                batch
                    .contents
                    .extend_from_slice(&parsed.contents[offset..offset + take]);
                batch.rows += take as u64;
                offset += take;
                if batch.rows >= batch_rows {
                    end_batch(&mut batch, &mut stats)?;
                }
            }
        }
    }
    // Only now may the last batch be committed: a read error above ends without it.
    if batch.rows > 0 {
        end_batch(&mut batch, &mut stats)?;
    }
    progress.finish_and_clear();
    stats.rejected = quarantine.rejected;
    stats.quarantine = quarantine.finish()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_on_two_threads_are_sorted() {
        let mut state = 11u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for size in [0, 1, 2, 3, 1_000, 70_000] {
            // repeats, the extremes and both halves of the range
            let mut keys: Vec<u64> = (0..size).map(|_| next()).collect();
            keys.extend([0, u64::MAX, 1 << 63, (1 << 63) - 1, 5, 5]);
            let mut expected = keys.clone();
            expected.sort_unstable();
            assert_eq!(sorted_keys(&keys, 1), expected);
            assert_eq!(sorted_keys(&keys, usize::MAX), expected);
            let low_only: Vec<u64> = keys.iter().map(|key| key >> 1).collect();
            let mut expected = low_only.clone();
            expected.sort_unstable();
            assert_eq!(sorted_keys(&low_only, 1), expected);
        }
    }

    #[test]
    fn batch_keys_count_repeats_and_keep_the_last_content() {
        // key 1: contents 10, 20, 30, 30 (two changes, one identical repeat); key 2: 5, 6;
        // key 3 once.
        let keys = vec![1, 2, 1, 3, 1, 2, 1];
        let contents = [10, 5, 20, 7, 30, 6, 30];
        let batch = BatchKeys::new(keys, &contents);
        assert_eq!(batch.sorted, [1, 1, 1, 1, 2, 2, 3]);
        assert_eq!((batch.changed, batch.identical), (3, 1));
        assert_eq!(batch.last, HashMap::from([(1, 30), (2, 6)]));
        assert!(batch.may_contain(3) && !batch.may_contain(4));

        let distinct = BatchKeys::new(vec![9, 4, 7], &[1, 2, 3]);
        assert!(distinct.last.is_empty());
        assert_eq!((distinct.changed, distinct.identical), (0, 0));
    }

    #[test]
    fn batch_keys_answer_exactly_whatever_their_leading_bits() {
        // splitmix64: well-spread 64-bit keys, like the xxh3 of ids
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for size in [1, 3, 1_000, 50_000] {
            let keys: Vec<u64> = (0..size).map(|_| next()).collect();
            let batch = BatchKeys::new(keys.clone(), &vec![0; size]);
            let set: HashSet<u64> = keys.iter().copied().collect();
            assert!(keys.iter().all(|&key| batch.may_contain(key)));
            let mut passed_the_slots = 0;
            for _ in 0..200_000 {
                let other = next();
                assert_eq!(batch.may_contain(other), set.contains(&other));
                passed_the_slots += usize::from(batch.slot_is_set(other));
            }
            // about one in 32 of the ids outside the batch needs the binary search
            assert!(
                passed_the_slots < 200_000 / 16,
                "{size}: {passed_the_slots}"
            );
        }
        // edge keys land in the first and last slots
        let edges = BatchKeys::new(vec![0, u64::MAX], &[0, 0]);
        assert!(edges.may_contain(0) && edges.may_contain(u64::MAX) && !edges.may_contain(1 << 40));
    }
}
