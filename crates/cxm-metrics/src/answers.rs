//! Precomputed answers: the questions scorecards and dashboards ask most — every metric for
//! every unit of one level (or every agent) in one whole month, quarter or year — answered
//! when the rollup is built and stored as Arrow IPC, one file per grouping and one record
//! batch per period. Such a question then reads one small batch instead of the cells of
//! two periods. The answers are the engine's own answers to exactly these questions, so
//! they are the same numbers a live query gives (tests compare both).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use cxm_domain::metrics::{Grain, Period};
use cxm_facts::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array,
};
use cxm_facts::arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use cxm_facts::arrow::ipc::reader::FileReader;
use serde::{Deserialize, Serialize};

use crate::MetricsError;
use crate::organisation::Organisation;
use crate::query::{Dimension, Filters, MetricRow, Query};
use crate::rollup::IpcFile;

/// The grains answered ahead.
pub const GRAINS: [Grain; 3] = [Grain::Month, Grain::Quarter, Grain::Year];

/// Where one grouping's answers are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswersHeader {
    /// The file under `DIR/metrics/`, named after the build.
    pub file: String,
    /// Period label (`2025-06`, `2025-Q2`, `2025`) → record batch index.
    pub periods: BTreeMap<String, usize>,
}

/// The groupings answered ahead: every agent, and the units of every level the
/// organisation has.
pub fn groupings(org: &Organisation) -> Vec<Dimension> {
    let mut groupings = vec![Dimension::Agent];
    groupings.extend(
        Organisation::levels()
            .filter(|level| org.units().iter().any(|u| u.level == *level))
            .map(|level| Dimension::Level(level.to_owned())),
    );
    groupings
}

/// The months, quarters and years that overlap the days from `first` to `last`.
pub fn periods(first: chrono::NaiveDate, last: chrono::NaiveDate) -> Vec<Period> {
    let mut periods = Vec::new();
    for grain in GRAINS {
        let mut period = Period::containing(grain, first);
        while period.start <= last && period.end > period.start {
            periods.push(period);
            period = Period::containing(grain, period.end);
        }
    }
    periods
}

/// The question an answer answers: every metric by `dimension` in `period`.
pub fn question(dimension: &Dimension, period: &Period) -> Query {
    Query {
        metrics: Vec::new(),
        by: vec![dimension.clone()],
        grain: period.grain,
        filters: Filters {
            from: Some(period.start),
            to: Some(period.end.pred_opt().unwrap_or(period.end)),
            ..Filters::default()
        },
    }
}

/// The grouping and period when `query` is one of the questions answered ahead (any subset
/// of the metrics).
pub fn answerable(query: &Query) -> Option<(&Dimension, Period)> {
    let [dimension @ (Dimension::Agent | Dimension::Level(_))] = query.by.as_slice() else {
        return None;
    };
    if !GRAINS.contains(&query.grain) {
        return None;
    }
    let filters = &query.filters;
    let (Some(from), Some(to)) = (filters.from, filters.to) else {
        return None;
    };
    let unfiltered = Filters {
        from: filters.from,
        to: filters.to,
        ..Filters::default()
    };
    if *filters != unfiltered {
        return None;
    }
    let period = Period::containing(query.grain, from);
    (period.start == from && period.end.pred_opt() == Some(to)).then_some((dimension, period))
}

fn schema() -> Arc<Schema> {
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    let count = |name: &str, nullable: bool| Field::new(name, DataType::UInt64, nullable);
    Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
        float("value"),
        count("n", false),
        float("low"),
        float("high"),
        float("previous"),
        float("change"),
        float("p_value"),
        count("rank", true),
        count("ranked", false),
    ]))
}

/// Writes one grouping's answers (one batch per period) and returns where they are.
pub fn write(
    dir: &Path,
    build: &str,
    dimension: &Dimension,
    answers: &[(Period, Vec<MetricRow>)],
) -> Result<AnswersHeader, MetricsError> {
    let file = format!("answers-{}.{build}.arrow", dimension.name());
    let path = dir.join(&file);
    let schema = schema();
    let mut writer = IpcFile::create(&path, &schema)?;
    let mut periods = BTreeMap::new();
    for (period, rows) in answers {
        let floats = |get: fn(&MetricRow) -> Option<f64>| -> ArrayRef {
            Arc::new(rows.iter().map(get).collect::<Float64Array>())
        };
        let group = |row: &MetricRow| {
            row.group
                .get(dimension.name())
                .map(String::as_str)
                .unwrap_or(crate::query::NO_GROUP)
                .to_owned()
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.metric.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.period.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(group))),
            floats(|r| r.value),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.n))),
            floats(|r| r.low),
            floats(|r| r.high),
            floats(|r| r.previous),
            floats(|r| r.change),
            floats(|r| r.p_value),
            Arc::new(
                rows.iter()
                    .map(|r| r.rank.map(|k| k as u64))
                    .collect::<UInt64Array>(),
            ),
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.ranked as u64),
            )),
        ];
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        periods.insert(period.to_string(), periods.len());
    }
    writer.finish()?;
    Ok(AnswersHeader { file, periods })
}

/// The stored answer for `period` by `dimension`, when there is one.
pub fn read(
    dir: &Path,
    header: &AnswersHeader,
    dimension: &Dimension,
    period: &Period,
) -> Result<Option<Vec<MetricRow>>, MetricsError> {
    let Some(&index) = header.periods.get(&period.to_string()) else {
        return Ok(None);
    };
    let path = dir.join(&header.file);
    let file = File::open(&path).map_err(|source| MetricsError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut reader = FileReader::try_new(BufReader::new(file), None)?;
    reader.set_index(index)?;
    let Some(batch) = reader.next().transpose()? else {
        return Ok(None);
    };
    if batch.schema().fields() != schema().fields() {
        return Err(MetricsError::Internal(format!(
            "{} does not hold answers in this version's layout; run `cxm refresh`",
            path.display()
        )));
    }
    let text = |i: usize| batch.column(i).as_string::<i32>();
    let float = |i: usize, row: usize| {
        let column = batch.column(i).as_primitive::<Float64Type>();
        column.is_valid(row).then(|| column.value(row))
    };
    let count = |i: usize| batch.column(i).as_primitive::<UInt64Type>();
    let (metric, label, group) = (text(0), text(1), text(2));
    let (n, rank, ranked) = (count(4), count(10), count(11));
    let rows = (0..batch.num_rows())
        .map(|row| MetricRow {
            metric: metric.value(row).to_owned(),
            period: label.value(row).to_owned(),
            group: BTreeMap::from([(dimension.name().to_owned(), group.value(row).to_owned())]),
            value: float(3, row),
            n: n.value(row),
            low: float(5, row),
            high: float(6, row),
            previous: float(7, row),
            change: float(8, row),
            p_value: float(9, row),
            rank: rank.is_valid(row).then(|| rank.value(row) as usize),
            ranked: ranked.value(row) as usize,
        })
        .collect();
    Ok(Some(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn whole_periods_by_one_grouping_are_answerable() {
        let june = Period::containing(Grain::Month, day("2025-06-10"));
        let query = question(&Dimension::Level("team".into()), &june);
        let (dimension, period) = answerable(&query).unwrap();
        assert_eq!(dimension, &Dimension::Level("team".into()));
        assert_eq!(period, june);
        // Part of a month, several months, other groupings or filters: not answerable.
        let mut partial = query.clone();
        partial.filters.to = Some(day("2025-06-29"));
        assert!(answerable(&partial).is_none());
        let mut filtered = query.clone();
        filtered.filters.channels = vec!["phone".into()];
        assert!(answerable(&filtered).is_none());
        let mut two = query.clone();
        two.by.push(Dimension::Channel);
        assert!(answerable(&two).is_none());
        let mut weekly = query.clone();
        weekly.grain = Grain::Week;
        assert!(answerable(&weekly).is_none());
        let quarter = Period::containing(Grain::Quarter, day("2025-05-01"));
        assert!(answerable(&question(&Dimension::Agent, &quarter)).is_some());
    }

    #[test]
    fn periods_cover_the_span() {
        let labels: Vec<String> = periods(day("2024-12-15"), day("2025-02-01"))
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            labels,
            [
                "2024-12", "2025-01", "2025-02", "2024-Q4", "2025-Q1", "2024", "2025"
            ]
        );
    }
}
