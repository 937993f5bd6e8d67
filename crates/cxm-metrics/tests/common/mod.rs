//! A fresh data directory filled through the real ingest path, and shorthand for queries.

#![allow(dead_code)]

pub mod naive;

use std::collections::BTreeMap;
use std::path::PathBuf;

use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_domain::metrics::Grain;
use cxm_ingest::IngestRequest;
use cxm_metrics::{Dimension, Engine, Filters, MetricRow, Query, QueryResult};

pub struct Fixture {
    pub temp: tempfile::TempDir,
    pub dir: DataDir,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::init(&temp.path().join("data"), None)
            .await
            .unwrap();
        Fixture { temp, dir }
    }

    pub fn settings(&self, text: &str) {
        std::fs::write(self.dir.path().join("metrics.toml"), text).unwrap();
    }

    /// Ingests CSV text of `kind` (a CLI kind name) and asserts nothing was rejected.
    pub async fn ingest(&self, kind: &str, csv: &str) {
        let path = self.temp.path().join(format!("{kind}-{}.csv", uuid_like()));
        std::fs::write(&path, csv).unwrap();
        self.ingest_files(kind, vec![path]).await;
    }

    pub async fn ingest_files(&self, kind: &str, files: Vec<PathBuf>) {
        let kind = RecordKind::from_cli_name(kind).unwrap();
        let summary = cxm_ingest::ingest(&self.dir, &IngestRequest::new(kind, files))
            .await
            .unwrap();
        assert_eq!(summary.rejected, 0, "{kind:?} rows rejected: {summary:?}");
    }

    pub async fn refresh(&self) {
        cxm_metrics::refresh(&self.dir).await.unwrap();
    }

    pub async fn engine(&self) -> Engine {
        Engine::open(&self.dir).await.unwrap()
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

pub fn query(metrics: &[&str], by: &[&str], grain: Grain, filters: Filters) -> Query {
    Query {
        metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
        by: by.iter().map(|d| Dimension::parse(d).unwrap()).collect(),
        grain,
        filters,
    }
}

/// The row of `metric` in `period` whose group matches `group` (dimension=value pairs).
pub fn find<'a>(
    result: &'a QueryResult,
    metric: &str,
    period: &str,
    group: &[(&str, &str)],
) -> &'a MetricRow {
    let wanted: BTreeMap<String, String> = group
        .iter()
        .map(|(d, v)| ((*d).to_owned(), (*v).to_owned()))
        .collect();
    result
        .rows
        .iter()
        .find(|r| r.metric == metric && r.period == period && r.group == wanted)
        .unwrap_or_else(|| panic!("no row {metric} {period} {group:?} in {:#?}", result.rows))
}

pub fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: no value"));
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: {actual} != {expected}"
    );
}
