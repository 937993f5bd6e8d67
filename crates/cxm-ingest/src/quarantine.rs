//! The quarantine: every rejected row, with where it came from and why, as NDJSON under
//! `DIR/quarantine/`, so nothing is lost and a fixed file can be re-ingested.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use cxm_readers::Rejection;
use serde::Serialize;

use crate::IngestError;

/// Opens its file on the first rejection only.
pub(crate) struct Quarantine {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    enabled: bool,
    pub rejected: u64,
}

#[derive(Serialize)]
struct Entry<'a> {
    source: &'a str,
    line: u64,
    errors: &'a [cxm_readers::rejection::RejectedField],
    record: &'a serde_json::Value,
}

impl Quarantine {
    /// A quarantine for one ingest of `kind`; `enabled` is false for dry runs.
    pub fn new(dir: &Path, kind: &str, enabled: bool) -> Self {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let path = dir.join(format!("{stamp}-{kind}-{}.ndjson", std::process::id()));
        Self {
            path,
            writer: None,
            enabled,
            rejected: 0,
        }
    }

    pub fn reject(&mut self, source: &Path, rejection: &Rejection) -> Result<(), IngestError> {
        self.rejected += 1;
        if !self.enabled {
            return Ok(());
        }
        let error = |source| IngestError::Quarantine {
            path: self.path.display().to_string(),
            source,
        };
        if self.writer.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent).map_err(error)?;
            }
            self.writer = Some(BufWriter::new(File::create(&self.path).map_err(error)?));
        }
        let entry = Entry {
            source: &source.display().to_string(),
            line: rejection.line,
            errors: &rejection.errors,
            record: &rejection.record,
        };
        if let Some(writer) = self.writer.as_mut() {
            serde_json::to_writer(&mut *writer, &entry).map_err(|e| error(e.into()))?;
            writer.write_all(b"\n").map_err(error)?;
        }
        Ok(())
    }

    /// Flushes the file to disk; returns its path when anything was quarantined.
    pub fn finish(self) -> Result<Option<String>, IngestError> {
        let path = self.path.display().to_string();
        match self.writer {
            Some(writer) => {
                let file = writer.into_inner().map_err(|e| IngestError::Quarantine {
                    path: path.clone(),
                    source: e.into_error(),
                })?;
                file.sync_all().map_err(|source| IngestError::Quarantine {
                    path: path.clone(),
                    source,
                })?;
                Ok(Some(path))
            }
            None => Ok(None),
        }
    }
}
