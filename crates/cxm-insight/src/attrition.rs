//! Attrition: churn rates by period, segment and team (the metric engine's
//! `attrition_rate`), retention curves by experience group (Kaplan–Meier), and churn
//! drivers with the driver-analysis machinery.

use std::collections::{BTreeMap, HashMap};

use cxm_catalog::DataDir;
use cxm_domain::metrics::Grain;
use cxm_metrics::{Dimension, Engine, Filters, MetricRow, Query};
use serde::Serialize;

use crate::InsightError;
use crate::drivers::{Direction, Driver, DriverReport, DriverSettings, Observations, analyse};
use crate::sources::{collect, facts_session, nps_group, numbers, strings};
use crate::survival::{Spell, SurvivalPoint, kaplan_meier};

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// One experience group's retention curve.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionCurve {
    /// `nps_group` or `low_csat`
    pub dimension: &'static str,
    pub group: String,
    pub customers: u64,
    pub churned: u64,
    /// days since the customer's observation began → share retained
    pub points: Vec<SurvivalPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttritionReport {
    /// attrition_rate per month
    pub by_month: Vec<MetricRow>,
    pub by_segment: Vec<MetricRow>,
    pub by_team: Vec<MetricRow>,
    pub curves: Vec<RetentionCurve>,
    /// what a customer's experience says about their churning (linear probability model)
    pub drivers: Option<DriverReport>,
    /// why the churn drivers could not be analysed
    pub drivers_note: Option<String>,
}

/// A customer's experience and whether they churned.
#[derive(Debug, Clone, Default)]
struct Customer {
    start: Option<f64>,
    churned_at: Option<f64>,
    contacts: f64,
    repeats: f64,
    hold_seconds: f64,
    complaints: f64,
    answers: f64,
    low: f64,
    top: f64,
    nps: Option<f64>,
}

pub async fn attrition(
    dir: &DataDir,
    engine: &Engine,
    filters: &Filters,
    settings: &DriverSettings,
) -> Result<AttritionReport, InsightError> {
    let query = |by: Vec<Dimension>, grain: Grain| Query {
        metrics: vec!["attrition_rate".into()],
        by,
        grain,
        filters: filters.clone(),
    };
    let by_month = engine.query(&query(vec![], Grain::Month)).await?.rows;
    let by_segment = engine
        .query(&query(vec![Dimension::Segment], Grain::All))
        .await?
        .rows;
    let by_team = engine
        .query(&query(vec![Dimension::Level("team".into())], Grain::All))
        .await?
        .rows;

    // Customers and their experience within the filters.
    let condition = engine.condition(filters)?;
    let mut customers: HashMap<String, Customer> = HashMap::new();
    let sql = format!(
        "SELECT customer_id, COUNT(*) AS contacts, SUM(CASE WHEN is_repeat THEN 1 ELSE 0 END) AS repeats, \
                AVG(hold_seconds) AS hold, SUM(CASE WHEN complaint THEN 1 ELSE 0 END) AS complaints, \
                MIN(CAST(started_at AS BIGINT)) AS first_contact \
         FROM contacts WHERE {condition} GROUP BY customer_id"
    );
    for batch in collect(engine, &sql).await? {
        let ids = strings(&batch, "customer_id")?;
        let [contacts, repeats, hold, complaints, first] =
            ["contacts", "repeats", "hold", "complaints", "first_contact"]
                .map(|c| numbers(&batch, c));
        let (contacts, repeats, hold, complaints, first) =
            (contacts?, repeats?, hold?, complaints?, first?);
        for (i, id) in ids.into_iter().enumerate() {
            let Some(id) = id else { continue };
            let c = customers.entry(id).or_default();
            c.contacts = contacts[i];
            c.repeats = repeats[i];
            c.hold_seconds = hold[i];
            c.complaints = complaints[i];
            c.start = Some(first[i]);
        }
    }
    let sql = format!(
        "SELECT customer_id, COUNT(csat) AS answers, SUM(CASE WHEN csat <= 2 THEN 1 ELSE 0 END) AS low, \
                SUM(CASE WHEN csat = 5 THEN 1 ELSE 0 END) AS top, \
                first_value(nps ORDER BY CASE WHEN nps IS NULL THEN 1 ELSE 0 END, answered_at DESC) AS nps \
         FROM surveys WHERE {condition} GROUP BY customer_id"
    );
    for batch in collect(engine, &sql).await? {
        let ids = strings(&batch, "customer_id")?;
        let (answers, low, top, nps) = (
            numbers(&batch, "answers")?,
            numbers(&batch, "low")?,
            numbers(&batch, "top")?,
            numbers(&batch, "nps")?,
        );
        for (i, id) in ids.into_iter().enumerate() {
            if let Some(c) = id.and_then(|id| customers.get_mut(&id)) {
                c.answers = answers[i];
                c.low = low[i];
                c.top = top[i];
                c.nps = nps[i].is_finite().then_some(nps[i]);
            }
        }
    }
    // Churn events come from the fact table.
    let ctx = facts_session(dir).await?;
    let churns = ctx
        .sql(
            "SELECT customer_id, CAST(MIN(occurred_at) AS BIGINT) AS churned_at \
             FROM customer_events WHERE kind = 'churned' GROUP BY customer_id",
        )
        .await?
        .collect()
        .await?;
    for batch in churns {
        let ids = strings(&batch, "customer_id")?;
        let at = numbers(&batch, "churned_at")?;
        for (id, at) in ids.into_iter().zip(at) {
            if let Some(c) = id.and_then(|id| customers.get_mut(&id))
                && c.start.is_some_and(|start| at >= start)
            {
                c.churned_at = Some(at);
            }
        }
    }
    let horizon = engine
        .horizon()
        .map(|h| h.timestamp_micros() as f64)
        .ok_or_else(|| InsightError::Input("no contacts are stored".into()))?;

    // Retention from each customer's first contact, by experience group.
    let mut groups: BTreeMap<(&'static str, String), Vec<Spell>> = BTreeMap::new();
    for c in customers.values() {
        let Some(start) = c.start else { continue };
        let end = c.churned_at.unwrap_or(horizon);
        let spell = Spell {
            duration: ((end - start) / MICROS_PER_DAY).max(0.0),
            churned: c.churned_at.is_some(),
        };
        let nps = c.nps.map_or("no answer", nps_group).to_owned();
        groups.entry(("nps_group", nps)).or_default().push(spell);
        if c.answers > 0.0 {
            let low = if c.low > 0.0 {
                "had a csat of 1-2"
            } else {
                "no csat of 1-2"
            };
            groups
                .entry(("low_csat", low.to_owned()))
                .or_default()
                .push(spell);
        }
    }
    let mut curves = Vec::new();
    for ((dimension, group), spells) in groups {
        curves.push(RetentionCurve {
            dimension,
            group,
            customers: spells.len() as u64,
            churned: spells.iter().filter(|s| s.churned).count() as u64,
            points: kaplan_meier(&spells, settings.confidence)?,
        });
    }

    // Churn drivers among customers with answers: churned (1) or not (0).
    let answered: Vec<&Customer> = customers.values().filter(|c| c.answers > 0.0).collect();
    let driver = |name: &str, direction, value: &dyn Fn(&Customer) -> f64| Driver {
        name: name.to_owned(),
        values: answered.iter().map(|c| value(c)).collect(),
        direction,
    };
    let observations = Observations {
        outcome: "churned".into(),
        values: answered
            .iter()
            .map(|c| f64::from(u8::from(c.churned_at.is_some())))
            .collect(),
        drivers: vec![
            driver("low_csat_share", Direction::LowerIsBetter, &|c| {
                c.low / c.answers
            }),
            driver("top_csat_share", Direction::HigherIsBetter, &|c| {
                c.top / c.answers
            }),
            driver("repeat_contact_share", Direction::LowerIsBetter, &|c| {
                c.repeats / c.contacts
            }),
            driver("hold_seconds", Direction::LowerIsBetter, &|c| {
                c.hold_seconds
            }),
            driver("complaint_share", Direction::LowerIsBetter, &|c| {
                c.complaints / c.contacts
            }),
        ],
    };
    let settings = *settings;
    let analysed = tokio::task::spawn_blocking(move || analyse(&observations, &settings))
        .await
        .map_err(|e| InsightError::Engine(format!("the analysis stopped: {e}")))?;
    let (drivers, drivers_note) = match analysed {
        Ok(report) => (Some(report), None),
        Err(error) => (None, Some(error.to_string())),
    };
    Ok(AttritionReport {
        by_month,
        by_segment,
        by_team,
        curves,
        drivers,
        drivers_note,
    })
}
