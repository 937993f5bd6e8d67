//! Biggest movers: the groups (units, agents, …) whose metric changed most since the
//! previous period, for the better and for the worse. Only groups that reach the metric's
//! minimum sample and had a value in the previous period take part, and metrics without a
//! better direction (such as handle time) have no movers.

use cxm_domain::metrics::{Direction, MetricDefinition};
use serde::Serialize;

use crate::query::{MetricRow, NO_GROUP};

/// One group's change of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    /// The group (unit id, agent id, …).
    pub group: String,
    pub value: f64,
    pub previous: f64,
    /// value − previous.
    pub change: f64,
    /// Two-sided p-value of the change, when the metric has a test.
    pub p_value: Option<f64>,
    pub n: u64,
}

/// The groups of `dimension` in `rows` whose `metric` improved most and worsened most (at
/// most `limit` of each, largest change first).
pub fn movers(
    rows: &[MetricRow],
    metric: &MetricDefinition,
    dimension: &str,
    limit: usize,
) -> (Vec<Mover>, Vec<Mover>) {
    let sign = match metric.direction {
        Direction::Higher => 1.0,
        Direction::Lower => -1.0,
        Direction::Neutral => return (Vec::new(), Vec::new()),
    };
    let mut all: Vec<Mover> = rows
        .iter()
        .filter(|row| row.metric == metric.name && row.n >= metric.min_sample())
        .filter_map(|row| {
            let group = row.group.get(dimension)?;
            if group == NO_GROUP {
                return None;
            }
            let (value, previous) = (row.value?, row.previous?);
            Some(Mover {
                group: group.clone(),
                value,
                previous,
                change: value - previous,
                p_value: row.p_value,
                n: row.n,
            })
        })
        .collect();
    // Largest improvement first; ties by group, so the order is stable.
    all.sort_by(|a, b| {
        (sign * b.change)
            .total_cmp(&(sign * a.change))
            .then_with(|| a.group.cmp(&b.group))
    });
    let improved: Vec<Mover> = all
        .iter()
        .filter(|m| sign * m.change > 0.0)
        .take(limit)
        .cloned()
        .collect();
    let worsened: Vec<Mover> = all
        .iter()
        .rev()
        .filter(|m| sign * m.change < 0.0)
        .take(limit)
        .cloned()
        .collect();
    (improved, worsened)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cxm_domain::metrics::Catalogue;

    use super::*;

    fn row(metric: &str, team: &str, value: f64, previous: Option<f64>, n: u64) -> MetricRow {
        MetricRow {
            metric: metric.to_owned(),
            period: "2025-03".to_owned(),
            group: BTreeMap::from([("team".to_owned(), team.to_owned())]),
            value: Some(value),
            n,
            low: None,
            high: None,
            previous,
            change: previous.map(|p| value - p),
            p_value: Some(0.01),
            rank: None,
            ranked: 0,
        }
    }

    #[test]
    fn movers_follow_the_metric_direction_and_skip_small_or_new_groups() {
        let catalogue = Catalogue::builtin();
        let rows = vec![
            row("repeat_contact_rate", "T1", 0.10, Some(0.20), 100), // improved by 0.10
            row("repeat_contact_rate", "T2", 0.30, Some(0.25), 100), // worsened by 0.05
            row("repeat_contact_rate", "T3", 0.15, Some(0.17), 100), // improved by 0.02
            row("repeat_contact_rate", "T4", 0.50, Some(0.10), 5),   // too small
            row("repeat_contact_rate", "T5", 0.50, None, 100),       // no previous
            row("repeat_contact_rate", NO_GROUP, 0.90, Some(0.1), 100),
            row("csat", "T6", 0.1, Some(0.9), 100), // another metric
            row("repeat_contact_rate", "T7", 0.40, Some(0.20), 100), // worsened by 0.20
        ];
        let metric = catalogue.get("repeat_contact_rate").unwrap();
        let (improved, worsened) = movers(&rows, metric, "team", 5);
        let groups = |m: &[Mover]| m.iter().map(|m| m.group.clone()).collect::<Vec<_>>();
        assert_eq!(groups(&improved), ["T1", "T3"]);
        assert_eq!(groups(&worsened), ["T7", "T2"]);
        assert!((improved[0].change + 0.10).abs() < 1e-12);
        let (improved, worsened) = movers(&rows, metric, "team", 1);
        assert_eq!(
            (groups(&improved), groups(&worsened)),
            (vec!["T1".to_owned()], vec!["T7".to_owned()])
        );
        let csat = catalogue.get("csat").unwrap();
        let (improved, worsened) = movers(&rows, csat, "team", 5);
        assert!(improved.is_empty());
        assert_eq!(groups(&worsened), ["T6"]);
        let handle = catalogue.get("handle_seconds").unwrap();
        assert_eq!(movers(&rows, handle, "team", 5), (Vec::new(), Vec::new()));
    }
}
