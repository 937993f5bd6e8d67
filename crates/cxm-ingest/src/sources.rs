//! Every supported input format behind one row source.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use cxm_domain::Record;
use cxm_facts::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use cxm_facts::arrow::compute::cast;
use cxm_facts::arrow::datatypes::{DataType, Field};
use cxm_facts::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use cxm_readers::{
    BlockReader, ColumnPlan, CsvLayout, CsvRows, FileError, Format, Input, Mapping, NdjsonRows,
    Rejection, RowResult, RowSource,
};

/// A file of any supported format, read row by row.
pub(crate) enum AnyRows {
    Csv {
        path: PathBuf,
        size: u64,
        rows: CsvRows,
    },
    Ndjson {
        path: PathBuf,
        size: u64,
        rows: NdjsonRows,
    },
    Parquet {
        path: PathBuf,
        size: u64,
        rows: Box<ParquetRows>,
    },
}

impl AnyRows {
    /// Opens `path` and checks it is a file of the mapping's kind.
    pub fn open(path: &Path, mapping: &Mapping) -> Result<Self, FileError> {
        let size = std::fs::metadata(path)
            .map_err(|source| FileError::Io {
                path: path.to_owned(),
                source,
            })?
            .len();
        let path_buf = path.to_owned();
        match Input::detect(path, mapping.csv_delimiter())? {
            format @ Format::Csv { .. } => Ok(AnyRows::Csv {
                path: path_buf,
                size,
                rows: CsvRows::open(Input::open_text(path, format)?, mapping)?,
            }),
            Format::Ndjson => Ok(AnyRows::Ndjson {
                path: path_buf,
                size,
                rows: NdjsonRows::open(Input::open_text(path, Format::Ndjson)?, mapping)?,
            }),
            Format::Parquet => Ok(AnyRows::Parquet {
                path: path_buf,
                size,
                rows: Box::new(ParquetRows::open(path, size, mapping)?),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            AnyRows::Csv { path, .. }
            | AnyRows::Ndjson { path, .. }
            | AnyRows::Parquet { path, .. } => path,
        }
    }

    pub fn size(&self) -> u64 {
        match self {
            AnyRows::Csv { size, .. }
            | AnyRows::Ndjson { size, .. }
            | AnyRows::Parquet { size, .. } => *size,
        }
    }

    /// A CSV file as its layout and its records in blocks, to parse on several threads;
    /// any other file back as it is.
    pub fn into_blocks(self) -> Result<CsvBlocks, Box<Self>> {
        match self {
            AnyRows::Csv { rows, .. } => {
                let progress = rows.progress();
                let (layout, blocks) = rows.into_blocks();
                Ok(CsvBlocks {
                    layout,
                    blocks,
                    progress,
                })
            }
            other => Err(Box::new(other)),
        }
    }

    pub fn next_record<R: Record>(&mut self) -> Result<Option<RowResult<R>>, FileError> {
        match self {
            AnyRows::Csv { rows, .. } => rows.next_record(),
            AnyRows::Ndjson { rows, .. } => rows.next_record(),
            AnyRows::Parquet { rows, .. } => rows.next_record(),
        }
    }

    pub fn bytes_read(&self) -> u64 {
        match self {
            AnyRows::Csv { rows, .. } => rows.bytes_read(),
            AnyRows::Ndjson { rows, .. } => rows.bytes_read(),
            AnyRows::Parquet { rows, .. } => rows.bytes_read(),
        }
    }

    pub fn last_row(&self) -> serde_json::Value {
        match self {
            AnyRows::Csv { rows, .. } => rows.last_row(),
            AnyRows::Ndjson { rows, .. } => rows.last_row(),
            AnyRows::Parquet { rows, .. } => rows.last_row(),
        }
    }
}

/// A CSV file cut into blocks of whole records.
pub(crate) struct CsvBlocks {
    pub layout: Arc<CsvLayout>,
    pub blocks: BlockReader,
    /// bytes of the file consumed so far
    pub progress: Arc<AtomicU64>,
}

/// Rows of a Parquet file: every column is read as text (lists joined with the list
/// separator) and then validated like CSV, so Parquet exports of any schema work.
pub(crate) struct ParquetRows {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    plan: ColumnPlan,
    mapping: Mapping,
    batch: Vec<Option<StringArray>>,
    batch_rows: usize,
    next_in_batch: usize,
    rows_before_batch: u64,
    total_rows: u64,
    size: u64,
}

impl ParquetRows {
    fn open(path: &Path, size: u64, mapping: &Mapping) -> Result<Self, FileError> {
        let not_readable = |reason: String| FileError::NotReadable {
            path: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(|source| FileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| not_readable(format!("is not a readable Parquet file: {e}")))?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let header: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let plan = ColumnPlan::resolve(path, header, mapping)?;
        let reader = builder
            .with_batch_size(8192)
            .build()
            .map_err(|e| not_readable(format!("is not a readable Parquet file: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            reader,
            plan,
            mapping: mapping.clone(),
            batch: Vec::new(),
            batch_rows: 0,
            next_in_batch: 0,
            rows_before_batch: 0,
            total_rows,
            size,
        })
    }

    fn load_batch(&mut self, batch: RecordBatch) -> Result<(), FileError> {
        let separator = self.mapping.parse_context().list_separator;
        self.rows_before_batch += self.batch_rows as u64;
        self.batch_rows = batch.num_rows();
        self.next_in_batch = 0;
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (index, column) in batch.columns().iter().enumerate() {
            if !self.plan.uses_column(index) {
                columns.push(None);
                continue;
            }
            let text = as_text(column, separator).map_err(|error| FileError::NotReadable {
                path: self.path.clone(),
                reason: format!(
                    "column {} of type {} cannot be read as text: {error}",
                    self.plan.header()[index],
                    column.data_type()
                ),
            })?;
            columns.push(Some(text));
        }
        self.batch = columns;
        Ok(())
    }

    fn next_record<R: Record>(&mut self) -> Result<Option<RowResult<R>>, FileError> {
        while self.next_in_batch >= self.batch_rows {
            match self.reader.next() {
                None => return Ok(None),
                Some(Err(error)) => {
                    return Err(FileError::NotReadable {
                        path: self.path.clone(),
                        reason: format!("Parquet data cannot be read: {error}"),
                    });
                }
                Some(Ok(batch)) => self.load_batch(batch)?,
            }
        }
        let row = self.next_in_batch;
        self.next_in_batch += 1;
        let line = self.rows_before_batch + row as u64 + 1;
        let values: Vec<Option<&str>> = self
            .batch
            .iter()
            .map(|column| {
                column
                    .as_ref()
                    .filter(|c| !c.is_null(row))
                    .map(|c| c.value(row))
            })
            .collect();
        let result = R::parse(&self.plan.row(&values), self.mapping.parse_context())
            .map(|record| (line, record))
            .map_err(|errors| Rejection::new(line, errors, self.row_json(row)));
        Ok(Some(result))
    }

    fn row_json(&self, row: usize) -> serde_json::Value {
        let record = self
            .plan
            .header()
            .iter()
            .zip(&self.batch)
            .map(|(name, column)| {
                let value = column
                    .as_ref()
                    .filter(|c| row < c.len() && !c.is_null(row))
                    .map(|c| c.value(row));
                (
                    name.clone(),
                    value.map_or(serde_json::Value::Null, |v| {
                        serde_json::Value::String(v.to_owned())
                    }),
                )
            })
            .collect();
        serde_json::Value::Object(record)
    }

    fn last_row(&self) -> serde_json::Value {
        self.row_json(self.next_in_batch.saturating_sub(1))
    }

    fn bytes_read(&self) -> u64 {
        if self.total_rows == 0 {
            return self.size;
        }
        let done = self.rows_before_batch + self.next_in_batch as u64;
        (self.size as f64 * done as f64 / self.total_rows as f64) as u64
    }
}

/// A column as text: scalars cast to strings, lists of scalars joined with `separator`.
fn as_text(
    column: &ArrayRef,
    separator: char,
) -> Result<StringArray, cxm_facts::arrow::error::ArrowError> {
    match column.data_type() {
        DataType::List(_) | DataType::LargeList(_) => {
            let list_type = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
            let lists = cast(column, &list_type)?;
            let lists = lists.as_list::<i32>();
            let mut joined = Vec::with_capacity(lists.len());
            for index in 0..lists.len() {
                if lists.is_null(index) {
                    joined.push(None);
                    continue;
                }
                let items = lists.value(index);
                let items = items.as_string::<i32>();
                let text: Vec<&str> = items.iter().flatten().collect();
                joined.push(Some(text.join(&separator.to_string())));
            }
            Ok(StringArray::from(joined))
        }
        _ => Ok(cast(column, &DataType::Utf8)?.as_string::<i32>().clone()),
    }
}
