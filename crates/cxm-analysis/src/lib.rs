//! The statistical models behind cxm's analyses, as pure functions of their inputs, so
//! they are tested against published results and run the same from the CLI, the API and
//! the pages:
//!
//! - [`clv`]: RFM summaries of purchase histories, BG/NBD (how often customers buy and
//!   whether they are still customers) and Gamma-Gamma (how much they spend) fitted by
//!   maximum likelihood, and each customer's discounted lifetime value;
//! - [`drivers`]: key driver analysis — Johnson's relative weights, the Shapley
//!   decomposition of R², standardised coefficients, bootstrap intervals, the importance
//!   × performance matrix;
//! - [`survival`]: Kaplan–Meier retention curves;
//! - [`experience`]: purchases, revenue and attrition of customers grouped by their
//!   experience, revenue at risk and the value of moving customers between groups;
//! - [`impact`]: difference in differences of an initiative's units against comparable
//!   units outside it, with a Welch interval over units;
//! - [`files`]: the same inputs from an analyst's CSV files.

pub mod clv;
pub mod drivers;
pub mod experience;
pub mod files;
pub mod impact;
mod optimize;
mod special;
pub mod survival;

pub use optimize::Convergence;

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("{0}")]
    Input(String),
    #[error("the {model} fit did not converge: {reason}")]
    NoFit { model: &'static str, reason: String },
}
