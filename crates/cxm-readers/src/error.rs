//! Errors that concern a whole file: it cannot be read, or is not what it claims to be.

use std::path::PathBuf;

/// A file that cannot be ingested at all. Nothing from it is stored.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    NotReadable { path: PathBuf, reason: String },
    #[error("{path}: missing required column{} {} for {kind}{hint}", if .missing.len() == 1 { "" } else { "s" }, .missing.join(", "))]
    MissingColumns {
        path: PathBuf,
        kind: String,
        missing: Vec<String>,
        /// e.g. " (this looks like a surveys file)"
        hint: String,
    },
    #[error("mapping {path}: {reason}")]
    Mapping { path: PathBuf, reason: String },
}
