//! The metric catalogue: every metric cxm reports, as data.
//!
//! A metric is a kind of aggregate (count, sum, share, mean, quantile, NPS, attrition) over
//! the rows of one source (contacts, survey answers, transactions, customers), with its
//! numerator, denominator or value written as SQL expressions over the source's fields. The
//! built-in catalogue (`metrics/catalogue.toml`) holds the metrics of DESIGN.md; users add
//! their own in configuration with the same fields, without recompiling.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

pub mod period;

pub use period::{Grain, Period};

/// The default minimum sample below which a group is not ranked (DESIGN.md).
pub const DEFAULT_MIN_SAMPLE: u64 = 30;

const BUILTIN: &str = include_str!("metrics/catalogue.toml");

/// The rows a metric aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// One row per contact (interaction), with its derived repeat-contact fields.
    Contacts,
    /// One row per survey answer, attributed to its contact (or the customer's last one).
    Surveys,
    /// One row per purchase or refund, attributed to the customer's last contact.
    Transactions,
    /// Customers active, joining and churning, attributed to their last contact.
    Customers,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Contacts,
        Source::Surveys,
        Source::Transactions,
        Source::Customers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Contacts => "contacts",
            Source::Surveys => "surveys",
            Source::Transactions => "transactions",
            Source::Customers => "customers",
        }
    }
}

/// How a metric aggregates its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Rows (matching `filter`).
    Count,
    /// The sum of `value` (over rows matching `filter`).
    Sum,
    /// Rows matching `numerator` among rows matching `denominator` (default: all rows).
    Share,
    /// The mean of `value` (non-null, over rows matching `filter`).
    Mean,
    /// The `quantile` of `value` (linear interpolation between order statistics).
    Quantile,
    /// Net promoter score of a 0–10 `value`: % 9–10 minus % 0–6.
    Nps,
    /// Customers who churned in the period ÷ customers active at its start.
    Attrition,
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Higher,
    Lower,
    /// Context: neither direction is better (e.g. handle time).
    Neutral,
}

/// What a metric's value is measured in (for display).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricUnit {
    Count,
    Share,
    Seconds,
    Score,
    Points,
    Currency,
    Number,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDefinition {
    /// Identifier used in queries, targets and URLs (`repeat_contact_rate`).
    pub name: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub source: Source,
    pub kind: MetricKind,
    /// SQL predicate: rows counted in the numerator of a share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<String>,
    /// SQL predicate: rows in the denominator of a share (default: every row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<String>,
    /// SQL expression: the value summed, averaged, ranked or scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// SQL predicate: rows a count, sum, mean or quantile considers (default: every row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// For quantiles: the probability, in (0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    pub unit: MetricUnit,
    pub direction: Direction,
    /// Groups with fewer observations are not ranked (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sample: Option<u64>,
    /// The endgame value (100% satisfied, zero complaints, zero attrition), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endgame: Option<f64>,
}

impl MetricDefinition {
    pub fn min_sample(&self) -> u64 {
        self.min_sample.unwrap_or(DEFAULT_MIN_SAMPLE)
    }

    /// Whether `a` is better than `b` for this metric (`None` for neutral metrics).
    pub fn better(&self, a: f64, b: f64) -> Option<bool> {
        match self.direction {
            Direction::Higher => Some(a > b),
            Direction::Lower => Some(a < b),
            Direction::Neutral => None,
        }
    }

    fn validate(&self) -> Result<(), CatalogueError> {
        let invalid = |reason: String| CatalogueError::Invalid {
            metric: self.name.clone(),
            reason,
        };
        let is_identifier = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && self.name.starts_with(|c: char| c.is_ascii_lowercase());
        if !is_identifier {
            return Err(invalid(
                "a name is lowercase letters, digits and _, starting with a letter".into(),
            ));
        }
        let has = |field: &Option<String>| field.as_deref().is_some_and(|e| !e.trim().is_empty());
        let require = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                Err(invalid(format!(
                    "a {} metric needs `{field}`",
                    kind_name(self.kind)
                )))
            }
        };
        let forbid = |present: bool, field: &str| {
            if present {
                Err(invalid(format!(
                    "a {} metric takes no `{field}`",
                    kind_name(self.kind)
                )))
            } else {
                Ok(())
            }
        };
        match self.kind {
            MetricKind::Count => {
                forbid(has(&self.value), "value")?;
                forbid(has(&self.numerator), "numerator")?;
            }
            MetricKind::Share => {
                require(has(&self.numerator), "numerator")?;
                forbid(has(&self.value), "value")?;
                forbid(has(&self.filter), "filter (use denominator)")?;
            }
            MetricKind::Sum | MetricKind::Mean | MetricKind::Nps => {
                require(has(&self.value), "value")?;
                forbid(has(&self.numerator), "numerator")?;
            }
            MetricKind::Quantile => {
                require(has(&self.value), "value")?;
                match self.quantile {
                    Some(q) if q > 0.0 && q < 1.0 => {}
                    Some(q) => return Err(invalid(format!("quantile {q} is not within (0, 1)"))),
                    None => return Err(invalid("a quantile metric needs `quantile`".into())),
                }
            }
            MetricKind::Attrition => {
                if self.source != Source::Customers {
                    return Err(invalid(
                        "attrition is computed over source customers".into(),
                    ));
                }
                for (field, value) in [
                    ("numerator", &self.numerator),
                    ("denominator", &self.denominator),
                    ("value", &self.value),
                    ("filter", &self.filter),
                ] {
                    forbid(has(value), field)?;
                }
            }
        }
        if self.kind != MetricKind::Quantile && self.quantile.is_some() {
            return Err(invalid("only a quantile metric takes `quantile`".into()));
        }
        if self.kind != MetricKind::Share && has(&self.denominator) {
            return Err(invalid("only a share metric takes `denominator`".into()));
        }
        if self.source == Source::Customers && self.kind != MetricKind::Attrition {
            return Err(invalid(
                "source customers holds only the attrition metric kind".into(),
            ));
        }
        if let Some(endgame) = self.endgame
            && !endgame.is_finite()
        {
            return Err(invalid("endgame must be a finite number".into()));
        }
        Ok(())
    }
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Count => "count",
        MetricKind::Sum => "sum",
        MetricKind::Share => "share",
        MetricKind::Mean => "mean",
        MetricKind::Quantile => "quantile",
        MetricKind::Nps => "nps",
        MetricKind::Attrition => "attrition",
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(kind_name(*self))
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogueError {
    #[error("metric catalogue: {0}")]
    Toml(String),
    #[error("metric {metric}: {reason}")]
    Invalid { metric: String, reason: String },
    #[error("metric {0} is defined twice")]
    Duplicate(String),
    #[error("no metric named {name}; known metrics: {known}")]
    Unknown { name: String, known: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    metric: Vec<MetricDefinition>,
}

/// The metrics of an organisation: the built-in ones and its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalogue {
    metrics: Vec<MetricDefinition>,
}

impl Catalogue {
    /// The built-in catalogue of DESIGN.md.
    pub fn builtin() -> Catalogue {
        // The built-in file is part of the source and tested; it always parses.
        Catalogue::parse(BUILTIN).unwrap_or(Catalogue {
            metrics: Vec::new(),
        })
    }

    /// Parses a catalogue file (`[[metric]]` tables) and validates every entry.
    pub fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| CatalogueError::Toml(e.to_string()))?;
        let catalogue = Catalogue {
            metrics: Vec::new(),
        };
        catalogue.with_metrics(file.metric)
    }

    /// The catalogue with `additions` appended (a user's metrics may not reuse a name).
    pub fn with_metrics(
        mut self,
        additions: Vec<MetricDefinition>,
    ) -> Result<Catalogue, CatalogueError> {
        let mut names: BTreeSet<String> = self.metrics.iter().map(|m| m.name.clone()).collect();
        for metric in additions {
            metric.validate()?;
            if !names.insert(metric.name.clone()) {
                return Err(CatalogueError::Duplicate(metric.name));
            }
            self.metrics.push(metric);
        }
        Ok(self)
    }

    /// The built-in catalogue extended by a user's catalogue file.
    pub fn builtin_with(text: &str) -> Result<Catalogue, CatalogueError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| CatalogueError::Toml(e.to_string()))?;
        Catalogue::builtin().with_metrics(file.metric)
    }

    pub fn metrics(&self) -> &[MetricDefinition] {
        &self.metrics
    }

    pub fn get(&self, name: &str) -> Result<&MetricDefinition, CatalogueError> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| CatalogueError::Unknown {
                name: name.to_owned(),
                known: self
                    .metrics
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_holds_every_metric_of_the_design() {
        let catalogue = Catalogue::parse(BUILTIN).expect("built-in catalogue parses");
        for name in [
            "contacts",
            "repeat_contact_rate",
            "fcr_rate",
            "topics_per_contact",
            "hold_seconds",
            "hold_seconds_p90",
            "handle_seconds",
            "handle_seconds_p90",
            "csat",
            "csat_mean",
            "nps",
            "ces",
            "complaint_rate",
            "purchases",
            "revenue",
            "attrition_rate",
        ] {
            assert!(catalogue.get(name).is_ok(), "{name} missing");
        }
        assert_eq!(
            catalogue.get("csat").unwrap().endgame,
            Some(1.0),
            "endgame: 100% satisfied"
        );
    }

    #[test]
    fn user_metrics_extend_the_catalogue() {
        let catalogue = Catalogue::builtin_with(
            r#"
            [[metric]]
            name = "long_hold_rate"
            label = "Held over two minutes"
            source = "contacts"
            kind = "share"
            numerator = "hold_seconds > 120"
            denominator = "hold_seconds IS NOT NULL"
            unit = "share"
            direction = "lower"
            min_sample = 50
            "#,
        )
        .unwrap();
        let metric = catalogue.get("long_hold_rate").unwrap();
        assert_eq!(metric.min_sample(), 50);
        assert_eq!(metric.better(0.1, 0.2), Some(true));
    }

    #[test]
    fn invalid_metrics_are_rejected_with_the_reason() {
        let cases = [
            (
                "name = \"x\"\nlabel = \"x\"\nsource = \"contacts\"\nkind = \"share\"\nunit = \"share\"\ndirection = \"lower\"",
                "needs `numerator`",
            ),
            (
                "name = \"x\"\nlabel = \"x\"\nsource = \"contacts\"\nkind = \"quantile\"\nvalue = \"hold_seconds\"\nquantile = 1.5\nunit = \"seconds\"\ndirection = \"lower\"",
                "not within (0, 1)",
            ),
            (
                "name = \"Bad Name\"\nlabel = \"x\"\nsource = \"contacts\"\nkind = \"count\"\nunit = \"count\"\ndirection = \"neutral\"",
                "lowercase",
            ),
            (
                "name = \"contacts\"\nlabel = \"x\"\nsource = \"contacts\"\nkind = \"count\"\nunit = \"count\"\ndirection = \"neutral\"",
                "defined twice",
            ),
            (
                "name = \"x\"\nlabel = \"x\"\nsource = \"contacts\"\nkind = \"attrition\"\nunit = \"share\"\ndirection = \"lower\"",
                "over source customers",
            ),
        ];
        for (body, expected) in cases {
            let error = Catalogue::builtin_with(&format!("[[metric]]\n{body}")).unwrap_err();
            assert!(
                error.to_string().contains(expected),
                "{error} should mention {expected}"
            );
        }
        assert!(matches!(
            Catalogue::builtin().get("nope"),
            Err(CatalogueError::Unknown { .. })
        ));
    }
}
