//! Creating and opening a data directory.

use std::path::{Path, PathBuf};

use cxm_facts::{FactError, FactStore};
use cxm_sql::{SqlError, SqlStore};
use serde::{Deserialize, Serialize};

const CONFIG_FILE: &str = "cxm.toml";
const SQLITE_FILE: &str = "cxm.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "{0} is not a cxm data directory (no cxm.toml); create it with `cxm init --data-dir {0}`"
    )]
    NotInitialised(String),
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Facts(#[from] FactError),
    #[error(transparent)]
    Sql(#[from] SqlError),
}

/// The settings kept in `DIR/cxm.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `postgres://…` for reference and workflow data in PostgreSQL; absent = SQLite in DIR.
    database_url: Option<String>,
}

/// Held while a process writes to a data directory.
#[derive(Debug)]
pub struct WriterLock {
    _file: std::fs::File,
}

/// An opened data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
    config: Config,
}

impl DataDir {
    /// Creates the directory, its fact tables and its SQL schema (idempotent). With
    /// `database_url`, reference data lives in that PostgreSQL database instead of SQLite.
    pub async fn init(path: &Path, database_url: Option<String>) -> Result<DataDir, CatalogError> {
        let io = |source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(path).map_err(io)?;
        let config_path = path.join(CONFIG_FILE);
        let config = if config_path.exists() {
            let existing = read_config(&config_path)?;
            if database_url.is_some() && database_url != existing.database_url {
                return Err(CatalogError::Config {
                    path: config_path.display().to_string(),
                    reason: "already initialised with another database; edit cxm.toml to move it"
                        .to_owned(),
                });
            }
            existing
        } else {
            Config { database_url }
        };
        let dir = DataDir {
            path: path.to_owned(),
            config,
        };
        dir.facts().await?;
        dir.reference().await?.close().await;
        std::fs::create_dir_all(dir.quarantine_dir()).map_err(io)?;
        let text = format!(
            "# cxm data directory settings\n{}",
            toml::to_string(&dir.config).map_err(|e| CatalogError::Config {
                path: config_path.display().to_string(),
                reason: e.to_string()
            })?
        );
        std::fs::write(&config_path, text).map_err(|source| CatalogError::Io {
            path: config_path.display().to_string(),
            source,
        })?;
        Ok(dir)
    }

    /// Opens an initialised data directory.
    pub fn open(path: &Path) -> Result<DataDir, CatalogError> {
        let config_path = path.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(CatalogError::NotInitialised(path.display().to_string()));
        }
        Ok(DataDir {
            path: path.to_owned(),
            config: read_config(&config_path)?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for, then holds, the directory's writer lock until the guard is dropped: one
    /// ingest or compaction at a time, so two writers never both append the same ids.
    /// Readers need no lock. The lock is released by the OS if the process dies. Waiting
    /// happens on a blocking thread, never on an async worker.
    pub async fn lock_for_writing(&self) -> Result<WriterLock, CatalogError> {
        let path = self.path.join(".writer.lock");
        let io = |source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "waiting for another cxm writer on {} to finish",
                    self.path.display()
                );
                let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(|e| io(std::io::Error::other(e)))?
                    .map_err(io)?;
                return Ok(WriterLock { _file: file });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        Ok(WriterLock { _file: file })
    }

    /// Where rejected rows are written.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.path.join("quarantine")
    }

    /// The URL of the SQL store (secrets in it are not printed by cxm).
    pub fn database_url(&self) -> String {
        match &self.config.database_url {
            Some(url) => url.clone(),
            None => cxm_sql::store::sqlite_url(&self.path.join(SQLITE_FILE)),
        }
    }

    pub async fn facts(&self) -> Result<FactStore, CatalogError> {
        Ok(FactStore::open(&self.path.join("tables")).await?)
    }

    pub async fn reference(&self) -> Result<SqlStore, CatalogError> {
        Ok(SqlStore::connect(&self.database_url()).await?)
    }
}

fn read_config(path: &Path) -> Result<Config, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| CatalogError::Config {
        path: path.display().to_string(),
        reason: e.message().to_owned(),
    })
}
