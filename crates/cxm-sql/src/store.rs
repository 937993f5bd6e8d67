//! The store: connecting (SQLite file or PostgreSQL URL), migrating, and reading and
//! upserting reference rows.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Row};

use crate::{ReferenceRow, ReferenceTable, SqlError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which SQL database holds the workflow store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a connection talks to.
    pub(crate) fn of(connection: &sqlx::AnyConnection) -> Backend {
        if connection.backend_name().eq_ignore_ascii_case("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// The `i`th (1-based) bound parameter. SQLite gets anonymous `?`: with numbered ones,
    /// binding looks each name up in a list, which is quadratic in a statement's
    /// parameters (at 500 `$N` a statement it was a sixth of opening a million cases).
    pub(crate) fn placeholder(self, i: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${i}"),
        }
    }
}

/// How an upsert changed a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub replaced: u64,
    pub unchanged: u64,
}

/// Reference data storage, implemented by each SQL backend.
#[async_trait]
pub trait ReferenceStore: Send + Sync {
    fn backend(&self) -> Backend;

    /// Inserts new rows and replaces changed ones (by key) in one transaction; with
    /// `dry_run` only counts what would change.
    async fn upsert(
        &self,
        table: ReferenceTable,
        rows: &[ReferenceRow],
        dry_run: bool,
    ) -> Result<UpsertCounts, SqlError>;

    /// Starts an upsert written in chunks, all in one transaction: nothing is visible until
    /// [`UpsertSession::commit`], and a session dropped without it rolls back. With
    /// `dry_run` the commit discards everything (the counts are still exact).
    async fn begin_upsert(
        &self,
        table: ReferenceTable,
        dry_run: bool,
    ) -> Result<Box<dyn UpsertSession>, SqlError>;

    /// Every row of a table, ordered by key.
    async fn rows(&self, table: ReferenceTable) -> Result<Vec<ReferenceRow>, SqlError>;

    /// Every key of a table.
    async fn keys(&self, table: ReferenceTable) -> Result<Vec<String>, SqlError>;

    /// The named columns of every row of a table, handed to `each` one row at a time (for
    /// tables too large to hold twice, such as customers).
    async fn each_row(
        &self,
        table: ReferenceTable,
        columns: &[&str],
        each: &mut (dyn FnMut(Vec<Option<String>>) + Send),
    ) -> Result<(), SqlError>;
}

/// An upsert in progress (see [`ReferenceStore::begin_upsert`]).
#[async_trait]
pub trait UpsertSession: Send {
    /// Inserts new rows and replaces changed ones; within a chunk the last row of a key
    /// wins, and counts compare with the table as it stands, earlier chunks included.
    async fn write(&mut self, rows: &[ReferenceRow]) -> Result<UpsertCounts, SqlError>;

    /// Makes every chunk durable (for a dry run: discards them).
    async fn commit(self: Box<Self>) -> Result<(), SqlError>;
}

/// The SQL store over SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// Case counts this process made, kept while the cases' generation stands.
    case_counts: std::sync::Arc<std::sync::Mutex<crate::cases::CaseCounts>>,
}

/// Rows per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 5_000;
/// Bound parameters per insert statement: under SQLite's limit (32,766) and PostgreSQL's
/// (65,535). 400,000 customers load in 1.2 s at this size, 1.8 s at 600.
const MAX_PARAMETERS: usize = 30_000;

impl SqlStore {
    /// Opens (creating and migrating when needed) the store at `url`: `sqlite://PATH` or
    /// `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, SqlError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(SqlError::Url(format!(
                "database URL {url:?} is neither sqlite:// nor postgres://"
            )));
        };
        if !Any::database_exists(url).await? {
            Any::create_database(url).await?;
        }
        let mut options =
            AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 4 } else { 8 });
        if backend == Backend::Sqlite {
            options = options.after_connect(|connection, _| {
                Box::pin(async move {
                    // WAL for concurrent readers; FULL so a committed batch survives power
                    // loss. Statement journals (a multi-row insert that may stop at a
                    // constraint) in memory, not in temporary files.
                    connection
                        .execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")
                        .await?;
                    Ok(())
                })
            });
        }
        // Reading or writing millions of reference rows takes seconds by design: report slow
        // statements (with their whole text) only when debugging.
        let connect = url
            .parse::<AnyConnectOptions>()?
            .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1));
        let pool = options.connect_with(connect).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self {
            pool,
            backend,
            case_counts: Default::default(),
        })
    }

    /// The embedded default: a SQLite file.
    pub async fn open_sqlite(path: &Path) -> Result<Self, SqlError> {
        Self::connect(&sqlite_url(path)).await
    }

    fn placeholder(&self, i: usize) -> String {
        self.backend.placeholder(i)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn case_counts(&self) -> &std::sync::Mutex<crate::cases::CaseCounts> {
        &self.case_counts
    }

    /// Whether the database answers (a readiness probe).
    pub async fn ping(&self) -> Result<(), SqlError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn existing_hashes(
        &self,
        executor: &mut sqlx::AnyConnection,
        table: ReferenceTable,
        rows: &[ReferenceRow],
    ) -> Result<HashMap<String, i64>, SqlError> {
        let mut existing = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(LOOKUP_CHUNK) {
            let placeholders = (1..=chunk.len())
                .map(|i| self.placeholder(i))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {key}, row_hash FROM {name} WHERE {key} IN ({placeholders})",
                key = table.key_column(),
                name = table.name()
            );
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = query.bind(row.key().to_owned());
            }
            for found in query.fetch_all(&mut *executor).await? {
                existing.insert(found.try_get::<String, _>(0)?, found.try_get::<i64, _>(1)?);
            }
        }
        Ok(existing)
    }
}

/// `sqlite://` URL of a database file, created when missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[async_trait]
impl ReferenceStore for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn upsert(
        &self,
        table: ReferenceTable,
        rows: &[ReferenceRow],
        dry_run: bool,
    ) -> Result<UpsertCounts, SqlError> {
        let mut session = self.begin_upsert(table, dry_run).await?;
        let counts = session.write(rows).await?;
        session.commit().await?;
        Ok(counts)
    }

    async fn begin_upsert(
        &self,
        table: ReferenceTable,
        dry_run: bool,
    ) -> Result<Box<dyn UpsertSession>, SqlError> {
        Ok(Box::new(SqlUpsert {
            transaction: self.pool.begin().await?,
            store: self.clone(),
            table,
            dry_run,
        }))
    }

    async fn rows(&self, table: ReferenceTable) -> Result<Vec<ReferenceRow>, SqlError> {
        let columns = table.columns();
        let sql = format!(
            "SELECT {}, row_hash FROM {} ORDER BY {}",
            columns
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
            table.name(),
            table.key_column()
        );
        let found = sqlx::query(&sql).fetch_all(&self.pool).await?;
        found
            .iter()
            .map(|row| {
                let values = (0..columns.len())
                    .map(|i| row.try_get::<Option<String>, _>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ReferenceRow {
                    values,
                    row_hash: row.try_get::<i64, _>(columns.len())?,
                })
            })
            .collect()
    }

    async fn each_row(
        &self,
        table: ReferenceTable,
        columns: &[&str],
        each: &mut (dyn FnMut(Vec<Option<String>>) + Send),
    ) -> Result<(), SqlError> {
        use futures::TryStreamExt;
        if let Some(unknown) = columns
            .iter()
            .find(|c| !table.columns().iter().any(|(name, _)| name == *c))
        {
            return Err(SqlError::Url(format!(
                "table {} has no column {unknown}",
                table.name()
            )));
        }
        let sql = format!("SELECT {} FROM {}", columns.join(", "), table.name());
        let mut rows = sqlx::query(&sql).fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            each(
                (0..columns.len())
                    .map(|i| row.try_get::<Option<String>, _>(i))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(())
    }

    async fn keys(&self, table: ReferenceTable) -> Result<Vec<String>, SqlError> {
        let sql = format!("SELECT {} FROM {}", table.key_column(), table.name());
        let found = sqlx::query(&sql).fetch_all(&self.pool).await?;
        found
            .iter()
            .map(|row| row.try_get::<String, _>(0).map_err(SqlError::from))
            .collect()
    }
}

/// An upsert of [`SqlStore`]: one open transaction. A dry run writes too (so counts over
/// several chunks are exact) and rolls back at the end.
struct SqlUpsert {
    transaction: sqlx::Transaction<'static, Any>,
    store: SqlStore,
    table: ReferenceTable,
    dry_run: bool,
}

#[async_trait]
impl UpsertSession for SqlUpsert {
    async fn write(&mut self, rows: &[ReferenceRow]) -> Result<UpsertCounts, SqlError> {
        let (table, store) = (self.table, &self.store);
        // Within one batch the last row of a key wins.
        let mut last_of_key: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            last_of_key.insert(row.key(), index);
        }
        let existing = store
            .existing_hashes(&mut self.transaction, table, rows)
            .await?;
        let columns = table.columns();
        let names: Vec<&str> = columns
            .iter()
            .map(|(name, _)| *name)
            .chain(["row_hash"])
            .collect();
        let updates = names[1..]
            .iter()
            .map(|name| format!("{name} = excluded.{name}"))
            .collect::<Vec<_>>()
            .join(", ");
        // Many rows per statement (one round trip to the database per chunk, not per row).
        let statement = |count: usize| {
            let tuples = (0..count)
                .map(|r| {
                    let first = r * names.len();
                    let parameters = (1..=names.len())
                        .map(|i| store.placeholder(first + i))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("({parameters})")
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO {table} ({columns}) VALUES {tuples} ON CONFLICT ({key}) DO UPDATE SET {updates}",
                table = table.name(),
                columns = names.join(", "),
                key = table.key_column(),
            )
        };
        let mut counts = UpsertCounts::default();
        let mut previous_in_batch: HashMap<&str, i64> = HashMap::new();
        let mut writes: Vec<&ReferenceRow> = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let key = row.key();
            let before = previous_in_batch
                .get(key)
                .copied()
                .or_else(|| existing.get(key).copied());
            match before {
                None => counts.inserted += 1,
                Some(hash) if hash == row.row_hash => counts.unchanged += 1,
                Some(_) => counts.replaced += 1,
            }
            previous_in_batch.insert(key, row.row_hash);
            // Only a key's last row is written (a statement may not touch one row twice).
            let is_last = last_of_key.get(key) == Some(&index);
            if !is_last || existing.get(key) == Some(&row.row_hash) {
                continue;
            }
            writes.push(row);
        }
        let per_statement = (MAX_PARAMETERS / names.len()).max(1);
        let full = statement(per_statement);
        for chunk in writes.chunks(per_statement) {
            let sql = if chunk.len() == per_statement {
                full.clone()
            } else {
                statement(chunk.len())
            };
            let mut query = sqlx::query(&sql);
            for row in chunk {
                for value in &row.values {
                    query = query.bind(value.clone());
                }
                query = query.bind(row.row_hash);
            }
            query.execute(&mut *self.transaction).await?;
        }
        Ok(counts)
    }

    async fn commit(self: Box<Self>) -> Result<(), SqlError> {
        if self.dry_run {
            self.transaction.rollback().await?;
        } else {
            self.transaction.commit().await?;
        }
        Ok(())
    }
}
