//! Understanding: why customers feel as they do and what it is worth, computed over a data
//! directory's metric engine with the models of `cxm-analysis`.
//!
//! - [`sources`]: the analyses' inputs from the engine's derived tables (purchase
//!   histories, survey answers joined to their contacts), scoped by the metric filters;
//! - [`reports`]: customer lifetime value and key driver analysis as reports;
//! - [`attrition`]: churn by period, segment and team, retention curves by experience
//!   group, churn drivers;
//! - [`experience`]: what customers did after good and bad experiences — purchases,
//!   revenue, attrition, revenue at risk and the value of moving between groups;
//! - [`impact`]: an initiative's effect on its target metric, its teams against the
//!   others, before and after its start (difference in differences);
//! - [`root_causes`]: topics ranked by the repeat contacts, complaints and dissatisfaction
//!   they bring, and emerging topics.

pub mod attrition;
pub mod experience;
pub mod impact;
pub mod reports;
pub mod root_causes;
pub mod sources;

pub use cxm_analysis::{AnalysisError, Convergence, clv, drivers, files, survival};

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error)]
pub enum InsightError {
    /// The data cannot support the analysis.
    #[error("{0}")]
    Input(String),
    /// The request itself is malformed (an outcome that is no outcome, an empty window).
    #[error("{0}")]
    Request(String),
    #[error("the {model} fit did not converge: {reason}")]
    NoFit { model: &'static str, reason: String },
    /// The metric engine refused the question (an unknown unit, bad filters) or failed.
    #[error(transparent)]
    Metrics(#[from] cxm_metrics::MetricsError),
    /// Reading the data failed.
    #[error("{0}")]
    Engine(String),
}

impl From<AnalysisError> for InsightError {
    fn from(error: AnalysisError) -> Self {
        match error {
            AnalysisError::Input(message) => InsightError::Input(message),
            AnalysisError::NoFit { model, reason } => InsightError::NoFit { model, reason },
        }
    }
}
