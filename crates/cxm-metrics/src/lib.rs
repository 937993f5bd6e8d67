//! The metric engine: every number a leader, manager or agent sees, computed the same way
//! everywhere.
//!
//! - The catalogue (`cxm_domain::metrics`) says what each metric is: SQL expressions over
//!   the rows of a source. The organisation adds metrics in `DIR/metrics.toml`.
//! - [`refresh`] derives the sources from the fact and reference tables (attribution to the
//!   agent's unit at the time, repeat-contact fields, local days) and rolls every metric's
//!   additive components up by day × agent × unit × channel into the persisted rollup. It
//!   runs after every ingest, so the rollup is current whenever data changes.
//! - [`Engine::query`] answers metrics × group-by × grain × filters from the rollup when it
//!   can (milliseconds however long the history) and otherwise scans the derived tables
//!   with DataFusion; both paths sum the same components, so they give the same numbers.
//! - [`scorecard`] sets a unit's or person's metrics against targets, parent and peers.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cxm_catalog::DataDir;
use cxm_domain::metrics::{CatalogueError, MetricDefinition, Period, Source};
use cxm_facts::FactTable;
use cxm_facts::arrow::array::RecordBatch;
use cxm_facts::datafusion::dataframe::DataFrameWriteOptions;
use cxm_facts::datafusion::datasource::MemTable;
use cxm_facts::datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::Serialize;

pub mod answers;
pub mod cells;
pub mod derive;
pub mod distribution;
pub mod movers;
pub mod organisation;
pub mod plan;
pub mod query;
pub mod records;
pub mod rollup;
mod scan_cache;
pub mod scorecard;
pub mod settings;
pub mod targets;

pub use organisation::Organisation;
pub use query::{Dimension, Filters, MetricRow, Query, QueryResult};
pub use scorecard::{ScoreLine, Scorecard, Status, Subject};
pub use settings::{EngineConfig, Settings};

use cells::Dictionary;
use plan::Plan;
use rollup::{Header, rollup_dir};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("metric {metric}: {reason}")]
    Expression { metric: String, reason: String },
    #[error("no org unit {0}")]
    UnknownUnit(String),
    #[error("no person {0}")]
    UnknownPerson(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] cxm_catalog::CatalogError),
    #[error(transparent)]
    Sql(#[from] cxm_sql::SqlError),
    #[error(transparent)]
    Facts(#[from] cxm_facts::FactError),
    #[error("analytics engine: {0}")]
    DataFusion(#[from] cxm_facts::datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] cxm_facts::arrow::error::ArrowError),
    #[error("metric engine: {0}")]
    Internal(String),
}

/// What a refresh built.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    /// Rows of each derived source.
    pub rows: BTreeMap<String, usize>,
    /// Cells of each source in the rollup.
    pub cells: BTreeMap<String, usize>,
    pub seconds: f64,
}

/// Versions of the fact tables, read off their Delta logs (cheap: one directory listing).
fn fact_versions(data_dir: &Path) -> BTreeMap<String, String> {
    FactTable::ALL
        .iter()
        .map(|table| {
            let log = data_dir
                .join("tables")
                .join(table.name())
                .join("_delta_log");
            let version = std::fs::read_dir(&log)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".json")?.parse::<u64>().ok()
                })
                .max();
            (
                table.name().to_owned(),
                version.map(|v| v.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

fn partitions(batch: &RecordBatch) -> Vec<Vec<RecordBatch>> {
    let parts = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(1);
    let size = batch.num_rows().div_ceil(parts).max(1);
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < batch.num_rows() {
        let len = size.min(batch.num_rows() - offset);
        out.push(vec![batch.slice(offset, len)]);
        offset += len;
    }
    if out.is_empty() {
        out.push(vec![batch.clone()]);
    }
    out
}

fn register(ctx: &SessionContext, name: &str, batch: &RecordBatch) -> Result<(), MetricsError> {
    let table = MemTable::try_new(batch.schema(), partitions(batch))?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Finds which metric's expressions fail to plan against the derived tables.
async fn check_expressions(
    ctx: &SessionContext,
    metrics: &[MetricDefinition],
) -> Result<(), MetricsError> {
    for metric in metrics {
        let plan = Plan::new([metric]);
        for (source, source_plan) in &plan.sources {
            let mut columns: Vec<String> = source_plan.components.clone();
            columns.extend(source_plan.measures.iter().map(|m| format!("MIN({m})")));
            let sql = format!(
                "SELECT {} FROM {} WHERE FALSE",
                columns.join(", "),
                source.as_str()
            );
            if let Err(error) = ctx.sql(&sql).await {
                return Err(MetricsError::Expression {
                    metric: metric.name.clone(),
                    reason: error.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Derives the metric sources from the data directory and rebuilds the rollup.
pub async fn refresh(dir: &DataDir) -> Result<RefreshReport, MetricsError> {
    let started = Instant::now();
    let config = EngineConfig::load(dir.path())?;
    let inputs = fact_versions(dir.path());
    let store = dir.reference().await?;
    let org = Organisation::load(&store).await?;
    store.close().await;
    let facts = SessionContext::new();
    dir.facts().await?.register(&facts).await?;
    let derived = derive::derive(&facts, &org, &config.settings).await?;
    drop(facts);

    let ctx = SessionContext::new();
    let sources = [
        (Source::Contacts, &derived.contacts),
        (Source::Surveys, &derived.surveys),
        (Source::Transactions, &derived.transactions),
        (Source::Customers, &derived.customers),
    ];
    for (source, batch) in sources {
        register(&ctx, source.as_str(), batch)?;
    }
    check_expressions(&ctx, config.catalogue.metrics()).await?;

    let out = rollup_dir(dir.path());
    std::fs::create_dir_all(&out).map_err(|source| MetricsError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let build = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    // The derived tables, for questions the rollup cannot answer.
    let derived_dir = out.join(format!("derived-{build}"));
    for (source, batch) in sources {
        let path = derived_dir.join(source.as_str());
        ctx.read_batch(batch.clone())?
            .write_parquet(
                &format!("{}/", path.display()),
                DataFrameWriteOptions::new(),
                None,
            )
            .await?;
    }

    let plan = Plan::new(config.catalogue.metrics());
    let mut dictionary = Dictionary::default();
    let mut headers = BTreeMap::new();
    let mut report = RefreshReport {
        rows: BTreeMap::new(),
        cells: BTreeMap::new(),
        seconds: 0.0,
    };
    let mut span: Option<(i32, i32)> = None;
    for (source, batch) in sources {
        let source_plan = plan.sources.get(&source).cloned().unwrap_or_default();
        let cells = cells::scan(&ctx, source, &source_plan, &[], "TRUE", &mut dictionary).await?;
        if source != Source::Customers {
            for &day in &cells.day {
                span = Some(match span {
                    None => (day, day),
                    Some((lo, hi)) => (lo.min(day), hi.max(day)),
                });
            }
        }
        report
            .rows
            .insert(source.as_str().to_owned(), batch.num_rows());
        report.cells.insert(source.as_str().to_owned(), cells.len());
        headers.insert(
            source.as_str().to_owned(),
            rollup::write_cells(&out, &build, source, &source_plan, &cells)?,
        );
    }
    let mut header = Header {
        fingerprint: config.fingerprint(),
        inputs,
        horizon: derived.horizon,
        span,
        built_at: chrono::Utc::now().to_rfc3339(),
        dictionary: dictionary.names().to_vec(),
        derived: derived_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sources: headers,
        answers: BTreeMap::new(),
    };
    drop(derived);
    drop(ctx);

    // The questions scorecards ask, answered ahead by the engine over the new rollup.
    let engine = Engine {
        data_dir: dir.path().to_owned(),
        full_plan: plan,
        config,
        org,
        header: header.clone(),
        cache: std::sync::Mutex::default(),
        answered: scan_cache::ScanCache::default(),
        histograms: scan_cache::ScanCache::default(),
        record_pages: scan_cache::ScanCache::default(),
    };
    if let Some((first, last)) = engine.span() {
        let periods = answers::periods(first, last);
        // Period by period, every grouping: the period's cells are read once for all.
        let groupings = answers::groupings(&engine.org);
        let mut answered: Vec<Vec<(Period, Vec<MetricRow>)>> = vec![Vec::new(); groupings.len()];
        for period in &periods {
            for (dimension, list) in groupings.iter().zip(answered.iter_mut()) {
                let result = engine
                    .query_uncached(&answers::question(dimension, period))
                    .await?;
                list.push((*period, result.rows));
            }
        }
        for (dimension, list) in groupings.iter().zip(&answered) {
            header.answers.insert(
                dimension.name().to_owned(),
                answers::write(&out, &build, dimension, list)?,
            );
        }
    }
    rollup::write_header(&out, &header)?;
    rollup::prune(&out, &build);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Marks the rollup out of date (after data was stored without a refresh): the next
/// question, or `refresh`, rebuilds it.
pub fn mark_stale(dir: &DataDir) -> Result<(), MetricsError> {
    rollup::remove_header(&rollup_dir(dir.path()))
}

/// An open engine over a data directory's rollup.
#[derive(Debug)]
pub struct Engine {
    data_dir: PathBuf,
    config: EngineConfig,
    org: Organisation,
    header: Header,
    full_plan: Plan,
    /// Rollup cells already read, by source and months (a scorecard asks several
    /// questions about the same months).
    cache: std::sync::Mutex<CellCache>,
    /// Answers to questions asked (those not answered ahead).
    answered: scan_cache::ScanCache<QueryResult>,
    /// Distributions of handle and hold time.
    pub(crate) histograms: scan_cache::ScanCache<distribution::Histogram>,
    /// Pages of records.
    pub(crate) record_pages: scan_cache::ScanCache<records::RecordPage>,
}

/// Rollup cells read, keyed by source, the months they cover and the columns read.
type CellCache = HashMap<(Source, Vec<String>, rollup::Needs), Arc<cells::Cells>>;

impl Engine {
    /// Opens the rollup, rebuilding it first when the data or the configuration changed
    /// since it was built.
    pub async fn open(dir: &DataDir) -> Result<Engine, MetricsError> {
        let config = EngineConfig::load(dir.path())?;
        let out = rollup_dir(dir.path());
        let fingerprint = config.fingerprint();
        // Read again under the lock: another process may have rebuilt meanwhile.
        let current = |header: &Option<Header>| {
            header.as_ref().is_some_and(|h| {
                h.fingerprint == fingerprint && h.inputs == fact_versions(dir.path())
            })
        };
        let mut header = rollup::read_header(&out)?;
        if !current(&header) {
            let _lock = dir.lock_for_writing().await?;
            header = rollup::read_header(&out)?;
            if !current(&header) {
                tracing::info!("rebuilding the metric rollup");
                refresh(dir).await?;
                header = rollup::read_header(&out)?;
            }
        }
        let header = header.ok_or_else(|| MetricsError::Internal("rollup missing".into()))?;
        let store = dir.reference().await?;
        let org = Organisation::load_structure(&store).await?;
        store.close().await;
        let full_plan = Plan::new(config.catalogue.metrics());
        Ok(Engine {
            data_dir: dir.path().to_owned(),
            config,
            org,
            header,
            full_plan,
            cache: std::sync::Mutex::default(),
            answered: scan_cache::ScanCache::default(),
            histograms: scan_cache::ScanCache::default(),
            record_pages: scan_cache::ScanCache::default(),
        })
    }

    fn rollup_cells(
        &self,
        dir: &Path,
        source: Source,
        header: &rollup::SourceHeader,
        months: Vec<String>,
        needs: rollup::Needs,
    ) -> Result<Arc<cells::Cells>, MetricsError> {
        let all = rollup::Needs::all(header);
        let key = (source, months, needs);
        if let Ok(cache) = self.cache.lock() {
            // The cells as asked for, or with everything (which answers any question).
            let whole = (key.0, key.1.clone(), all);
            if let Some(cells) = cache.get(&key).or_else(|| cache.get(&whole)) {
                return Ok(cells.clone());
            }
        }
        let cells = Arc::new(rollup::read_cells(dir, header, Some(&key.1), &key.2)?);
        if let Ok(mut cache) = self.cache.lock() {
            // Keep the cache small: a few questions' worth.
            if cache.len() >= 16 {
                cache.clear();
            }
            cache.insert(key, cells.clone());
        }
        Ok(cells)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn organisation(&self) -> &Organisation {
        &self.org
    }

    /// The first and last local day with data.
    pub fn span(&self) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
        self.header
            .span
            .map(|(a, b)| (derive::date_of_day(a), derive::date_of_day(b)))
    }

    /// The latest contact's start (the data horizon).
    pub fn horizon(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.header
            .horizon
            .and_then(chrono::DateTime::from_timestamp_micros)
    }

    /// Answers a query: from the answers computed ahead when it is one of those questions,
    /// else from the rollup or a scan.
    pub async fn query(&self, query: &Query) -> Result<QueryResult, MetricsError> {
        if let Some(result) = self.precomputed(query)? {
            return Ok(result);
        }
        // Computed once per engine, however many ask at once: a scan reads millions of
        // rows, and even a year of rollup cells takes tens of milliseconds to answer from.
        let key = serde_json::to_string(query)
            .map_err(|e| MetricsError::Internal(format!("a query as a key: {e}")))?;
        self.answered
            .get_or_compute(key, || self.query_uncached(query))
            .await
    }

    /// The stored answer to `query` when it asks every unit of a level (or every agent)
    /// about one whole month, quarter or year.
    fn precomputed(&self, query: &Query) -> Result<Option<QueryResult>, MetricsError> {
        let Some((dimension, period)) = answers::answerable(query) else {
            return Ok(None);
        };
        let Some(header) = self.header.answers.get(dimension.name()) else {
            return Ok(None);
        };
        for name in &query.metrics {
            self.config.catalogue.get(name)?;
        }
        let dir = rollup_dir(&self.data_dir);
        let Some(mut rows) = answers::read(&dir, header, dimension, &period)? else {
            return Ok(None);
        };
        if !query.metrics.is_empty() {
            rows.retain(|row| query.metrics.contains(&row.metric));
        }
        Ok(Some(QueryResult {
            rows,
            answered_from: "precomputed",
            notes: Vec::new(),
        }))
    }

    /// Answers a query from the rollup or a scan, never from the answers computed ahead.
    pub async fn query_uncached(&self, query: &Query) -> Result<QueryResult, MetricsError> {
        let chosen: Vec<&MetricDefinition> = if query.metrics.is_empty() {
            self.config.catalogue.metrics().iter().collect()
        } else {
            query
                .metrics
                .iter()
                .map(|name| self.config.catalogue.get(name))
                .collect::<Result<_, _>>()?
        };
        let extra = query.extra_dimensions();
        if extra.iter().any(|d| d == "topic") && extra.iter().any(|d| d == "category") {
            return Err(MetricsError::Invalid(
                "group by topic or by category, not both (each topic belongs to one category)"
                    .to_owned(),
            ));
        }
        if let Some(person) = &query.filters.person
            && self.org.person(person).is_none()
        {
            return Err(MetricsError::UnknownPerson(person.clone()));
        }
        if let Some(unit) = &query.filters.unit
            && self.org.unit(unit).is_none()
        {
            return Err(MetricsError::UnknownUnit(unit.clone()));
        }
        let (from, to) = match (query.filters.from, query.filters.to, self.span()) {
            (Some(from), Some(to), _) => (from, to),
            (from, to, Some((first, last))) => (from.unwrap_or(first), to.unwrap_or(last)),
            (from, to, None) => {
                let today = chrono::Utc::now().date_naive();
                (from.unwrap_or(today), to.unwrap_or(today))
            }
        };
        if from > to {
            return Err(MetricsError::Invalid(format!(
                "the range {from}..{to} is empty: --from is after --to"
            )));
        }
        let window = query::Window::new(query.grain, from, to);
        let mut notes = Vec::new();
        let rollup = query.rollup_answers();
        let (plan, cells, dictionary, extra) = if rollup {
            let names: Vec<&str> = chosen.iter().map(|m| m.name.as_str()).collect();
            let plan = Plan {
                sources: self.full_plan.sources.clone(),
                metrics: self
                    .full_plan
                    .metrics
                    .iter()
                    .filter(|m| names.contains(&m.metric.name.as_str()))
                    .cloned()
                    .collect(),
            };
            let dir = rollup_dir(&self.data_dir);
            let mut cells = BTreeMap::new();
            for source in plan.metrics.iter().map(|m| m.metric.source) {
                if cells.contains_key(&source) {
                    continue;
                }
                let Some(header) = self.header.sources.get(source.as_str()) else {
                    continue;
                };
                let first = if source == Source::Customers {
                    None
                } else {
                    Some(window.first_day)
                };
                let months = months_between(first, window.end_day, header);
                // Only the columns of the metrics asked for.
                let mut needs = rollup::Needs {
                    components: vec![false; header.components.len()],
                    measures: vec![false; header.measures.len()],
                };
                for metric in plan.metrics.iter().filter(|m| m.metric.source == source) {
                    for &c in &metric.components {
                        needs.components[c] = true;
                    }
                    if let Some(m) = metric.measure {
                        needs.measures[m] = true;
                    }
                }
                let found = self.rollup_cells(&dir, source, header, months, needs)?;
                cells.insert(source, found);
            }
            (plan, cells, self.header.dictionary(), Vec::new())
        } else {
            self.scan(&chosen, query, &window, &mut notes).await?
        };
        let inputs = query::Inputs {
            plan,
            cells,
            dictionary,
            org: &self.org,
            extra,
        };
        let rows = inputs.answer(query, &window)?;
        Ok(QueryResult {
            rows,
            answered_from: if rollup { "rollup" } else { "scan" },
            notes,
        })
    }

    /// Cells computed by DataFusion over the derived tables, for dimensions and filters the
    /// rollup does not hold.
    async fn scan(
        &self,
        chosen: &[&MetricDefinition],
        query: &Query,
        window: &query::Window,
        notes: &mut Vec<String>,
    ) -> Result<
        (
            Plan,
            BTreeMap<Source, Arc<cells::Cells>>,
            Dictionary,
            Vec<String>,
        ),
        MetricsError,
    > {
        let extra = query.extra_dimensions();
        let topical = extra.iter().any(|d| d == "topic" || d == "category")
            || !query.filters.topics.is_empty();
        let usable: Vec<&MetricDefinition> = chosen
            .iter()
            .copied()
            .filter(|m| {
                let ok = !(topical && m.source == Source::Customers);
                if !ok {
                    notes.push(format!(
                        "{}: customers have no topics, so it is not broken down or filtered by topic",
                        m.name
                    ));
                }
                ok
            })
            .collect();
        let plan = Plan::new(usable.iter().copied());
        let ctx = SessionContext::new();
        let derived = rollup_dir(&self.data_dir).join(&self.header.derived);
        for source in plan.sources.keys() {
            let path = derived.join(source.as_str());
            ctx.register_parquet(
                source.as_str(),
                &format!("{}/", path.display()),
                ParquetReadOptions::default(),
            )
            .await?;
        }
        let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
        let list = |values: &[String]| {
            values
                .iter()
                .map(|v| quote(v))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut conditions = vec![format!(
            "day < CAST({} AS DATE)",
            quote(&derive::date_of_day(window.end_day).to_string())
        )];
        if !query.filters.channels.is_empty() {
            conditions.push(format!("channel IN ({})", list(&query.filters.channels)));
        }
        if !query.filters.segments.is_empty() {
            conditions.push(format!("segment IN ({})", list(&query.filters.segments)));
        }
        if !query.filters.regions.is_empty() {
            conditions.push(format!("region IN ({})", list(&query.filters.regions)));
        }
        let mut dictionary = Dictionary::default();
        let mut cells = BTreeMap::new();
        for (source, source_plan) in &plan.sources {
            let mut conditions = conditions.clone();
            if *source != Source::Customers {
                conditions.push(format!(
                    "day >= CAST({} AS DATE)",
                    quote(&derive::date_of_day(window.first_day).to_string())
                ));
                if !query.filters.topics.is_empty() {
                    conditions.push(format!(
                        "({})",
                        query
                            .filters
                            .topics
                            .iter()
                            .map(|t| format!("array_has(topics, {})", quote(t)))
                            .collect::<Vec<_>>()
                            .join(" OR ")
                    ));
                }
            }
            let source_extra: Vec<String> = if *source == Source::Customers {
                extra
                    .iter()
                    .filter(|d| *d == "segment" || *d == "region")
                    .cloned()
                    .collect()
            } else {
                extra.clone()
            };
            let mut found = cells::scan(
                &ctx,
                *source,
                source_plan,
                &source_extra,
                &conditions.join(" AND "),
                &mut dictionary,
            )
            .await?;
            // Line the extra columns up with the query's extra dimensions.
            let mut aligned = Vec::with_capacity(extra.len());
            for dimension in &extra {
                match source_extra.iter().position(|d| d == dimension) {
                    Some(i) => aligned.push(std::mem::take(&mut found.extra[i])),
                    None => aligned.push(vec![cells::NONE; found.len()]),
                }
            }
            found.extra = aligned;
            cells.insert(*source, Arc::new(found));
        }
        Ok((plan, cells, dictionary, extra))
    }
}

/// The local months (`YYYY-MM`) of the rollup from `first` (or the beginning) to `end`.
fn months_between(first: Option<i32>, end: i32, header: &rollup::SourceHeader) -> Vec<String> {
    let first = first.map(|d| {
        let date = derive::date_of_day(d);
        format!("{}", date.format("%Y-%m"))
    });
    let last = derive::date_of_day(end - 1).format("%Y-%m").to_string();
    header
        .months
        .keys()
        .filter(|m| first.as_ref().is_none_or(|f| *m >= f) && **m <= last)
        .cloned()
        .collect()
}
