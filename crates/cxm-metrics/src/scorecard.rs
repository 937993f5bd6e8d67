//! Scorecards: a unit's or person's metrics in a period against its target, the endgame,
//! its parent unit and its peers (percentile), with the change since the previous period.

use chrono::Datelike;
use cxm_domain::metrics::{Direction, Grain, MetricDefinition, MetricKind, MetricUnit, Period};
use cxm_sql::{ScopeKind, Target};
use serde::Serialize;

use crate::query::{Dimension, Filters, MetricRow, Query};
use crate::{Engine, MetricsError, targets};

/// Whose scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Subject {
    Unit(String),
    Person(String),
}

/// How an actual compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Met,
    Missed,
    /// A target exists but the metric has no better direction (e.g. handle time).
    Info,
    NoTarget,
    /// Fewer observations than the metric's minimum sample.
    InsufficientSample,
    NoData,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "missed",
            Status::Info => "info",
            Status::NoTarget => "no target",
            Status::InsufficientSample => "small sample",
            Status::NoData => "no data",
        }
    }
}

/// One metric of a scorecard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreLine {
    pub metric: String,
    pub label: String,
    pub unit: MetricUnit,
    pub direction: Direction,
    pub actual: Option<f64>,
    pub n: u64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub previous: Option<f64>,
    pub change: Option<f64>,
    pub p_value: Option<f64>,
    pub target: Option<f64>,
    /// Where the target comes from (`unit S01-T01, 2025`).
    pub target_from: Option<String>,
    /// actual − target.
    pub gap: Option<f64>,
    pub status: Status,
    pub endgame: Option<f64>,
    pub parent: Option<f64>,
    /// Share of ranked peers (same level, or all agents) this one is better than, 0–100;
    /// ties count half.
    pub percentile: Option<f64>,
    pub rank: Option<usize>,
    pub ranked: usize,
}

/// A unit's or person's scorecard for a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    pub subject: Subject,
    pub name: String,
    /// The unit's level or the person's role.
    pub kind: String,
    pub period: String,
    /// The parent unit (for a person: their unit in the period).
    pub parent: Option<String>,
    pub peers: String,
    pub lines: Vec<ScoreLine>,
}

/// The default scorecard period: the latest complete month of data (the month of the
/// latest contact when that is its last day).
pub fn default_period(engine: &Engine) -> Period {
    let last = engine
        .span()
        .map(|(_, last)| last)
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let month = Period::containing(Grain::Month, last);
    if last
        .succ_opt()
        .is_some_and(|next| next.month() != last.month())
    {
        month
    } else {
        month.previous()
    }
}

/// Builds the scorecard of `subject` for `period`, with `targets` (every stored target).
pub async fn scorecard(
    engine: &Engine,
    subject: &Subject,
    period: Period,
    targets: &[Target],
) -> Result<Scorecard, MetricsError> {
    scorecard_of_slice(engine, subject, period, &Filters::default(), targets).await
}

/// The scorecard of `subject` for `period` over a slice of the contacts: the channels,
/// topics, segments and regions of `slice` (its period, unit and person are ignored). The
/// subject, its parent and its peers are all measured on the same slice.
pub async fn scorecard_of_slice(
    engine: &Engine,
    subject: &Subject,
    period: Period,
    slice: &Filters,
    targets: &[Target],
) -> Result<Scorecard, MetricsError> {
    let org = engine.organisation();
    let to = period.end.pred_opt().unwrap_or(period.end);
    let filters = Filters {
        from: Some(period.start),
        to: Some(to),
        unit: None,
        person: None,
        ..slice.clone()
    };
    // The period's own grain: it is then compared with the whole period before it (the
    // previous month, quarter, …), not with the same number of days before it.
    let grain = period.grain;
    let (name, kind, peer_dimension, parent, scopes, own_id) = match subject {
        Subject::Unit(id) => {
            let unit = org
                .unit(id)
                .ok_or_else(|| MetricsError::UnknownUnit(id.clone()))?;
            let scopes = org
                .ancestors(id)
                .iter()
                .map(|u| (ScopeKind::Unit, u.id.clone()))
                .collect::<Vec<_>>();
            (
                unit.name.clone(),
                unit.level.clone(),
                Dimension::Level(unit.level.clone()),
                unit.parent.clone(),
                scopes,
                id.clone(),
            )
        }
        Subject::Person(id) => {
            let (person_name, role) = org
                .person(id)
                .ok_or_else(|| MetricsError::UnknownPerson(id.clone()))?;
            // The unit the person belonged to at the end of the period (or their latest).
            let end = chrono::NaiveDateTime::from(period.end)
                .and_utc()
                .timestamp_micros()
                - 1;
            let unit = org
                .unit_of(id, end)
                .or_else(|| org.current_unit_of(id))
                .map(str::to_owned);
            let mut scopes = vec![(ScopeKind::Person, id.clone())];
            if let Some(unit) = &unit {
                scopes.extend(
                    org.ancestors(unit)
                        .iter()
                        .map(|u| (ScopeKind::Unit, u.id.clone())),
                );
            }
            (
                person_name.to_owned(),
                role.to_owned(),
                Dimension::Agent,
                unit,
                scopes,
                id.clone(),
            )
        }
    };
    // Every peer (and the subject) in one query, so percentiles and ranks share the data.
    let peers = engine
        .query(&Query {
            metrics: Vec::new(),
            by: vec![peer_dimension.clone()],
            grain,
            filters: filters.clone(),
        })
        .await?;
    // The parent's values: its row among every unit of its level (the same question as the
    // peers', so both are usually answered ahead).
    let parent_rows = match parent.as_deref().and_then(|p| org.unit(p)) {
        Some(parent) => engine
            .query(&Query {
                metrics: Vec::new(),
                by: vec![Dimension::Level(parent.level.clone())],
                grain,
                filters: filters.clone(),
            })
            .await?
            .rows
            .into_iter()
            .filter(|r| r.group.get(&parent.level) == Some(&parent.id))
            .collect(),
        None => Vec::new(),
    };
    let dimension = peer_dimension.name().to_owned();
    let is_own = |row: &MetricRow| row.group.get(&dimension) == Some(&own_id);
    let mut lines = Vec::new();
    for metric in engine.config().catalogue.metrics() {
        let own = peers
            .rows
            .iter()
            .find(|r| r.metric == metric.name && is_own(r));
        let peer_values: Vec<f64> = peers
            .rows
            .iter()
            .filter(|r| r.metric == metric.name && !is_own(r) && r.n >= metric.min_sample())
            .filter(|r| !r.group.values().any(|g| g == crate::query::NO_GROUP))
            .filter_map(|r| r.value)
            .collect();
        let parent_value = parent_rows
            .iter()
            .find(|r| r.metric == metric.name)
            .and_then(|r| r.value);
        let target = targets::applicable(targets, &metric.name, &scopes, &period);
        lines.push(line(metric, own, target, parent_value, &peer_values));
    }
    Ok(Scorecard {
        subject: subject.clone(),
        name,
        kind,
        period: period.to_string(),
        parent,
        peers: match subject {
            Subject::Unit(_) => format!("every {}", peer_dimension.name()),
            Subject::Person(_) => "every agent".to_owned(),
        },
        lines,
    })
}

fn line(
    metric: &MetricDefinition,
    own: Option<&MetricRow>,
    target: Option<&Target>,
    parent: Option<f64>,
    peers: &[f64],
) -> ScoreLine {
    let actual = own.and_then(|r| r.value);
    let n = own.map(|r| r.n).unwrap_or(0);
    let gap = match (actual, target) {
        (Some(a), Some(t)) => Some(a - t.value),
        _ => None,
    };
    let status = match (actual, target) {
        (None, _) => Status::NoData,
        // A count or a sum is what it is; a rate or a mean of too few is not judged.
        (Some(_), _)
            if n < metric.min_sample()
                && !matches!(metric.kind, MetricKind::Count | MetricKind::Sum) =>
        {
            Status::InsufficientSample
        }
        (Some(_), None) => Status::NoTarget,
        (Some(a), Some(t)) => match metric.direction {
            Direction::Higher if a >= t.value => Status::Met,
            Direction::Lower if a <= t.value => Status::Met,
            Direction::Neutral => Status::Info,
            _ => Status::Missed,
        },
    };
    // The share of peers this one is ahead of, in the order rankings use (ties count half).
    let ascending = crate::query::ascending(metric);
    let percentile = match actual {
        Some(a) if !peers.is_empty() && n >= metric.min_sample() => {
            let (mut beaten, mut tied) = (0.0, 0.0);
            for &p in peers {
                let better = if ascending { a < p } else { a > p };
                if better {
                    beaten += 1.0;
                } else if a == p {
                    tied += 1.0;
                }
            }
            Some(100.0 * (beaten + 0.5 * tied) / peers.len() as f64)
        }
        _ => None,
    };
    ScoreLine {
        metric: metric.name.clone(),
        label: metric.label.clone(),
        unit: metric.unit,
        direction: metric.direction,
        actual,
        n,
        low: own.and_then(|r| r.low),
        high: own.and_then(|r| r.high),
        previous: own.and_then(|r| r.previous),
        change: own.and_then(|r| r.change),
        p_value: own.and_then(|r| r.p_value),
        target: target.map(|t| t.value),
        target_from: target
            .map(|t| format!("{} {}, {}", t.scope_kind.as_str(), t.scope_id, t.period)),
        gap,
        status,
        endgame: metric.endgame,
        parent,
        percentile,
        rank: own.and_then(|r| r.rank),
        ranked: own.map(|r| r.ranked).unwrap_or(0),
    }
}
