//! An initiative's measured impact: its target metric, week by week, in the teams of its
//! scope against the teams outside it, before and after its start, and the
//! difference-in-differences estimate over those teams (see [`cxm_analysis::impact`]).
//!
//! A team is treated when it lies in the subtree of a unit of the scope; every other team
//! is a control. Each team's value before (after) the start is its metric over the
//! weeks wholly before (from) the start, weighted by the observations behind each week;
//! the week the start falls in is left out. Contacts count for the team the agent was in
//! at the time, as everywhere in the metric engine.

use std::collections::{BTreeMap, HashSet};

use chrono::{Days, NaiveDate};
use cxm_analysis::impact::{Impact, UnitChange, difference_in_differences};
use cxm_domain::metrics::{Grain, Period};
use cxm_metrics::{Dimension, Engine, Filters, Query};
use serde::Serialize;

use crate::InsightError;

/// What to measure.
#[derive(Debug, Clone, Serialize)]
pub struct ImpactRequest {
    pub metric: String,
    /// The units where the initiative is carried out (with their subtrees).
    pub scope: Vec<String>,
    pub start: NaiveDate,
    /// Weeks before the start to compare with.
    pub weeks_before: u32,
    /// Weeks from the start on (fewer when the data ends sooner).
    pub weeks_after: u32,
    /// Observations a team needs on each side of the start to count.
    pub min_n: u64,
    pub confidence: f64,
}

impl ImpactRequest {
    pub fn new(metric: &str, scope: Vec<String>, start: NaiveDate) -> ImpactRequest {
        ImpactRequest {
            metric: metric.to_owned(),
            scope,
            start,
            weeks_before: 12,
            weeks_after: 12,
            min_n: 30,
            confidence: 0.95,
        }
    }
}

/// One week of the trend: the metric in the scope's teams and in the others.
#[derive(Debug, Clone, Serialize)]
pub struct ImpactWeek {
    /// Monday of the ISO week.
    pub week: NaiveDate,
    /// Whether the week is wholly from the start on.
    pub after: bool,
    pub treated: Option<f64>,
    pub control: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpactReport {
    pub metric: String,
    /// Whether a higher value is better (`None`: neither).
    pub higher_is_better: Option<bool>,
    /// The level of the units compared (teams).
    pub level: String,
    pub start: NaiveDate,
    /// First and last day read.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub units: Vec<UnitChange>,
    /// Teams left out for too few observations on one side.
    pub skipped: Vec<String>,
    pub impact: Impact,
    pub weeks: Vec<ImpactWeek>,
}

/// Measures an initiative's impact on its target metric.
pub async fn impact(
    engine: &Engine,
    request: &ImpactRequest,
) -> Result<ImpactReport, InsightError> {
    let definition = engine
        .config()
        .catalogue
        .get(&request.metric)
        .map_err(|e| InsightError::Request(e.to_string()))?;
    let org = engine.organisation();
    if request.scope.is_empty() {
        return Err(InsightError::Request("the scope names no unit".into()));
    }
    for unit in &request.scope {
        if org.unit(unit).is_none() {
            return Err(InsightError::Request(format!(
                "the scope's unit {unit:?} is not in the org tree"
            )));
        }
    }
    // the lowest level of the tree: the teams agents belong to
    let level =
        leaf_level(org).ok_or_else(|| InsightError::Input("the org tree has no units".into()))?;
    let treated: HashSet<&str> = request
        .scope
        .iter()
        .flat_map(|top| org.subtree(top))
        .filter(|u| u.level == level)
        .map(|u| u.id.as_str())
        .collect();
    if treated.is_empty() {
        return Err(InsightError::Request(format!(
            "the scope holds no unit at the {level} level"
        )));
    }
    let (first, last) = engine
        .span()
        .ok_or_else(|| InsightError::Input("there is no data yet".into()))?;
    let start_week = Period::containing(Grain::Week, request.start).start;
    let from = (start_week - Days::new(7 * u64::from(request.weeks_before))).max(first);
    let to = (start_week + Days::new(7 * u64::from(request.weeks_after) + 6)).min(last);
    if request.start <= from || request.start > to {
        return Err(InsightError::Input(format!(
            "the data runs {first} to {last}: there are no weeks on both sides of {}",
            request.start
        )));
    }
    let query = Query {
        metrics: vec![request.metric.clone()],
        by: vec![Dimension::Level(level.clone())],
        grain: Grain::Week,
        filters: Filters {
            from: Some(from),
            to: Some(to),
            ..Filters::default()
        },
    };
    let result = engine.query(&query).await?;
    // (unit → (before sum, before n, after sum, after n)); (week → per side sum and n)
    let mut sides: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    let mut weeks: BTreeMap<NaiveDate, [f64; 4]> = BTreeMap::new();
    for row in &result.rows {
        let (Some(value), Some(unit)) = (row.value, row.group.get(level.as_str())) else {
            continue;
        };
        if row.n == 0 || org.unit(unit).is_none_or(|u| u.level != level) {
            continue;
        }
        let period = Period::parse(&row.period).map_err(InsightError::Engine)?;
        let n = row.n as f64;
        let is_treated = treated.contains(unit.as_str());
        let week = weeks.entry(period.start).or_default();
        let side = if is_treated { 0 } else { 2 };
        week[side] += value * n;
        week[side + 1] += n;
        let slot = if period.end <= request.start {
            0
        } else if period.start >= request.start {
            2
        } else {
            continue;
        };
        let unit_sides = sides.entry(unit.clone()).or_default();
        unit_sides[slot] += value * n;
        unit_sides[slot + 1] += n;
    }
    let mut units = Vec::new();
    let mut skipped = Vec::new();
    for (unit, [before, n_before, after, n_after]) in sides {
        if (n_before as u64) < request.min_n || (n_after as u64) < request.min_n {
            skipped.push(unit);
            continue;
        }
        units.push(UnitChange {
            treated: treated.contains(unit.as_str()),
            unit,
            before: before / n_before,
            after: after / n_after,
            n_before: n_before as u64,
            n_after: n_after as u64,
        });
    }
    let estimate = difference_in_differences(&units, request.confidence)?;
    let mean = |sum: f64, n: f64| (n > 0.0).then(|| sum / n);
    Ok(ImpactReport {
        metric: request.metric.clone(),
        higher_is_better: match definition.direction {
            cxm_domain::metrics::Direction::Higher => Some(true),
            cxm_domain::metrics::Direction::Lower => Some(false),
            cxm_domain::metrics::Direction::Neutral => None,
        },
        level,
        start: request.start,
        from,
        to,
        units,
        skipped,
        impact: estimate,
        weeks: weeks
            .into_iter()
            .map(|(week, [t, tn, c, cn])| ImpactWeek {
                week,
                after: week >= request.start,
                treated: mean(t, tn),
                control: mean(c, cn),
            })
            .collect(),
    })
}

/// The level of the tree's leaves (teams): the most common level of units without
/// children.
fn leaf_level(org: &cxm_metrics::Organisation) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for unit in org.units() {
        if org.children(&unit.id).is_empty() {
            *counts.entry(unit.level.as_str()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(level, _)| level.to_owned())
}
