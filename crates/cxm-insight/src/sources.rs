//! The analyses' inputs, read from the metric engine's derived tables: customers'
//! purchase histories for CLV, and survey answers joined to their contacts for driver
//! analysis. Scoped by the same filters as every metric.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use cxm_facts::arrow::array::{Array, AsArray, RecordBatch};
use cxm_facts::arrow::compute::cast;
use cxm_facts::arrow::datatypes::DataType;
use cxm_metrics::derive::{date_of_day, days_since_epoch};
use cxm_metrics::{Engine, Filters, MetricsError};
use serde::Serialize;

use crate::InsightError;
use crate::clv::Rfm;
use crate::drivers::{Direction, Driver, Observations};

impl From<cxm_facts::datafusion::error::DataFusionError> for InsightError {
    fn from(error: cxm_facts::datafusion::error::DataFusionError) -> Self {
        InsightError::Engine(error.to_string())
    }
}

/// A session over the stored fact tables (customer events are not among the derived ones).
pub(crate) async fn facts_session(
    dir: &cxm_catalog::DataDir,
) -> Result<cxm_facts::datafusion::prelude::SessionContext, InsightError> {
    let ctx = cxm_facts::datafusion::prelude::SessionContext::new();
    dir.facts()
        .await
        .map_err(|e| InsightError::Engine(e.to_string()))?
        .register(&ctx)
        .await
        .map_err(|e| InsightError::Engine(e.to_string()))?;
    Ok(ctx)
}

pub(crate) async fn collect(engine: &Engine, sql: &str) -> Result<Vec<RecordBatch>, InsightError> {
    let ctx = engine.derived_session().await?;
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// A column as f64 values (NULL → NaN).
pub(crate) fn numbers(batch: &RecordBatch, name: &str) -> Result<Vec<f64>, InsightError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| InsightError::Engine(format!("no column {name}")))?;
    let column = cast(column, &DataType::Float64)
        .map_err(|e| InsightError::Engine(format!("{name} as a number: {e}")))?;
    let values = column.as_primitive::<cxm_facts::arrow::datatypes::Float64Type>();
    Ok((0..values.len())
        .map(|i| {
            if values.is_null(i) {
                f64::NAN
            } else {
                values.value(i)
            }
        })
        .collect())
}

pub(crate) fn strings(
    batch: &RecordBatch,
    name: &str,
) -> Result<Vec<Option<String>>, InsightError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| InsightError::Engine(format!("no column {name}")))?;
    let column = cast(column, &DataType::Utf8)
        .map_err(|e| InsightError::Engine(format!("{name} as text: {e}")))?;
    let values = column.as_string::<i32>();
    Ok((0..values.len())
        .map(|i| (!values.is_null(i)).then(|| values.value(i).to_owned()))
        .collect())
}

/// One customer's purchase history and where they belong.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerHistory {
    pub customer_id: String,
    pub rfm: Rfm,
    pub segment: Option<String>,
    pub region: Option<String>,
    /// the team their latest purchase is attributed to (their last contact's)
    pub team_id: Option<String>,
}

/// Purchase histories of every customer with a purchase up to `end` (default: the day
/// of the latest purchase), time in units of `days_per_unit` days. Same-day purchases
/// count as one; refunds and zero amounts are left out. Customers are kept when the team
/// of their latest purchase lies in `filters`' unit (all customers without a unit
/// filter), and in its segments and regions.
pub async fn customer_histories(
    engine: &Engine,
    filters: &Filters,
    end: Option<NaiveDate>,
    days_per_unit: f64,
) -> Result<(NaiveDate, Vec<CustomerHistory>), InsightError> {
    let end_day = match end {
        Some(end) => days_since_epoch(end),
        None => {
            let batches = collect(
                engine,
                "SELECT CAST(MAX(day) AS INT) AS last FROM transactions \
                 WHERE kind = 'purchase' AND amount > 0",
            )
            .await?;
            let last = batches
                .first()
                .map(|b| numbers(b, "last"))
                .transpose()?
                .and_then(|v| v.first().copied())
                .filter(|v| v.is_finite())
                .ok_or_else(|| InsightError::Input("no purchases are stored".into()))?;
            last as i32
        }
    };
    let sql = format!(
        "WITH days AS ( \
           SELECT customer_id, CAST(day AS INT) AS d, SUM(CAST(amount AS DOUBLE)) AS value, \
                  first_value(team_id ORDER BY occurred_at DESC) AS team_id, \
                  MAX(segment) AS segment, MAX(region) AS region \
           FROM transactions \
           WHERE kind = 'purchase' AND amount > 0 AND CAST(day AS INT) <= {end_day} \
           GROUP BY customer_id, CAST(day AS INT)), \
         ranked AS ( \
           SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY d) AS k FROM days) \
         SELECT customer_id, COUNT(*) - 1 AS frequency, MIN(d) AS first_day, MAX(d) AS last_day, \
                SUM(CASE WHEN k > 1 THEN value ELSE 0 END) AS repeat_value, \
                first_value(team_id ORDER BY d DESC) AS team_id, \
                MAX(segment) AS segment, MAX(region) AS region \
         FROM ranked GROUP BY customer_id ORDER BY customer_id"
    );
    let org = engine.organisation();
    // customers' segment and region come with their purchases (the derived table has them)
    let in_unit: Option<Vec<String>> = match &filters.unit {
        Some(unit) => {
            if org.unit(unit).is_none() {
                return Err(MetricsError::UnknownUnit(unit.clone()).into());
            }
            Some(org.subtree(unit).map(|u| u.id.clone()).collect())
        }
        None => None,
    };
    let mut histories = Vec::new();
    for batch in collect(engine, &sql).await? {
        let ids = strings(&batch, "customer_id")?;
        let teams = strings(&batch, "team_id")?;
        let segments = strings(&batch, "segment")?;
        let regions = strings(&batch, "region")?;
        let frequency = numbers(&batch, "frequency")?;
        let first = numbers(&batch, "first_day")?;
        let last = numbers(&batch, "last_day")?;
        let repeat_value = numbers(&batch, "repeat_value")?;
        for i in 0..batch.num_rows() {
            let Some(customer_id) = ids[i].clone() else {
                continue;
            };
            let team_id = teams[i].clone();
            if let Some(units) = &in_unit
                && !team_id.as_ref().is_some_and(|t| units.contains(t))
            {
                continue;
            }
            let segment = segments[i].clone();
            let region = regions[i].clone();
            if (!filters.segments.is_empty()
                && !segment
                    .as_ref()
                    .is_some_and(|s| filters.segments.contains(s)))
                || (!filters.regions.is_empty()
                    && !region.as_ref().is_some_and(|r| filters.regions.contains(r)))
            {
                continue;
            }
            let x = frequency[i];
            // a customer whose first purchase is on the last day has age 0: not yet
            // observable, so left out
            let age = (f64::from(end_day) - first[i]) / days_per_unit;
            if age <= 0.0 {
                continue;
            }
            let rfm = Rfm::new(
                x,
                (last[i] - first[i]) / days_per_unit,
                age,
                if x > 0.0 { repeat_value[i] / x } else { 0.0 },
            )?;
            histories.push(CustomerHistory {
                customer_id,
                rfm,
                segment,
                region,
                team_id,
            });
        }
    }
    Ok((date_of_day(end_day), histories))
}

/// Each customer's latest NPS group (promoter 9–10, passive 7–8, detractor 0–6) as of
/// `end`.
pub async fn nps_groups(
    engine: &Engine,
    end: NaiveDate,
) -> Result<HashMap<String, &'static str>, InsightError> {
    let sql = format!(
        "SELECT customer_id, first_value(nps ORDER BY answered_at DESC) AS nps FROM surveys \
         WHERE nps IS NOT NULL AND CAST(day AS INT) <= {} GROUP BY customer_id",
        days_since_epoch(end)
    );
    let mut groups = HashMap::new();
    for batch in collect(engine, &sql).await? {
        let ids = strings(&batch, "customer_id")?;
        let scores = numbers(&batch, "nps")?;
        for (id, score) in ids.into_iter().zip(scores) {
            if let Some(id) = id {
                groups.insert(id, nps_group(score));
            }
        }
    }
    Ok(groups)
}

/// The NPS group of a 0–10 answer.
pub fn nps_group(score: f64) -> &'static str {
    if score >= 9.0 {
        "promoter"
    } else if score >= 7.0 {
        "passive"
    } else {
        "detractor"
    }
}

/// What a driver analysis explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Outcome {
    Csat,
    Nps,
    Ces,
    /// an attribute rating, by name
    Rating(String),
}

impl Outcome {
    /// `csat`, `nps`, `ces` or `rating:<attribute>`.
    pub fn parse(text: &str) -> Result<Outcome, InsightError> {
        match text {
            "csat" => Ok(Outcome::Csat),
            "nps" => Ok(Outcome::Nps),
            "ces" => Ok(Outcome::Ces),
            other => match other.strip_prefix("rating:") {
                Some(name) if !name.is_empty() => Ok(Outcome::Rating(name.to_owned())),
                _ => Err(InsightError::Request(format!(
                    "outcome {other:?} is not csat, nps, ces or rating:<attribute>"
                ))),
            },
        }
    }

    pub fn name(&self) -> String {
        match self {
            Outcome::Csat => "csat".into(),
            Outcome::Nps => "nps".into(),
            Outcome::Ces => "ces".into(),
            Outcome::Rating(name) => format!("rating:{name}"),
        }
    }
}

/// Which candidate drivers to offer the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Candidates {
    /// hold, handle and queue time, transfers, topics per contact, repeat contacts,
    /// channel
    pub operational: bool,
    /// the survey's attribute ratings (other than the outcome)
    pub ratings: bool,
    /// this many of the most frequent topics, each as present / absent
    pub topics: usize,
}

impl Default for Candidates {
    fn default() -> Self {
        Self {
            operational: true,
            ratings: true,
            topics: 5,
        }
    }
}

/// Survey answers within `filters` with their outcome and the candidate drivers of the
/// contact they answer. Answers without a contact of their own (relationship surveys) have
/// no operational measures; their channel and topics are those of the customer's last
/// contact before answering (as the metric engine attributes them).
pub async fn driver_observations(
    engine: &Engine,
    filters: &Filters,
    outcome: &Outcome,
    candidates: &Candidates,
) -> Result<Observations, InsightError> {
    let condition = engine.condition(filters)?;
    let outcome_column = match outcome {
        Outcome::Csat => "csat",
        Outcome::Nps => "nps",
        Outcome::Ces => "ces",
        Outcome::Rating(_) => "NULL",
    };
    let sql = format!(
        "SELECT s.{outcome_column} AS outcome, s.ratings, s.channel, s.topics, \
                c.hold_seconds, c.handle_seconds, c.queue_seconds, c.transfers, c.topic_count, \
                c.is_repeat, c.followed_by_repeat, c.resolved \
         FROM (SELECT * FROM surveys WHERE {condition}) s \
         LEFT JOIN (SELECT interaction_id, hold_seconds, handle_seconds, queue_seconds, transfers, \
                 topic_count, is_repeat, followed_by_repeat, resolved FROM contacts) c \
           ON s.interaction_id = c.interaction_id"
    )
    .replace("s.NULL", "NULL");
    let mut values = Vec::new();
    let mut operational: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut channels: Vec<Option<String>> = Vec::new();
    let mut ratings: Vec<HashMap<String, f64>> = Vec::new();
    let mut topics: Vec<Vec<String>> = Vec::new();
    const OPERATIONAL: [(&str, &str); 8] = [
        ("hold_seconds", "hold_seconds"),
        ("handle_seconds", "handle_seconds"),
        ("queue_seconds", "queue_seconds"),
        ("transfers", "transfers"),
        ("topics_per_contact", "topic_count"),
        ("repeat_contact", "is_repeat"),
        ("followed_by_repeat", "followed_by_repeat"),
        ("resolved_by_agent", "resolved"),
    ];
    for batch in collect(engine, &sql).await? {
        let rows = batch.num_rows();
        let batch_ratings = map_column(&batch, "ratings")?;
        match outcome {
            Outcome::Rating(name) => values.extend(
                batch_ratings
                    .iter()
                    .map(|r| r.get(name).copied().unwrap_or(f64::NAN)),
            ),
            _ => values.extend(numbers(&batch, "outcome")?),
        }
        ratings.extend(batch_ratings);
        channels.extend(strings(&batch, "channel")?);
        topics.extend(list_column(&batch, "topics")?);
        for (name, column) in OPERATIONAL {
            operational
                .entry(name)
                .or_default()
                .extend(numbers(&batch, column)?);
        }
        debug_assert_eq!(values.len(), channels.len(), "{rows} rows");
    }
    let n = values.len();
    let mut drivers = Vec::new();
    if candidates.operational {
        for (name, _) in OPERATIONAL {
            let direction = if name == "topics_per_contact" || name == "resolved_by_agent" {
                Direction::HigherIsBetter
            } else {
                Direction::LowerIsBetter
            };
            drivers.push(Driver {
                name: name.to_owned(),
                values: operational.remove(name).unwrap_or_default(),
                direction,
            });
        }
        // one indicator per channel but the most common (the reference)
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for channel in channels.iter().flatten() {
            *counts.entry(channel).or_default() += 1;
        }
        let reference = counts.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c);
        for channel in counts.keys().filter(|c| Some(**c) != reference) {
            drivers.push(Driver {
                name: format!("channel:{channel}"),
                values: channels
                    .iter()
                    .map(|c| match c {
                        Some(c) => f64::from(u8::from(c == channel)),
                        None => f64::NAN,
                    })
                    .collect(),
                direction: Direction::HigherIsBetter,
            });
        }
    }
    if candidates.ratings {
        let mut names: Vec<&String> = ratings.iter().flat_map(|r| r.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            if matches!(outcome, Outcome::Rating(o) if o == name) {
                continue;
            }
            drivers.push(Driver {
                name: format!("rating:{name}"),
                values: ratings
                    .iter()
                    .map(|r| r.get(name).copied().unwrap_or(f64::NAN))
                    .collect(),
                direction: Direction::HigherIsBetter,
            });
        }
    }
    if candidates.topics > 0 {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for list in &topics {
            for topic in list {
                *counts.entry(topic).or_default() += 1;
            }
        }
        let mut common: Vec<(&str, usize)> = counts.into_iter().collect();
        common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (topic, _) in common.into_iter().take(candidates.topics) {
            let org = engine.organisation();
            let direction = match org.topic(topic) {
                // more compliments and sales conversations are good; problems are not
                Some(info) if info.kind == "compliment" || info.kind == "sales" => {
                    Direction::HigherIsBetter
                }
                _ => Direction::LowerIsBetter,
            };
            drivers.push(Driver {
                name: format!("topic:{topic}"),
                values: topics
                    .iter()
                    .map(|list| f64::from(u8::from(list.iter().any(|t| t == topic))))
                    .collect(),
                direction,
            });
        }
    }
    debug_assert!(drivers.iter().all(|d| d.values.len() == n));
    Ok(Observations {
        outcome: outcome.name(),
        values,
        drivers,
    })
}

/// A `map<string, int>` column as one map per row.
fn map_column(batch: &RecordBatch, name: &str) -> Result<Vec<HashMap<String, f64>>, InsightError> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(vec![HashMap::new(); batch.num_rows()]);
    };
    let Some(map) = column.as_map_opt() else {
        return Err(InsightError::Engine(format!("{name} is not a map")));
    };
    let keys = cast(map.keys(), &DataType::Utf8)
        .map_err(|e| InsightError::Engine(format!("{name} keys: {e}")))?;
    let keys = keys.as_string::<i32>();
    let values = cast(map.values(), &DataType::Float64)
        .map_err(|e| InsightError::Engine(format!("{name} values: {e}")))?;
    let values = values.as_primitive::<cxm_facts::arrow::datatypes::Float64Type>();
    let offsets = map.value_offsets();
    Ok((0..map.len())
        .map(|row| {
            if map.is_null(row) {
                return HashMap::new();
            }
            (offsets[row] as usize..offsets[row + 1] as usize)
                .filter(|&i| !keys.is_null(i) && !values.is_null(i))
                .map(|i| (keys.value(i).to_owned(), values.value(i)))
                .collect()
        })
        .collect())
}

/// A list-of-strings column as one list per row.
fn list_column(batch: &RecordBatch, name: &str) -> Result<Vec<Vec<String>>, InsightError> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(vec![Vec::new(); batch.num_rows()]);
    };
    let Some(list) = column.as_list_opt::<i32>() else {
        return Err(InsightError::Engine(format!("{name} is not a list")));
    };
    let items = cast(list.values(), &DataType::Utf8)
        .map_err(|e| InsightError::Engine(format!("{name} items: {e}")))?;
    let items = items.as_string::<i32>();
    let offsets = list.value_offsets();
    Ok((0..list.len())
        .map(|row| {
            if list.is_null(row) {
                return Vec::new();
            }
            (offsets[row] as usize..offsets[row + 1] as usize)
                .filter(|&i| !items.is_null(i))
                .map(|i| items.value(i).to_owned())
                .collect()
        })
        .collect())
}
