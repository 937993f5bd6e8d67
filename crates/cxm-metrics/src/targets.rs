//! Targets: validating new ones and finding the one that applies to a scope and period.
//!
//! A target is set for a metric, a scope (an org unit or a person) and a period label
//! (`2025`, `2025-Q1`, `2025-03`, …, or `*` for every period). For a scorecard the scope's
//! own targets come first, then its parent units' (a company-wide endgame applies to every
//! team that has none of its own); within a scope the shortest period covering the
//! scorecard's period wins.

use cxm_domain::metrics::{Catalogue, MetricUnit, Period};
use cxm_sql::{ScopeKind, Target};

use crate::{MetricsError, Organisation};

/// Checks a target before it is stored.
/// The stored form of a target's period label: `*`, or the period as it prints
/// (`2025-3` and `2025-03` name the same month, and one target).
pub fn canonical_period(label: &str) -> Result<String, MetricsError> {
    let label = label.trim();
    if label == "*" {
        return Ok(label.to_owned());
    }
    Ok(Period::parse(label)
        .map_err(MetricsError::Invalid)?
        .to_string())
}

pub fn validate(
    catalogue: &Catalogue,
    org: &Organisation,
    target: &Target,
) -> Result<(), MetricsError> {
    let metric = catalogue.get(&target.metric)?;
    match target.scope_kind {
        ScopeKind::Unit if org.unit(&target.scope_id).is_none() => {
            return Err(MetricsError::UnknownUnit(target.scope_id.clone()));
        }
        ScopeKind::Person if org.person(&target.scope_id).is_none() => {
            return Err(MetricsError::UnknownPerson(target.scope_id.clone()));
        }
        _ => {}
    }
    if target.period != "*" {
        Period::parse(&target.period).map_err(MetricsError::Invalid)?;
    }
    if !target.value.is_finite() {
        return Err(MetricsError::Invalid(format!(
            "target value {} is not a number",
            target.value
        )));
    }
    let range = match metric.unit {
        MetricUnit::Share => Some((0.0, 1.0, "a share between 0 and 1 (0.9 for 90%)")),
        MetricUnit::Points => Some((-100.0, 100.0, "between -100 and 100")),
        MetricUnit::Count | MetricUnit::Seconds => Some((0.0, f64::INFINITY, "not negative")),
        _ => None,
    };
    if let Some((low, high, expected)) = range
        && !(low..=high).contains(&target.value)
    {
        return Err(MetricsError::Invalid(format!(
            "target {} for {} must be {expected}",
            target.value, metric.name
        )));
    }
    Ok(())
}

fn covers(label: &str, period: &Period) -> Option<i64> {
    if label == "*" {
        return Some(i64::MAX);
    }
    let covering = Period::parse(label).ok()?;
    (covering.start <= period.start && period.end <= covering.end)
        .then(|| (covering.end - covering.start).num_days())
}

/// The target of `metric` for the first of `scopes` (most specific first) that has one
/// covering `period`.
pub fn applicable<'a>(
    targets: &'a [Target],
    metric: &str,
    scopes: &[(ScopeKind, String)],
    period: &Period,
) -> Option<&'a Target> {
    scopes.iter().find_map(|(kind, id)| {
        targets
            .iter()
            .filter(|t| t.metric == metric && t.scope_kind == *kind && t.scope_id == *id)
            .filter_map(|t| covers(&t.period, period).map(|length| (length, t)))
            .min_by_key(|(length, _)| *length)
            .map(|(_, t)| t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(scope: &str, period: &str, value: f64) -> Target {
        Target {
            metric: "csat".into(),
            scope_kind: ScopeKind::Unit,
            scope_id: scope.into(),
            period: period.into(),
            value,
            set_at: String::new(),
        }
    }

    #[test]
    fn the_most_specific_target_applies() {
        let targets = vec![
            target("CO", "*", 1.0),
            target("T1", "2025", 0.8),
            target("T1", "2025-Q1", 0.82),
            target("T1", "2024", 0.7),
        ];
        let scopes = vec![
            (ScopeKind::Unit, "T1".to_owned()),
            (ScopeKind::Unit, "CO".to_owned()),
        ];
        let march = Period::parse("2025-03").unwrap();
        assert_eq!(
            applicable(&targets, "csat", &scopes, &march).unwrap().value,
            0.82
        );
        let june = Period::parse("2025-06").unwrap();
        assert_eq!(
            applicable(&targets, "csat", &scopes, &june).unwrap().value,
            0.8
        );
        let later = Period::parse("2026-01").unwrap();
        assert_eq!(
            applicable(&targets, "csat", &scopes, &later).unwrap().value,
            1.0,
            "the company's endgame applies when the team has none"
        );
        assert!(applicable(&targets, "nps", &scopes, &march).is_none());
    }
}
