//! What to ingest, and the summary of what happened.

use std::path::PathBuf;

use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_readers::Mapping;
use serde::Serialize;

use crate::IngestError;
use crate::references::References;
use crate::sources::AnyRows;

/// One `cxm ingest` invocation.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub kind: RecordKind,
    pub files: Vec<PathBuf>,
    pub mapping: Option<PathBuf>,
    /// Validate and count, store nothing (no quarantine file either).
    pub dry_run: bool,
    /// Reject rows that name customers, agents, topics or units the store does not know.
    pub enforce_references: bool,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
    /// Most rows in one atomic batch; a larger input commits in several batches, each
    /// atomic, so memory stays bounded whatever the input size.
    pub batch_rows: u64,
}

impl IngestRequest {
    pub const DEFAULT_BATCH_ROWS: u64 = 10_000_000;

    pub fn new(kind: RecordKind, files: Vec<PathBuf>) -> Self {
        Self {
            kind,
            files,
            mapping: None,
            dry_run: false,
            enforce_references: false,
            progress: false,
            batch_rows: Self::DEFAULT_BATCH_ROWS,
        }
    }
}

/// What an ingest did: `accepted = inserted + replaced + unchanged`,
/// `read = accepted + rejected`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestSummary {
    pub kind: String,
    pub files: Vec<String>,
    pub read: u64,
    pub accepted: u64,
    pub inserted: u64,
    pub replaced: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// The quarantine file holding the rejected rows, if any were rejected.
    pub quarantine: Option<String>,
    /// When the earliest accepted record happened (microseconds since the epoch): what
    /// alert rules need to look at from. `None` for reference data.
    #[serde(skip)]
    pub earliest_micros: Option<i64>,
}

impl IngestSummary {
    /// The summary of `request` before anything is counted: its kind and files.
    pub(crate) fn of(request: &IngestRequest) -> Self {
        Self {
            kind: request.kind.cli_name().to_owned(),
            files: request
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            ..Self::default()
        }
    }
}

/// Everything checked before the first row is stored: the mapping is valid and every file
/// opens as a file of the kind.
pub(crate) struct Prepared {
    pub sources: Vec<AnyRows>,
    pub references: Option<References>,
    pub total_bytes: u64,
}

impl Prepared {
    pub async fn new(dir: &DataDir, request: &IngestRequest) -> Result<Self, IngestError> {
        let mapping = match &request.mapping {
            Some(path) => Mapping::load(path, request.kind)?,
            None => Mapping::identity(request.kind),
        };
        let mut sources = Vec::with_capacity(request.files.len());
        let mut total_bytes = 0;
        for path in &request.files {
            let source = AnyRows::open(path, &mapping)?;
            total_bytes += source.size();
            sources.push(source);
        }
        let references = if request.enforce_references {
            Some(References::load(dir, request.kind).await?)
        } else {
            None
        };
        Ok(Self {
            sources,
            references,
            total_bytes,
        })
    }
}
