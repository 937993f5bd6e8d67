//! Errors of the workflow store.

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Url(String),
    /// A unique key is taken (a user name, a token id).
    #[error("{0}")]
    Conflict(String),
    /// A change its workflow does not allow (the reason says why and what is allowed).
    #[error("{0}")]
    Refused(String),
    /// The record changed since the caller read it (another editor got there first).
    #[error("{0}")]
    Stale(String),
    #[error("{0}")]
    NotFound(String),
    #[error("database holds an invalid value: {0}")]
    Corrupt(String),
}
