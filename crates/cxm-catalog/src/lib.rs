//! A cxm data directory (`--data-dir`, default `./cxm-data`): fact tables as Delta tables
//! under `tables/`, reference and workflow data in SQL (`cxm.sqlite` inside it, or the
//! PostgreSQL database named in `cxm.toml`), quarantined rows under `quarantine/`; and one
//! DataFusion session in which all of those tables can be joined.

pub mod data_dir;
pub mod session;

pub use data_dir::{CatalogError, DataDir, WriterLock};
pub use session::{QueryError, read_only_query, session};
