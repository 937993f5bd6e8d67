//! Errors that stop an ingest as a whole (rows with bad values are quarantined instead).

use cxm_readers::FileError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A file cannot be used at all: nothing was stored.
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Catalog(#[from] cxm_catalog::CatalogError),
    #[error(transparent)]
    Facts(#[from] cxm_facts::FactError),
    #[error(transparent)]
    Sql(#[from] cxm_sql::SqlError),
    #[error("quarantine file {path}: {source}")]
    Quarantine {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ingest worker failed: {0}")]
    Worker(String),
}

impl IngestError {
    /// Whether the error is the input's fault (a usage or file error, exit status 2).
    pub fn is_input_error(&self) -> bool {
        matches!(self, IngestError::File(_))
    }
}
