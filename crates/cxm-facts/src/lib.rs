//! The fact tables (interactions, survey_responses, transactions, customer_events) as Delta
//! Lake tables under the data directory, written in atomic, idempotent batches and read
//! through DataFusion.
//!
//! A batch is staged as Parquet files the transaction log does not reference yet, then made
//! visible by one commit: a plain append when none of its ids exist, a Delta MERGE by id
//! otherwise. A process killed before the commit leaves only unreferenced files (removed by
//! [`FactStore::compact`]); readers never see them.

pub mod added;
pub mod batch;
pub mod error;
pub mod schema;
pub mod store;

pub use added::{AddedRows, KeepRows, RowKeeper};
pub use batch::{FactBatchBuilder, FactRow};
pub use error::FactError;
pub use schema::FactTable;
pub use store::{BatchOutcome, CompactReport, FactStore, StagedBatch, StagedFiles, StagedWriter};

/// The engine, re-exported so every layer uses one version of DataFusion and Arrow.
pub use deltalake::{arrow, datafusion, parquet};
