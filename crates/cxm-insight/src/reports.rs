//! The analyses as reports over a data directory's engine: what the CLI prints, the API
//! returns and the pages draw.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use cxm_metrics::{Engine, Filters};
use serde::Serialize;

use crate::InsightError;
use crate::clv::{BgNbd, Fit, GammaGamma, ValueSettings, lifetime_values};
use crate::drivers::{DriverReport, DriverSettings, analyse};
use crate::sources::{Candidates, Outcome, customer_histories, driver_observations, nps_groups};

/// The time unit purchase histories are measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Day,
    Week,
}

impl TimeUnit {
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
        }
    }
}

/// What a CLV report is asked for.
#[derive(Debug, Clone, Serialize)]
pub struct ClvRequest {
    pub filters: Filters,
    /// the end of the purchase histories (default: the latest purchase)
    pub end: Option<NaiveDate>,
    pub unit: TimeUnit,
    pub months: u32,
    pub monthly_discount: f64,
    pub margin: f64,
}

impl Default for ClvRequest {
    fn default() -> Self {
        Self {
            filters: Filters::default(),
            end: None,
            unit: TimeUnit::Week,
            months: 12,
            monthly_discount: 0.01,
            margin: 1.0,
        }
    }
}

/// One customer's value.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerValue {
    pub customer_id: String,
    pub segment: Option<String>,
    pub team_id: Option<String>,
    pub nps_group: Option<&'static str>,
    pub frequency: f64,
    pub recency: f64,
    pub age: f64,
    pub monetary: f64,
    pub probability_alive: f64,
    /// expected purchases over the horizon
    pub expected_purchases: f64,
    /// expected value of a purchase
    pub expected_spend: f64,
    /// discounted margin over the horizon
    pub value: f64,
}

/// Customers of one group (a segment, a team, an NPS group) and their value.
#[derive(Debug, Clone, Serialize)]
pub struct GroupValue {
    pub dimension: &'static str,
    pub group: String,
    pub customers: u64,
    pub total_value: f64,
    pub mean_value: f64,
    pub mean_probability_alive: f64,
    pub expected_purchases: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClvReport {
    pub end: NaiveDate,
    pub unit: TimeUnit,
    pub settings: ValueSettings,
    pub purchases: Fit<BgNbd>,
    pub spend: Fit<GammaGamma>,
    pub customers: u64,
    pub total_value: f64,
    pub mean_value: f64,
    pub groups: Vec<GroupValue>,
    /// every customer, most valuable first
    pub values: Vec<CustomerValue>,
}

/// Fits BG/NBD and Gamma-Gamma on the customers within `request.filters` and values each.
pub async fn clv(engine: &Engine, request: &ClvRequest) -> Result<ClvReport, InsightError> {
    let (end, histories) =
        customer_histories(engine, &request.filters, request.end, request.unit.days()).await?;
    let groups_by_nps = nps_groups(engine, end).await?;
    let settings = ValueSettings {
        months: request.months,
        monthly_discount: request.monthly_discount,
        margin: request.margin,
        units_per_month: ValueSettings::DAYS_PER_MONTH / request.unit.days(),
    };
    let rfm: Vec<_> = histories.iter().map(|h| h.rfm).collect();
    let (purchases, spend, values) = tokio::task::spawn_blocking(move || {
        let purchases = BgNbd::fit(&rfm)?;
        let spend = GammaGamma::fit(&rfm)?;
        let values = lifetime_values(&purchases.model, &spend.model, &rfm, &settings)?;
        Ok::<_, InsightError>((purchases, spend, values))
    })
    .await
    .map_err(|e| InsightError::Engine(format!("the fit stopped: {e}")))??;
    let horizon = f64::from(settings.months) * settings.units_per_month;
    let mut customers: Vec<CustomerValue> = histories
        .into_iter()
        .zip(values)
        .map(|(h, value)| CustomerValue {
            nps_group: groups_by_nps.get(&h.customer_id).copied(),
            probability_alive: purchases.model.probability_alive(&h.rfm),
            expected_purchases: purchases
                .model
                .conditional_expected_purchases(horizon, &h.rfm),
            expected_spend: spend
                .model
                .conditional_expected_spend(&h.rfm)
                .unwrap_or(f64::NAN),
            frequency: h.rfm.frequency,
            recency: h.rfm.recency,
            age: h.rfm.age,
            monetary: h.rfm.monetary,
            customer_id: h.customer_id,
            segment: h.segment,
            team_id: h.team_id,
            value,
        })
        .collect();
    customers.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    let total_value: f64 = customers.iter().map(|c| c.value).sum();
    let mut groups = Vec::new();
    for dimension in ["segment", "team", "nps_group"] {
        let mut by: BTreeMap<String, (u64, f64, f64, f64)> = BTreeMap::new();
        for c in &customers {
            let key = match dimension {
                "segment" => c.segment.clone(),
                "team" => c.team_id.clone(),
                _ => Some(c.nps_group.unwrap_or("no answer").to_owned()),
            }
            .unwrap_or_else(|| "unknown".to_owned());
            let entry = by.entry(key).or_default();
            entry.0 += 1;
            entry.1 += c.value;
            entry.2 += c.probability_alive;
            entry.3 += c.expected_purchases;
        }
        groups.extend(
            by.into_iter()
                .map(|(group, (n, value, alive, purchases))| GroupValue {
                    dimension,
                    group,
                    customers: n,
                    total_value: value,
                    mean_value: value / n as f64,
                    mean_probability_alive: alive / n as f64,
                    expected_purchases: purchases,
                }),
        );
    }
    Ok(ClvReport {
        end,
        unit: request.unit,
        settings,
        customers: customers.len() as u64,
        mean_value: total_value / customers.len().max(1) as f64,
        total_value,
        purchases,
        spend,
        groups,
        values: customers,
    })
}

/// What a driver analysis is asked for.
#[derive(Debug, Clone, Serialize)]
pub struct DriverRequest {
    pub filters: Filters,
    pub outcome: Outcome,
    pub candidates: Candidates,
    pub settings: DriverSettings,
}

/// Key driver analysis of survey answers within `request.filters`.
pub async fn drivers(
    engine: &Engine,
    request: &DriverRequest,
) -> Result<DriverReport, InsightError> {
    let observations = driver_observations(
        engine,
        &request.filters,
        &request.outcome,
        &request.candidates,
    )
    .await?;
    let settings = request.settings;
    Ok(
        tokio::task::spawn_blocking(move || analyse(&observations, &settings))
            .await
            .map_err(|e| InsightError::Engine(format!("the analysis stopped: {e}")))??,
    )
}
