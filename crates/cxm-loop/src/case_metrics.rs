//! How follow-up cases are handled, per owner, unit or rule: how soon someone acts, how
//! long cases take to close, how many meet their SLA, and how many customers contact us
//! again soon after their case was closed (the fix did not hold).
//!
//! Computed live from the workflow store (cases change all day, independently of the fact
//! tables the metric rollup is built from), with the re-contacts read from the contacts.
//!
//! - **time to first action**: hours from opening to the first change anyone made;
//! - **time to close**: hours from opening to closing, over closed cases;
//! - **SLA met**: among cases resolved or closed, and open ones already past due, the
//!   share settled by their due time (open cases not yet due are not judged);
//! - **re-contact after closure**: among closed cases whose window (default 7 days) has
//!   passed by the latest contact in the data, the share whose customer made a contact
//!   within the window after the closing.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use cxm_catalog::DataDir;
use cxm_domain::stats::{CONFIDENCE, Estimate, wilson};
use cxm_facts::arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use cxm_facts::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use cxm_facts::datafusion::prelude::SessionContext;
use cxm_sql::{Case, CaseFilter, CaseStore};
use serde::Serialize;

use crate::LoopError;

/// What the metrics are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseGrouping {
    Owner,
    Unit,
    Rule,
    /// One row for every case in the filter.
    All,
}

impl CaseGrouping {
    pub fn parse(text: &str) -> Result<CaseGrouping, String> {
        match text {
            "owner" => Ok(CaseGrouping::Owner),
            "unit" => Ok(CaseGrouping::Unit),
            "rule" => Ok(CaseGrouping::Rule),
            "all" => Ok(CaseGrouping::All),
            other => Err(format!(
                "group by {other:?}? expected owner, unit, rule or all"
            )),
        }
    }
}

/// Which cases, and how.
#[derive(Debug, Clone)]
pub struct CaseMetricsRequest {
    /// Which cases (scope, owner, unit, rule); its statuses and limit are ignored.
    pub filter: CaseFilter,
    pub by: CaseGrouping,
    /// Cases opened on these UTC days (inclusive).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub recontact_days: u32,
    pub now: DateTime<Utc>,
}

/// One group's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseMetrics {
    /// The owner's person id, unit id or rule id (`(none)` when a case has none; `all`).
    pub group: String,
    pub opened: u64,
    /// Cases someone acted on.
    pub acted: u64,
    pub first_action_hours_mean: Option<f64>,
    pub first_action_hours_median: Option<f64>,
    pub closed: u64,
    pub close_hours_mean: Option<f64>,
    pub close_hours_median: Option<f64>,
    /// Share of judged cases settled by their due time, with a Wilson interval.
    pub sla_met: Option<Estimate>,
    /// Closed cases whose customer contacted us again within the window.
    pub recontacted: Option<Estimate>,
}

fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn hours(from: &str, to: &str) -> Option<f64> {
    Some((instant(to)? - instant(from)?).num_seconds() as f64 / 3600.0)
}

fn mean_and_median(mut values: Vec<f64>) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (Some(mean), Some(median))
}

/// The numbers of one group of cases; `recontacted` holds the ids of the closed cases
/// whose customer came back within the window, `judged_recontact` those whose window has
/// passed.
pub fn summarise(
    group: String,
    cases: &[&Case],
    recontacted: &HashSet<i64>,
    judged_recontact: &HashSet<i64>,
    now: DateTime<Utc>,
) -> CaseMetrics {
    let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let first: Vec<f64> = cases
        .iter()
        .filter_map(|c| hours(&c.opened_at, c.first_action_at.as_deref()?))
        .collect();
    let close: Vec<f64> = cases
        .iter()
        .filter_map(|c| hours(&c.opened_at, c.closed_at.as_deref()?))
        .collect();
    let (mut judged, mut met) = (0, 0);
    for case in cases {
        let settled = case.resolved_at.as_deref().or(case.closed_at.as_deref());
        match settled {
            Some(at) => {
                judged += 1;
                if instant(at) <= instant(&case.due_at) {
                    met += 1;
                }
            }
            // open and past due: missed; open and not yet due: not judged
            None if instant(&case.due_at) < instant(&now_text) => judged += 1,
            None => {}
        }
    }
    let judged_closed: Vec<i64> = cases
        .iter()
        .map(|c| c.case_id)
        .filter(|id| judged_recontact.contains(id))
        .collect();
    let came_back = judged_closed
        .iter()
        .filter(|id| recontacted.contains(id))
        .count() as u64;
    let (first_mean, first_median) = mean_and_median(first.clone());
    let (close_mean, close_median) = mean_and_median(close.clone());
    CaseMetrics {
        group,
        opened: cases.len() as u64,
        acted: first.len() as u64,
        first_action_hours_mean: first_mean,
        first_action_hours_median: first_median,
        closed: close.len() as u64,
        close_hours_mean: close_mean,
        close_hours_median: close_median,
        sla_met: wilson(met, judged, CONFIDENCE),
        recontacted: wilson(came_back, judged_closed.len() as u64, CONFIDENCE),
    }
}

/// The case metrics of the cases `request` names, one row per group, largest first.
pub async fn case_metrics(
    dir: &DataDir,
    request: &CaseMetricsRequest,
) -> Result<Vec<CaseMetrics>, LoopError> {
    let store = dir.reference().await?;
    let filter = CaseFilter {
        statuses: Vec::new(),
        limit: u32::MAX,
        ..request.filter.clone()
    };
    let cases = store.cases(&filter).await?;
    store.close().await;
    let in_range = |case: &&Case| {
        let day = instant(&case.opened_at).map(|t| t.date_naive());
        request.from.is_none_or(|from| day >= Some(from))
            && request.to.is_none_or(|to| day.is_some_and(|d| d <= to))
    };
    let cases: Vec<&Case> = cases.iter().filter(in_range).collect();
    let (recontacted, judged) = recontacts(dir, &cases, request.recontact_days).await?;
    let mut groups: BTreeMap<String, Vec<&Case>> = BTreeMap::new();
    for case in &cases {
        let key = match request.by {
            CaseGrouping::Owner => case.owner_id.clone(),
            CaseGrouping::Unit => case.unit_id.clone(),
            CaseGrouping::Rule => Some(case.rule_id.clone()),
            CaseGrouping::All => Some("all".to_owned()),
        };
        groups
            .entry(key.unwrap_or_else(|| "(none)".to_owned()))
            .or_default()
            .push(case);
    }
    let mut rows: Vec<CaseMetrics> = groups
        .into_iter()
        .map(|(group, cases)| summarise(group, &cases, &recontacted, &judged, request.now))
        .collect();
    rows.sort_by(|a, b| b.opened.cmp(&a.opened).then_with(|| a.group.cmp(&b.group)));
    Ok(rows)
}

/// Of the closed cases: those whose customer made a contact within `days` after the
/// closing, and those whose window ended by the latest contact in the data.
async fn recontacts(
    dir: &DataDir,
    cases: &[&Case],
    days: u32,
) -> Result<(HashSet<i64>, HashSet<i64>), LoopError> {
    let window = i64::from(days) * crate::DAY_MICROS;
    let closed: Vec<(i64, &str, i64)> = cases
        .iter()
        .filter_map(|c| {
            let at = instant(c.closed_at.as_deref()?)?;
            Some((c.case_id, c.customer_id.as_str(), at.timestamp_micros()))
        })
        .collect();
    if closed.is_empty() {
        return Ok((HashSet::new(), HashSet::new()));
    }
    let ctx = SessionContext::new();
    dir.facts().await?.register(&ctx).await?;
    let horizon = ctx
        .sql("SELECT CAST(MAX(started_at) AS BIGINT) FROM interactions")
        .await?
        .collect()
        .await?;
    let horizon = horizon
        .first()
        .filter(|b| b.num_rows() > 0)
        .map(|b| {
            let column = cxm_facts::arrow::compute::cast(b.column(0), &DataType::Int64)?;
            let values = column.as_primitive::<Int64Type>();
            Ok::<_, LoopError>((!values.is_null(0)).then(|| values.value(0)))
        })
        .transpose()?
        .flatten();
    let Some(horizon) = horizon else {
        return Ok((HashSet::new(), HashSet::new()));
    };
    let judged: HashSet<i64> = closed
        .iter()
        .filter(|(_, _, at)| at + window <= horizon)
        .map(|(id, _, _)| *id)
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("case_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("closed_micros", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(closed.iter().map(|c| c.0))),
            Arc::new(StringArray::from_iter_values(closed.iter().map(|c| c.1))),
            Arc::new(Int64Array::from_iter_values(closed.iter().map(|c| c.2))),
        ],
    )
    .map_err(|e| LoopError::Engine(e.to_string()))?;
    ctx.register_batch("closed_cases", batch)?;
    let sql = format!(
        "SELECT DISTINCT c.case_id FROM closed_cases c JOIN interactions i \
         ON i.customer_id = c.customer_id \
         WHERE CAST(i.started_at AS BIGINT) > c.closed_micros \
         AND CAST(i.started_at AS BIGINT) <= c.closed_micros + {window}"
    );
    let mut recontacted = HashSet::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let ids = cxm_facts::arrow::compute::cast(batch.column(0), &DataType::Int64)?;
        recontacted.extend(ids.as_primitive::<Int64Type>().iter().flatten());
    }
    Ok((recontacted, judged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxm_domain::cases::{CaseStatus, Priority};

    fn case(id: i64, opened: &str, due: &str) -> Case {
        Case {
            case_id: id,
            rule_id: "r".into(),
            customer_id: format!("C{id}"),
            trigger_id: format!("T{id}"),
            triggered_at: opened.into(),
            summary: String::new(),
            agent_id: None,
            unit_id: None,
            owner_id: None,
            priority: Priority::High,
            status: CaseStatus::Open,
            opened_at: opened.into(),
            due_at: due.into(),
            first_action_at: None,
            resolved_at: None,
            closed_at: None,
            root_cause: None,
            customer_reached: None,
            issue_fixed: None,
            version: 1,
        }
    }

    #[test]
    fn times_sla_and_recontacts_by_hand() {
        let now = "2025-03-10T00:00:00Z".parse().unwrap();
        // 1: acted after 2 h, resolved after 20 h (due 24 h), closed after 30 h: met
        let mut a = case(1, "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z");
        a.first_action_at = Some("2025-03-01T02:00:00Z".into());
        a.resolved_at = Some("2025-03-01T20:00:00Z".into());
        a.closed_at = Some("2025-03-02T06:00:00Z".into());
        // 2: acted after 6 h, resolved after 30 h: missed; not closed
        let mut b = case(2, "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z");
        b.first_action_at = Some("2025-03-01T06:00:00Z".into());
        b.resolved_at = Some("2025-03-02T06:00:00Z".into());
        // 3: untouched and past due: missed
        let c = case(3, "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z");
        // 4: untouched, due after now: not judged
        let d = case(4, "2025-03-09T00:00:00Z", "2025-03-12T00:00:00Z");
        // 5: acted after 1 h, closed after 10 h, its customer came back
        let mut e = case(5, "2025-03-01T00:00:00Z", "2025-03-04T00:00:00Z");
        e.first_action_at = Some("2025-03-01T01:00:00Z".into());
        e.closed_at = Some("2025-03-01T10:00:00Z".into());
        let all = [&a, &b, &c, &d, &e];
        let judged: HashSet<i64> = [1, 5].into();
        let back: HashSet<i64> = [5].into();
        let m = summarise("all".into(), &all, &back, &judged, now);
        assert_eq!((m.opened, m.acted, m.closed), (5, 3, 2));
        assert_eq!(m.first_action_hours_mean, Some(3.0));
        assert_eq!(m.first_action_hours_median, Some(2.0));
        assert_eq!(m.close_hours_mean, Some(20.0));
        assert_eq!(m.close_hours_median, Some(20.0));
        let sla = m.sla_met.unwrap();
        // judged: 1 (met), 2 (missed), 3 (missed), 5 (closed by due: met)
        assert_eq!((sla.n, sla.value), (4, 0.5));
        let back = m.recontacted.unwrap();
        assert_eq!((back.n, back.value), (2, 0.5));
    }
}
