//! The fact store: opening and creating the Delta tables, staging and committing batches,
//! compaction, and registration in a DataFusion session.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext, col, lit};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, StructType};
use deltalake::parquet::arrow::ArrowSchemaConverter;
use deltalake::parquet::basic::{Compression, Type as PhysicalType, ZstdLevel};
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder};
use url::Url;

use crate::schema::ROW_HASH;
use crate::{FactError, FactTable};

/// Target size of one Parquet data file.
const TARGET_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The fact tables of one data directory.
#[derive(Debug, Clone)]
pub struct FactStore {
    root: PathBuf,
}

/// How a committed batch changed its table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchOutcome {
    /// records whose id was new
    pub inserted: u64,
    /// records whose id existed with different content
    pub replaced: u64,
    /// records whose id existed with the same content
    pub unchanged: u64,
    /// the table version the batch created; `None` when nothing had to change
    pub version: Option<u64>,
}

/// What `compact` did to one table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactReport {
    pub table: String,
    pub files_removed: u64,
    pub files_added: u64,
    pub files_vacuumed: usize,
}

/// Parquet settings of a table's files: zstd (level 1), large row groups, and no
/// dictionary for columns with nearly a distinct value per row, where a dictionary only
/// costs time before the writer falls back to plain encoding. Snappy was measured as no
/// faster to ingest with files a third larger (docs/benchmarks.md).
///
/// Statistics (what Delta's data skipping and the Parquet reader prune with) are kept
/// where a query can skip data with them: the time column, per page too (a column index,
/// so a query for recent records reads only the pages that hold them even where a row
/// group spans months: alert rules after each ingest), the record id (exports number
/// records in time order) and the number columns (cheap). Other text columns (customers,
/// agents, channels, topics, comments) hold nearly every value in every file, so their
/// minimum and maximum prune nothing, and comparing every value to find them was 2% of
/// an ingest's profile; without them the ingest took about a tenth less CPU
/// (docs/benchmarks.md).
fn writer_properties(table: FactTable) -> WriterProperties {
    let unprunable_text = ArrowSchemaConverter::new()
        .convert(&table.schema())
        .map(|parquet| {
            parquet
                .columns()
                .iter()
                .filter(|column| column.physical_type() == PhysicalType::BYTE_ARRAY)
                .map(|column| column.path().clone())
                .filter(|path| path.string() != table.key_column())
                .collect::<Vec<ColumnPath>>()
        })
        .unwrap_or_default();
    let builder = table
        .high_cardinality_columns()
        .into_iter()
        .fold(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
                .set_max_row_group_row_count(Some(1 << 20))
                .set_statistics_enabled(EnabledStatistics::Chunk),
            |builder, column| builder.set_column_dictionary_enabled(column.into(), false),
        )
        // Content hashes are random bits: compressing them costs time and saves nothing.
        .set_column_compression(ROW_HASH.into(), Compression::UNCOMPRESSED)
        .set_column_statistics_enabled(table.time_column().into(), EnabledStatistics::Page);
    unprunable_text
        .into_iter()
        .fold(builder, |builder, path| {
            builder.set_column_statistics_enabled(path, EnabledStatistics::None)
        })
        .build()
}

impl FactStore {
    /// The fact tables under `tables_dir` (`DIR/tables`), creating missing ones.
    pub async fn open(tables_dir: &Path) -> Result<Self, FactError> {
        std::fs::create_dir_all(tables_dir).map_err(|source| FactError::Io {
            path: tables_dir.display().to_string(),
            source,
        })?;
        let root = tables_dir.canonicalize().map_err(|source| FactError::Io {
            path: tables_dir.display().to_string(),
            source,
        })?;
        let store = Self { root };
        for table in FactTable::ALL {
            store.create_if_missing(table).await?;
        }
        Ok(store)
    }

    fn table_dir(&self, table: FactTable) -> PathBuf {
        self.root.join(table.name())
    }

    fn table_url(&self, table: FactTable) -> Result<Url, FactError> {
        let dir = self.table_dir(table);
        Url::from_directory_path(&dir)
            .map_err(|()| FactError::Invalid(format!("{} is not an absolute path", dir.display())))
    }

    async fn create_if_missing(&self, table: FactTable) -> Result<(), FactError> {
        let dir = self.table_dir(table);
        if dir.join("_delta_log").is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&dir).map_err(|source| FactError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let schema: StructType = table
            .schema()
            .as_ref()
            .try_into_kernel()
            .map_err(|e| FactError::Invalid(e.to_string()))?;
        let url = self.table_url(table)?;
        let delta = DeltaTableBuilder::from_url(url)
            .map_err(FactError::delta(table.name()))?
            .build()
            .map_err(FactError::delta(table.name()))?;
        delta
            .create()
            .with_table_name(table.name())
            .with_columns(schema.fields().cloned())
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(FactError::delta(table.name()))?;
        Ok(())
    }

    /// The current version of a table.
    pub async fn table(&self, table: FactTable) -> Result<DeltaTable, FactError> {
        deltalake::open_table(self.table_url(table)?)
            .await
            .map_err(FactError::delta(table.name()))
    }

    /// Registers every fact table in `ctx` under its name.
    pub async fn register(&self, ctx: &SessionContext) -> Result<(), FactError> {
        self.register_only(ctx, &FactTable::ALL).await
    }

    /// The version a table is at.
    pub async fn version_of(&self, table: FactTable) -> Result<u64, FactError> {
        Ok(self.table(table).await?.version().unwrap_or_default())
    }

    /// Registers `table` as it was at `version` in `ctx` under `name`.
    pub async fn register_as_of(
        &self,
        ctx: &SessionContext,
        table: FactTable,
        version: u64,
        name: &str,
    ) -> Result<(), FactError> {
        let delta = deltalake::open_table_with_version(self.table_url(table)?, version as _)
            .await
            .map_err(FactError::delta(table.name()))?;
        delta
            .update_datafusion_session(&ctx.state())
            .map_err(FactError::delta(table.name()))?;
        let provider = delta.table_provider().await.map_err(FactError::from)?;
        ctx.register_table(name, provider)?;
        Ok(())
    }

    /// Registers `tables` in `ctx` under their names.
    pub async fn register_only(
        &self,
        ctx: &SessionContext,
        tables: &[FactTable],
    ) -> Result<(), FactError> {
        for &table in tables {
            let delta = self.table(table).await?;
            delta
                .update_datafusion_session(&ctx.state())
                .map_err(FactError::delta(table.name()))?;
            let provider = delta.table_provider().await.map_err(FactError::from)?;
            ctx.register_table(table.name(), provider)?;
        }
        Ok(())
    }

    /// Starts a batch for `table`: its rows are staged as files nobody reads until commit.
    pub async fn stage(&self, table: FactTable) -> Result<StagedBatch, FactError> {
        let delta = self.table(table).await?;
        Ok(StagedBatch {
            store: self.clone(),
            table,
            delta,
            files: StagedFiles::default(),
        })
    }

    /// The content hash stored for each of `ids` that the table holds (ids it does not
    /// hold are absent). Streams the key and hash columns once; memory grows with `ids`,
    /// not with the table.
    pub async fn stored_hashes(
        &self,
        table: FactTable,
        ids: &[String],
    ) -> Result<HashMap<String, u64>, FactError> {
        use futures::StreamExt;
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let delta = self.table(table).await?;
        if file_count(&delta, table)? == 0 {
            return Ok(found);
        }
        let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let ctx = SessionContext::new();
        let provider = delta.table_provider().await.map_err(FactError::from)?;
        delta
            .update_datafusion_session(&ctx.state())
            .map_err(FactError::delta(table.name()))?;
        let key = table.key_column();
        let mut rows = ctx
            .read_table(provider)?
            .filter(col(key).in_list(ids.iter().map(|id| lit(id.as_str())).collect(), false))?
            .select(vec![col(key), col(ROW_HASH)])?
            .execute_stream()
            .await?;
        while let Some(batch) = rows.next().await {
            let batch = batch?;
            let keys = deltalake::arrow::compute::cast(
                batch.column(0),
                &deltalake::arrow::datatypes::DataType::Utf8,
            )?;
            let keys = keys.as_string::<i32>();
            let hashes = batch
                .column(1)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| FactError::Invalid(format!("{ROW_HASH} is not an integer")))?;
            for row in 0..batch.num_rows() {
                if keys.is_valid(row) && wanted.contains(keys.value(row)) {
                    found.insert(keys.value(row).to_owned(), hashes.value(row) as u64);
                }
            }
        }
        Ok(found)
    }

    /// `count` writers of staged files for `table` (say one per core); the files they
    /// stage join a batch with [`StagedBatch::add`].
    pub async fn writers(
        &self,
        table: FactTable,
        count: usize,
    ) -> Result<Vec<StagedWriter>, FactError> {
        let delta = self.table(table).await?;
        (0..count)
            .map(|_| StagedWriter::for_table(table, &delta))
            .collect()
    }

    /// Rewrites small files into large ones and deletes files no version references any
    /// more (including files staged by interrupted ingests), keeping `retention_hours` of
    /// history for readers of older versions.
    pub async fn compact(&self, retention_hours: u64) -> Result<Vec<CompactReport>, FactError> {
        let mut reports = Vec::new();
        for table in FactTable::ALL {
            let delta = self.table(table).await?;
            let (delta, metrics) = delta
                .optimize()
                .with_target_size(
                    std::num::NonZeroU64::new(TARGET_FILE_BYTES)
                        .unwrap_or(std::num::NonZeroU64::MIN),
                )
                .with_writer_properties(writer_properties(table))
                .await
                .map_err(FactError::delta(table.name()))?;
            let retention =
                chrono::TimeDelta::try_hours(retention_hours.min(24 * 365 * 100) as i64)
                    .unwrap_or(chrono::TimeDelta::MAX);
            let (_, vacuum) = delta
                .vacuum()
                // Full mode also deletes files no version ever referenced: those staged by
                // interrupted ingests.
                .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
                .with_retention_period(retention)
                .with_enforce_retention_duration(false)
                .await
                .map_err(FactError::delta(table.name()))?;
            reports.push(CompactReport {
                table: table.name().to_owned(),
                files_removed: metrics.num_files_removed,
                files_added: metrics.num_files_added,
                files_vacuumed: vacuum.files_deleted.len(),
            });
        }
        Ok(reports)
    }
}

/// Writes rows into staged Parquet files that no table version references yet.
pub struct StagedWriter {
    table: FactTable,
    writer: RecordBatchWriter,
    rows: u64,
}

/// Files staged for one batch, with their row count.
#[derive(Debug, Default)]
pub struct StagedFiles {
    adds: Vec<Add>,
    rows: u64,
}

impl StagedWriter {
    fn for_table(table: FactTable, delta: &DeltaTable) -> Result<Self, FactError> {
        let writer = RecordBatchWriter::for_table(delta)
            .map_err(FactError::delta(table.name()))?
            .with_target_file_size(TARGET_FILE_BYTES)
            .with_writer_properties(writer_properties(table));
        Ok(Self {
            table,
            writer,
            rows: 0,
        })
    }

    /// Streams rows into the current files.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), FactError> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .await
            .map_err(FactError::delta(self.table.name()))
    }

    /// Finishes the files written since the last flush; the writer goes on with new files.
    pub async fn flush(&mut self) -> Result<StagedFiles, FactError> {
        let adds = self
            .writer
            .flush()
            .await
            .map_err(FactError::delta(self.table.name()))?;
        Ok(StagedFiles {
            adds,
            rows: std::mem::take(&mut self.rows),
        })
    }
}

/// A batch being written: rows stream into staged Parquet files; nothing is visible until
/// [`StagedBatch::commit`], and dropping the batch leaves only unreferenced files.
pub struct StagedBatch {
    store: FactStore,
    table: FactTable,
    delta: DeltaTable,
    files: StagedFiles,
}

impl StagedBatch {
    /// Adds files staged by a [`StagedWriter`] of this table to the batch. Ids must not
    /// repeat within the batch unless [`StagedBatch::keep_last`] resolves the repeats
    /// before the commit.
    pub fn add(&mut self, files: StagedFiles) {
        self.files.adds.extend(files.adds);
        self.files.rows += files.rows;
    }

    /// Resolves ids that occur more than once in the batch. `last` maps the xxh3-64 hash
    /// of each such id to the content hash of its last row; of that id's rows exactly one
    /// with that content stays. Staged files holding a row to drop are rewritten (reading
    /// one record batch at a time); the others are left as they are.
    pub async fn keep_last(&mut self, last: &HashMap<u64, u64>) -> Result<(), FactError> {
        if last.is_empty() {
            return Ok(());
        }
        let schema = self.table.schema();
        let key_index = schema.index_of(self.table.key_column())?;
        let hash_index = schema.index_of(ROW_HASH)?;
        // per repeated id hash: the id seen with it, and whether its row is kept yet
        let mut seen: HashMap<u64, (String, bool)> = HashMap::new();
        let mut rewriter: Option<StagedWriter> = None;
        let mut files = StagedFiles::default();
        let mut rewritten = Vec::new();
        for add in std::mem::take(&mut self.files.adds) {
            let path = self.staged_path(&add)?;
            if let KeyScan::None { rows } =
                scan_keys(&path, key_index, |hash| last.contains_key(&hash))?
            {
                files.rows += rows;
                files.adds.push(add);
                continue;
            }
            if rewriter.is_none() {
                rewriter = Some(StagedWriter::for_table(self.table, &self.delta)?);
            }
            for batch in read_parquet(&path, None)? {
                let batch = batch?;
                let keys = string_column(&batch, key_index, &path)?;
                let hashes = batch
                    .column(hash_index)
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| not_our_layout(&path, ROW_HASH))?;
                let mut keep = Vec::with_capacity(batch.num_rows());
                for row in 0..batch.num_rows() {
                    let id = keys.value(row);
                    let key = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
                    let Some(&content) = last.get(&key) else {
                        keep.push(true);
                        continue;
                    };
                    let (first, kept) = seen.entry(key).or_insert_with(|| (id.to_owned(), false));
                    // Two different ids with one hash would be taken for one id.
                    if first != id {
                        return Err(FactError::Invalid(format!(
                            "the ids {first:?} and {id:?} have the same 64-bit hash; \
                             ingest them in separate batches (see --batch-rows)"
                        )));
                    }
                    let keep_this = !*kept && hashes.value(row) as u64 == content;
                    *kept |= keep_this;
                    keep.push(keep_this);
                }
                let keep = BooleanArray::from(keep);
                let batch = deltalake::arrow::compute::filter_record_batch(&batch, &keep)?;
                if let Some(writer) = rewriter.as_mut() {
                    writer.write(batch).await?;
                }
            }
            rewritten.push(path);
        }
        if let Some(mut writer) = rewriter {
            let written = writer.flush().await?;
            files.rows += written.rows;
            files.adds.extend(written.adds);
        }
        remove_files(&rewritten);
        self.files = files;
        Ok(())
    }

    /// Makes the batch visible in one atomic commit and reports how it changed the table.
    pub async fn commit(self) -> Result<BatchOutcome, FactError> {
        self.commit_knowing(|_| true).await
    }

    /// Commits, given a test that is false for every id whose xxh3-64 hash does not occur
    /// in the batch. When the table holds no id the test accepts, the batch is appended
    /// after one streaming scan of the table's key column, in memory that does not grow
    /// with the table; otherwise it is classified and merged by id. The batch's ids must
    /// be distinct (see [`StagedBatch::keep_last`]).
    pub async fn commit_knowing(
        mut self,
        may_contain: impl Fn(u64) -> bool,
    ) -> Result<BatchOutcome, FactError> {
        let adds = std::mem::take(&mut self.files.adds);
        let staged_paths = adds
            .iter()
            .map(|add| self.staged_path(add))
            .collect::<Result<Vec<_>, _>>()?;
        sync_files(&staged_paths)?;
        sync_files(&[self.store.table_dir(self.table).display().to_string()])?;
        if file_count(&self.delta, self.table)? == 0 || !self.table_has_any(&may_contain).await? {
            let inserted = self.files.rows;
            let version = self.append(adds).await?;
            return Ok(BatchOutcome {
                inserted,
                version,
                ..Default::default()
            });
        }
        let ctx = SessionContext::new();
        let source = self.source_frame(&ctx, &staged_paths).await?;
        let mut outcome = self.classify(&ctx, source.clone()).await?;
        if outcome.replaced == 0 && outcome.unchanged == 0 {
            outcome.version = self.append(adds).await?;
            return Ok(outcome);
        }
        if outcome.inserted + outcome.replaced > 0 {
            outcome.version = Some(self.merge(source).await?);
        }
        remove_files(&staged_paths);
        Ok(outcome)
    }

    fn staged_path(&self, add: &Add) -> Result<String, FactError> {
        let url = self.store.table_url(self.table)?;
        url.join(&add.path)
            .ok()
            .and_then(|file| file.to_file_path().ok())
            .map(|file| file.display().to_string())
            .ok_or_else(|| {
                FactError::Invalid(format!("staged file {} is not under {url}", add.path))
            })
    }

    /// The staged rows as a data frame.
    async fn source_frame(
        &self,
        ctx: &SessionContext,
        staged_paths: &[String],
    ) -> Result<DataFrame, FactError> {
        let schema = self.table.schema();
        Ok(if staged_paths.is_empty() {
            ctx.read_table(Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?))?
        } else {
            ctx.read_parquet(
                staged_paths.to_vec(),
                ParquetReadOptions::default().schema(&schema),
            )
            .await?
        })
    }

    /// Whether the table holds an id the test accepts (streams the key column only).
    async fn table_has_any(&self, may_contain: &impl Fn(u64) -> bool) -> Result<bool, FactError> {
        use futures::StreamExt;
        let ctx = SessionContext::new();
        let provider = self.delta.table_provider().await.map_err(FactError::from)?;
        self.delta
            .update_datafusion_session(&ctx.state())
            .map_err(FactError::delta(self.table.name()))?;
        let mut keys = ctx
            .read_table(provider)?
            .select(vec![col(self.table.key_column())])?
            .execute_stream()
            .await?;
        while let Some(batch) = keys.next().await {
            let batch = batch?;
            let column = batch.column(0);
            let ids = deltalake::arrow::compute::cast(
                column,
                &deltalake::arrow::datatypes::DataType::Utf8,
            )?;
            if ids
                .as_string::<i32>()
                .iter()
                .flatten()
                .any(|id| may_contain(xxhash_rust::xxh3::xxh3_64(id.as_bytes())))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts source rows that are new, changed or identical against the current table.
    async fn classify(
        &self,
        ctx: &SessionContext,
        source: DataFrame,
    ) -> Result<BatchOutcome, FactError> {
        let key = self.table.key_column();
        let provider = self.delta.table_provider().await.map_err(FactError::from)?;
        self.delta
            .update_datafusion_session(&ctx.state())
            .map_err(FactError::delta(self.table.name()))?;
        let target = ctx.read_table(provider)?.select(vec![
            col(key).alias("target_id"),
            col(ROW_HASH).alias("target_hash"),
        ])?;
        let joined = source.select(vec![col(key), col(ROW_HASH)])?.join(
            target,
            deltalake::datafusion::common::JoinType::Left,
            &[key],
            &["target_id"],
            None,
        )?;
        use deltalake::arrow::datatypes::DataType;
        use deltalake::datafusion::functions_aggregate::expr_fn::sum;
        use deltalake::datafusion::prelude::{case, cast};
        let flag = |condition| {
            cast(
                case(condition)
                    .when(lit(true), lit(1i64))
                    .otherwise(lit(0i64))
                    .unwrap_or_else(|_| lit(0i64)),
                DataType::Int64,
            )
        };
        let counts = joined
            .aggregate(
                vec![],
                vec![
                    sum(flag(col("target_id").is_null())).alias("inserted"),
                    sum(flag(
                        col("target_id")
                            .is_not_null()
                            .and(col("target_hash").not_eq(col(ROW_HASH))),
                    ))
                    .alias("replaced"),
                    sum(flag(col("target_hash").eq(col(ROW_HASH)))).alias("unchanged"),
                ],
            )?
            .collect()
            .await?;
        let value = |name: &str| -> u64 {
            counts
                .first()
                .and_then(|batch| batch.column_by_name(name))
                .filter(|column| column.len() == 1 && !column.is_null(0))
                .map(|column| column.as_primitive::<Int64Type>().value(0) as u64)
                .unwrap_or(0)
        };
        Ok(BatchOutcome {
            inserted: value("inserted"),
            replaced: value("replaced"),
            unchanged: value("unchanged"),
            version: None,
        })
    }

    async fn append(&mut self, adds: Vec<Add>) -> Result<Option<u64>, FactError> {
        if adds.is_empty() {
            return Ok(None);
        }
        let name = self.table.name();
        let snapshot = self.delta.snapshot().map_err(FactError::delta(name))?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let finalized = CommitBuilder::default()
            .with_actions(adds.into_iter().map(Action::Add).collect())
            .build(Some(snapshot), self.delta.log_store(), operation)
            .await
            .map_err(FactError::delta(name))?;
        let version = finalized.version();
        self.store.sync_log(self.table, version)?;
        Ok(Some(version))
    }

    async fn merge(&self, source: DataFrame) -> Result<u64, FactError> {
        let name = self.table.name();
        let key = self.table.key_column();
        let columns: Vec<String> = self
            .table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let set_all = |builder_columns: &[String]| -> HashMap<String, String> {
            builder_columns
                .iter()
                .map(|c| (c.clone(), format!("source.{c}")))
                .collect()
        };
        let assignments = set_all(&columns);
        let (table, _metrics) = self
            .delta
            .clone()
            .merge(source, format!("target.{key} = source.{key}"))
            .with_source_alias("source")
            .with_target_alias("target")
            .with_writer_properties(writer_properties(self.table))
            .when_matched_update(|update| {
                assignments.iter().fold(
                    update.predicate(format!("target.{ROW_HASH} <> source.{ROW_HASH}")),
                    |u, (c, e)| u.update(c.as_str(), e.as_str()),
                )
            })
            .map_err(FactError::delta(name))?
            .when_not_matched_insert(|insert| {
                assignments
                    .iter()
                    .fold(insert, |i, (c, e)| i.set(c.as_str(), e.as_str()))
            })
            .map_err(FactError::delta(name))?
            .await
            .map_err(FactError::delta(name))?;
        let version = table.version().unwrap_or_default();
        self.store.sync_log(self.table, version)?;
        Ok(version)
    }
}

impl FactStore {
    /// Flushes a commit file and the log directory so an acknowledged batch survives a
    /// power loss (the local object store writes without fsync).
    fn sync_log(&self, table: FactTable, version: u64) -> Result<(), FactError> {
        let log = self.table_dir(table).join("_delta_log");
        sync_files(&[
            log.join(format!("{version:020}.json"))
                .display()
                .to_string(),
            log.display().to_string(),
        ])
    }
}

/// Data files must be on disk before a commit references them.
/// The data files of a table's loaded version.
fn file_count(delta: &DeltaTable, table: FactTable) -> Result<usize, FactError> {
    Ok(delta
        .snapshot()
        .map_err(FactError::delta(table.name()))?
        .log_data()
        .num_files())
}

fn sync_files(paths: &[String]) -> Result<(), FactError> {
    for path in paths {
        std::fs::File::open(path)
            .and_then(|file| file.sync_all())
            .map_err(|source| FactError::Io {
                path: path.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Reads a staged Parquet file batch by batch, all columns or only the one at `column`.
fn read_parquet(
    path: &str,
    column: Option<usize>,
) -> Result<deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReader, FactError> {
    use deltalake::parquet::arrow::ProjectionMask;
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|source| FactError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024);
    if let Some(column) = column {
        let mask = ProjectionMask::roots(builder.parquet_schema(), [column]);
        builder = builder.with_projection(mask);
    }
    Ok(builder.build()?)
}

/// What a staged file holds of the ids a test looks for.
enum KeyScan {
    /// at least one of them
    Some,
    /// none, in this many rows
    None { rows: u64 },
}

/// Reads a staged file's key column and tells whether an id's hash passes `test`.
fn scan_keys(
    path: &str,
    key_index: usize,
    test: impl Fn(u64) -> bool,
) -> Result<KeyScan, FactError> {
    let mut rows = 0;
    for batch in read_parquet(path, Some(key_index))? {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        if string_column(&batch, 0, path)?
            .iter()
            .flatten()
            .any(|key| test(xxhash_rust::xxh3::xxh3_64(key.as_bytes())))
        {
            return Ok(KeyScan::Some);
        }
    }
    Ok(KeyScan::None { rows })
}

/// A text column of a staged file; another type means the file is not one of ours.
fn string_column<'a>(
    batch: &'a RecordBatch,
    index: usize,
    path: &str,
) -> Result<&'a deltalake::arrow::array::StringArray, FactError> {
    batch
        .column(index)
        .as_string_opt::<i32>()
        .ok_or_else(|| not_our_layout(path, batch.schema().field(index).name()))
}

fn not_our_layout(path: &str, column: &str) -> FactError {
    FactError::Invalid(format!(
        "staged file {path}: column {column} does not have the table's type"
    ))
}

fn remove_files(paths: &[String]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{
        ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray, new_null_array,
    };

    /// Staged files of contacts carry the statistics Delta's data skipping reads for the
    /// time column, the id and the numbers, and none for text that prunes nothing.
    #[tokio::test]
    async fn files_keep_statistics_only_where_they_can_prune() {
        let temp = tempfile::tempdir().unwrap();
        let store = FactStore::open(temp.path()).await.unwrap();
        let table = FactTable::Interactions;
        let schema = table.schema();
        let text = |values: [&str; 2]| Arc::new(StringArray::from(values.to_vec())) as ArrayRef;
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                "interaction_id" => text(["I-2", "I-1"]),
                "customer_id" => text(["C-9", "C-1"]),
                "agent_id" => text(["A-1", "A-2"]),
                "channel" => text(["phone", "chat"]),
                "started_at" => Arc::new(
                    TimestampMicrosecondArray::from(vec![2_000_000, 1_000_000])
                        .with_timezone("UTC"),
                ) as ArrayRef,
                "talk_seconds" => {
                    Arc::new(deltalake::arrow::array::Int32Array::from(vec![30, 400])) as ArrayRef
                }
                name if name == ROW_HASH => Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef,
                _ => new_null_array(field.data_type(), 2),
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let mut writer = store.writers(table, 1).await.unwrap().remove(0);
        writer.write(batch).await.unwrap();
        let files = writer.flush().await.unwrap();
        let stats: serde_json::Value =
            serde_json::from_str(files.adds[0].stats.as_deref().unwrap()).unwrap();
        assert_eq!(stats["numRecords"], 2);
        let min = &stats["minValues"];
        let max = &stats["maxValues"];
        assert_eq!(
            (&min["interaction_id"], &max["interaction_id"]),
            (&"I-1".into(), &"I-2".into())
        );
        assert!(
            min["started_at"]
                .as_str()
                .unwrap()
                .starts_with("1970-01-01T00:00:01"),
            "{stats}"
        );
        assert_eq!(
            (&min["talk_seconds"], &max["talk_seconds"]),
            (&30.into(), &400.into())
        );
        for column in ["customer_id", "agent_id", "channel", "topics"] {
            assert!(
                min.get(column).is_none() && max.get(column).is_none(),
                "{column}: {stats}"
            );
        }
    }
}
