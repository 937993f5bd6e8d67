//! Errors of the fact store.

/// What went wrong reading or writing fact tables.
#[derive(Debug, thiserror::Error)]
pub enum FactError {
    #[error("delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("query failed: {0}")]
    Query(Box<deltalake::datafusion::error::DataFusionError>),
    #[error("arrow: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] deltalake::parquet::errors::ParquetError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl FactError {
    pub(crate) fn delta(table: &str) -> impl FnOnce(deltalake::DeltaTableError) -> FactError + '_ {
        move |source| FactError::Delta {
            table: table.to_owned(),
            source: Box::new(source),
        }
    }
}

impl From<deltalake::datafusion::error::DataFusionError> for FactError {
    fn from(error: deltalake::datafusion::error::DataFusionError) -> Self {
        FactError::Query(Box::new(error))
    }
}
