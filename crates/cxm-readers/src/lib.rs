//! Readers of the files outside systems export: CSV (with a header row) and NDJSON, plain
//! or gzip-compressed, adapted to the canonical fields of a record kind by an optional
//! column mapping. Each row becomes a validated domain record or a rejection that says
//! which line, field, value and why.
//!
//! Reading is streaming: memory does not grow with the file.

pub mod blocks;
pub mod csv_rows;
pub mod error;
pub mod input;
pub mod json_records;
pub mod mapping;
pub mod ndjson_rows;
pub mod plan;
pub mod rejection;

pub use blocks::{Block, BlockReader, Records};
pub use csv_rows::{CsvBlockRows, CsvLayout, CsvRows, MAX_DIRECT_FIELDS};
pub use error::FileError;
pub use input::{Format, Input};
pub use json_records::JsonRecords;
pub use mapping::Mapping;
pub use ndjson_rows::NdjsonRows;
pub use plan::ColumnPlan;
pub use rejection::Rejection;

use cxm_domain::Record;

/// One row read from a file: a valid record or a rejection.
pub type RowResult<R> = Result<(u64, R), Rejection>;

/// A source of rows of one file, parsed into records of kind `R`.
pub trait RowSource {
    /// The next row, `None` at the end of the file. `Err` only for a file-level failure
    /// (an I/O error or a corrupt compressed stream), after which reading stops.
    fn next_record<R: Record>(&mut self) -> Result<Option<RowResult<R>>, FileError>;

    /// Bytes of the (possibly compressed) file consumed so far, for progress.
    fn bytes_read(&self) -> u64;

    /// The row last returned, as read (column → value), for quarantining a row that
    /// parsed but failed a later check.
    fn last_row(&self) -> serde_json::Value;
}
