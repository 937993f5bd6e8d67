//! Acting on what is measured.
//!
//! - [`alerts`]: alert rules evaluated over the fact tables open follow-up cases, one per
//!   customer and rule within the rule's cooldown, routed to the lead of the agent's team
//!   with an SLA due time.
//! - [`case_metrics`]: how cases are handled per owner, unit or rule — time to first
//!   action and to close, SLA met, re-contacts after closure;
//! - [`recognition`]: customers' praise in survey comments, offered as kudos candidates;
//! - [`webhooks`]: case events queued with each change are sent, signed and retried, to the
//!   webhooks that want them.

pub mod alerts;
pub mod case_metrics;
pub mod recognition;
pub mod webhooks;

pub use alerts::{AlertRun, RuleRun, Scope, contacts_to_keep, evaluate, evaluate_after};
pub use webhooks::{SendOptions, SendReport, send_due};

/// Microseconds in a day (cooldowns, windows and ages are whole days of UTC time).
pub(crate) use cxm_domain::cases::DAY_MICROS;

/// Why the loop could not act.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error(transparent)]
    Catalog(#[from] cxm_catalog::CatalogError),
    #[error(transparent)]
    Sql(#[from] cxm_sql::SqlError),
    #[error(transparent)]
    Metrics(#[from] cxm_metrics::MetricsError),
    /// A change that names something the data directory does not know.
    #[error("{0}")]
    Invalid(String),
    /// Reading the fact tables failed.
    #[error("{0}")]
    Engine(String),
}

impl From<cxm_facts::datafusion::error::DataFusionError> for LoopError {
    fn from(error: cxm_facts::datafusion::error::DataFusionError) -> Self {
        LoopError::Engine(error.to_string())
    }
}

impl From<cxm_facts::arrow::error::ArrowError> for LoopError {
    fn from(error: cxm_facts::arrow::error::ArrowError) -> Self {
        LoopError::Engine(error.to_string())
    }
}

impl From<cxm_facts::FactError> for LoopError {
    fn from(error: cxm_facts::FactError) -> Self {
        LoopError::Engine(error.to_string())
    }
}

/// Changes a case after checking what only the data directory knows (the root-cause code
/// must be a topic of the taxonomy, the new owner a person).
pub async fn update_case(
    dir: &cxm_catalog::DataDir,
    case_id: i64,
    change: &cxm_sql::CaseChange,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<cxm_sql::Case, LoopError> {
    use cxm_sql::CaseStore;
    let store = dir.reference().await?;
    if change.root_cause.is_some() || change.owner_id.is_some() {
        let org = cxm_metrics::Organisation::load_structure(&store).await?;
        if let Some(code) = &change.root_cause
            && org.topic(code).is_none()
        {
            return Err(LoopError::Invalid(format!(
                "root cause {code:?} is not a topic of the taxonomy"
            )));
        }
        if let Some(owner) = &change.owner_id
            && org.person(owner).is_none()
        {
            return Err(LoopError::Invalid(format!(
                "owner {owner:?} is not a known person"
            )));
        }
    }
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let result = store.update_case(case_id, change, actor, &at).await;
    store.close().await;
    Ok(result?)
}
