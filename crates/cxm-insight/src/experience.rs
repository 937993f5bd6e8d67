//! Experience → money. Customers are grouped by the experience they had before a cut date
//! (their latest NPS group, their lowest CSAT answer, whether they made a repeat contact
//! or a complaint); the report compares what each group did in the follow-up window
//! after it: purchases, net revenue and attrition, the revenue their attrition puts at
//! risk and the value of moving one group to another (see
//! [`cxm_analysis::experience`]).
//!
//! Customers count when they had a contact in the year before the cut within the filters
//! (the unit, channel, segment, … and the date range bound the experiences) and had not
//! churned by the cut. Experiences are the contacts of local days in that year and the
//! answers given before the cut's local midnight.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate, TimeZone};
use cxm_catalog::DataDir;
use cxm_metrics::derive::days_since_epoch;
use cxm_metrics::{Engine, Filters};
use serde::Serialize;

use crate::InsightError;
use crate::sources::{collect, facts_session, nps_group, numbers, strings};
use cxm_analysis::experience::{Comparison, FollowUp, compare};

/// What an experience-value report is asked for.
#[derive(Debug, Clone, Serialize)]
pub struct ExperienceRequest {
    pub filters: Filters,
    /// experiences before this day, behaviour from it on (default: `follow_days` before
    /// the last day with data)
    pub cut: Option<NaiveDate>,
    pub follow_days: u32,
    pub confidence: f64,
}

impl Default for ExperienceRequest {
    fn default() -> Self {
        ExperienceRequest {
            filters: Filters::default(),
            cut: None,
            follow_days: 180,
            confidence: 0.95,
        }
    }
}

/// One way of grouping customers by experience and how the groups compare.
#[derive(Debug, Clone, Serialize)]
pub struct ExperienceDimension {
    /// `nps_group`, `lowest_csat`, `repeat_contact` or `complaint`
    pub dimension: &'static str,
    /// customers with this kind of experience (e.g. those who answered an NPS survey)
    pub customers: u64,
    pub comparison: Comparison,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExperienceReport {
    pub cut: NaiveDate,
    /// first day after the follow-up window
    pub follow_end: NaiveDate,
    /// days in the follow-up window (shorter than asked when the data ends sooner)
    pub follow_days: i64,
    pub customers: u64,
    pub dimensions: Vec<ExperienceDimension>,
}

/// A customer's experience before the cut and behaviour after it.
#[derive(Debug, Default)]
struct Customer {
    repeat: bool,
    complaint: bool,
    lowest_csat: Option<f64>,
    nps: Option<f64>,
    purchases: f64,
    revenue: f64,
    prior_revenue: f64,
    churned: bool,
}

pub async fn experience_value(
    dir: &DataDir,
    engine: &Engine,
    request: &ExperienceRequest,
) -> Result<ExperienceReport, InsightError> {
    if request.follow_days == 0 {
        return Err(InsightError::Request(
            "the follow-up window needs at least one day".into(),
        ));
    }
    let (_, last_day) = engine
        .span()
        .ok_or_else(|| InsightError::Input("no contacts are stored".into()))?;
    // the first local day after the data
    let data_end = last_day + Duration::days(1);
    let cut = request.cut.unwrap_or_else(|| {
        data_end
            .checked_sub_signed(Duration::days(i64::from(request.follow_days)))
            .unwrap_or(NaiveDate::MIN)
    });
    let follow_end = cut
        .checked_add_signed(Duration::days(i64::from(request.follow_days)))
        .unwrap_or(NaiveDate::MAX)
        .min(data_end);
    if follow_end <= cut {
        return Err(InsightError::Input(format!(
            "no data after the cut {cut}: nothing to follow up"
        )));
    }
    let (cut_day, end_day) = (days_since_epoch(cut), days_since_epoch(follow_end));
    let since_day = cut_day - 365;
    // days are local to the organisation's zone; events carry instants
    let zone = engine.config().settings.zone()?;
    let local_midnight = |day: NaiveDate| {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        zone.from_local_datetime(&midnight)
            .earliest()
            .map_or(midnight.and_utc().timestamp_micros(), |t| {
                t.timestamp_micros()
            })
    };
    let (cut_micros, end_micros) = (local_midnight(cut), local_midnight(follow_end));
    let condition = engine.condition(&request.filters)?;

    // Experiences before the cut.
    let mut customers: HashMap<String, Customer> = HashMap::new();
    let sql = format!(
        "SELECT customer_id, MAX(CASE WHEN is_repeat THEN 1 ELSE 0 END) AS repeat, \
                MAX(CASE WHEN complaint THEN 1 ELSE 0 END) AS complaint \
         FROM contacts WHERE ({condition}) AND CAST(day AS INT) >= {since_day} \
           AND CAST(day AS INT) < {cut_day} GROUP BY customer_id"
    );
    for batch in collect(engine, &sql).await? {
        let ids = strings(&batch, "customer_id")?;
        let (repeat, complaint) = (numbers(&batch, "repeat")?, numbers(&batch, "complaint")?);
        for (i, id) in ids.into_iter().enumerate() {
            if let Some(id) = id {
                customers.insert(
                    id,
                    Customer {
                        repeat: repeat[i] > 0.0,
                        complaint: complaint[i] > 0.0,
                        ..Customer::default()
                    },
                );
            }
        }
    }
    if customers.is_empty() {
        return Err(InsightError::Input(format!(
            "no customers had a contact in the year before {cut} within the filters"
        )));
    }
    let sql = format!(
        "SELECT customer_id, MIN(csat) AS lowest_csat, \
                first_value(nps ORDER BY CASE WHEN nps IS NULL THEN 1 ELSE 0 END, answered_at DESC) AS nps \
         FROM surveys WHERE ({condition}) AND CAST(day AS INT) >= {since_day} \
           AND CAST(answered_at AS BIGINT) < {cut_micros} GROUP BY customer_id"
    );
    for batch in collect(engine, &sql).await? {
        let ids = strings(&batch, "customer_id")?;
        let (csat, nps) = (numbers(&batch, "lowest_csat")?, numbers(&batch, "nps")?);
        for (i, id) in ids.into_iter().enumerate() {
            if let Some(c) = id.and_then(|id| customers.get_mut(&id)) {
                c.lowest_csat = csat[i].is_finite().then_some(csat[i]);
                c.nps = nps[i].is_finite().then_some(nps[i]);
            }
        }
    }

    // Purchases and net revenue: the year before the cut and the follow-up window.
    let sql = format!(
        "SELECT customer_id, \
                SUM(CASE WHEN d >= {cut_day} AND kind = 'purchase' THEN 1 ELSE 0 END) AS purchases, \
                SUM(CASE WHEN d >= {cut_day} THEN net ELSE 0 END) AS revenue, \
                SUM(CASE WHEN d < {cut_day} THEN net ELSE 0 END) AS prior \
         FROM (SELECT customer_id, kind, CAST(day AS INT) AS d, \
                      CASE WHEN kind = 'refund' THEN -CAST(amount AS DOUBLE) ELSE CAST(amount AS DOUBLE) END AS net \
               FROM transactions) \
         WHERE d >= {since_day} AND d < {end_day} GROUP BY customer_id"
    );
    for batch in collect(engine, &sql).await? {
        let ids = strings(&batch, "customer_id")?;
        let (purchases, revenue, prior) = (
            numbers(&batch, "purchases")?,
            numbers(&batch, "revenue")?,
            numbers(&batch, "prior")?,
        );
        for (i, id) in ids.into_iter().enumerate() {
            if let Some(c) = id.and_then(|id| customers.get_mut(&id)) {
                c.purchases = purchases[i];
                c.revenue = revenue[i];
                c.prior_revenue = prior[i];
            }
        }
    }

    // Attrition: customers gone by the cut leave the comparison; churns in the window count.
    let ctx = facts_session(dir).await?;
    let gone: HashSet<String> = {
        let sql = format!(
            "SELECT customer_id, first_value(kind ORDER BY occurred_at DESC) AS last_kind \
             FROM customer_events WHERE CAST(occurred_at AS BIGINT) < {cut_micros} GROUP BY customer_id"
        );
        let mut gone = HashSet::new();
        for batch in ctx.sql(&sql).await?.collect().await? {
            let ids = strings(&batch, "customer_id")?;
            let kinds = strings(&batch, "last_kind")?;
            for (id, kind) in ids.into_iter().zip(kinds) {
                if let (Some(id), Some("churned")) = (id, kind.as_deref()) {
                    gone.insert(id);
                }
            }
        }
        gone
    };
    customers.retain(|id, _| !gone.contains(id));
    let sql = format!(
        "SELECT DISTINCT customer_id FROM customer_events WHERE kind = 'churned' \
         AND CAST(occurred_at AS BIGINT) >= {cut_micros} AND CAST(occurred_at AS BIGINT) < {end_micros}"
    );
    for batch in ctx.sql(&sql).await?.collect().await? {
        for id in strings(&batch, "customer_id")?.into_iter().flatten() {
            if let Some(c) = customers.get_mut(&id) {
                c.churned = true;
            }
        }
    }
    if customers.is_empty() {
        return Err(InsightError::Input(format!(
            "every customer with a contact before {cut} had churned by then"
        )));
    }

    // Sorted for a result that does not depend on hash order.
    let mut ordered: Vec<(&String, &Customer)> = customers.iter().collect();
    ordered.sort_by(|a, b| a.0.cmp(b.0));
    let dimensions = [
        (
            "nps_group",
            ["detractor", "passive", "promoter"].as_slice(),
            (|c: &Customer| {
                c.nps.map(|score| match nps_group(score) {
                    "detractor" => 0,
                    "passive" => 1,
                    _ => 2,
                })
            }) as fn(&Customer) -> Option<usize>,
        ),
        (
            "lowest_csat",
            ["1-2", "3", "4-5"].as_slice(),
            |c: &Customer| {
                c.lowest_csat.map(|csat| match csat {
                    x if x <= 2.0 => 0,
                    x if x < 4.0 => 1,
                    _ => 2,
                })
            },
        ),
        (
            "repeat_contact",
            ["had a repeat contact", "no repeat contact"].as_slice(),
            |c: &Customer| Some(usize::from(!c.repeat)),
        ),
        (
            "complaint",
            ["made a complaint", "no complaint"].as_slice(),
            |c: &Customer| Some(usize::from(!c.complaint)),
        ),
    ];
    let mut report = Vec::new();
    for (dimension, groups, group_of) in dimensions {
        let follow_ups: Vec<FollowUp> = ordered
            .iter()
            .filter_map(|(_, c)| {
                group_of(c).map(|group| FollowUp {
                    group,
                    purchases: c.purchases,
                    revenue: c.revenue,
                    churned: c.churned,
                    prior_revenue: c.prior_revenue,
                })
            })
            .collect();
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        report.push(ExperienceDimension {
            dimension,
            customers: follow_ups.len() as u64,
            comparison: compare(&groups, &follow_ups, request.confidence)?,
        });
    }
    Ok(ExperienceReport {
        cut,
        follow_end,
        follow_days: i64::from(end_day - cut_day),
        customers: customers.len() as u64,
        dimensions: report,
    })
}
