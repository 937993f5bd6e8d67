//! The analyses over the API: key drivers, customer lifetime value, attrition, the value
//! of experience and root causes, each within the caller's scope (an agent gets their team's aggregates).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cxm_insight::InsightError;
use cxm_insight::drivers::DriverSettings;
use cxm_insight::experience::ExperienceRequest;
use cxm_insight::reports::{ClvRequest, DriverRequest, TimeUnit};
use cxm_insight::sources::{Candidates, Outcome};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::{FilterParams, Params, check_known, plain_text, reading};
use crate::auth::Principal;
use crate::error::ErrorBody;
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/insight/drivers", get(drivers))
        .route("/api/v1/insight/clv", get(clv))
        .route("/api/v1/insight/attrition", get(attrition))
        .route("/api/v1/insight/experience", get(experience))
        .route("/api/v1/insight/root-causes", get(root_causes))
}

/// A request the data cannot answer (too few answers or buyers, an outcome nobody
/// rated, a fit that does not converge) is a 404 with the reason: nothing to show for it;
/// a malformed one a 400.
impl From<InsightError> for ApiError {
    fn from(error: InsightError) -> ApiError {
        match error {
            InsightError::Input(message) => ApiError::NotFound(message),
            InsightError::Request(message) => ApiError::BadRequest(message),
            InsightError::NoFit { .. } => ApiError::NotFound(error.to_string()),
            InsightError::Metrics(error) => error.into(),
            InsightError::Engine(_) => ApiError::internal(error),
        }
    }
}

/// The caller's filters, checked and narrowed to their scope.
async fn scoped(
    state: &AppState,
    principal: &Principal,
    filters: &FilterParams,
) -> Result<
    (
        std::sync::Arc<cxm_metrics::Engine>,
        Scope,
        cxm_metrics::Filters,
    ),
    ApiError,
> {
    let (engine, scope) = reading(state, principal).await?;
    let filters = filters.filters()?;
    let org = engine.organisation();
    check_known(org, filters.unit.as_deref(), filters.person.as_deref())?;
    let filters = scope.narrow(org, &filters, &[])?;
    if let Some((from, to)) = crate::api::empty_range(&engine, &filters) {
        return Err(ApiError::NotFound(format!(
            "from {from} is after to {to}: no days to analyse"
        )));
    }
    Ok((engine, scope, filters))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriverParams {
    /// csat (default), nps, ces or rating:<attribute>.
    #[param(pattern = r"^(csat|nps|ces|rating:[^\x00-\x1f\x7f]+)?$")]
    outcome: Option<String>,
    /// Bootstrap resamples for the 95% intervals (default 200, at most 2000).
    #[param(maximum = 2000)]
    resamples: Option<u32>,
    /// The most frequent topics offered as drivers (default 5, at most 30).
    #[param(maximum = 30)]
    topics: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/insight/drivers", tag = "insight", params(DriverParams, FilterParams),
    responses((status = 200, description = "the driver report: R², and per driver its relative weight, \
               Shapley value, standardised coefficient (each with a 95% bootstrap interval), p-value, \
               rank, performance and importance × performance quadrant", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn drivers(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<DriverParams>,
    Params(filters): Params<FilterParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (engine, _, filters) = scoped(&state, &principal, &filters).await?;
    let outcome = match params.outcome.as_deref().filter(|o| !o.trim().is_empty()) {
        Some(text) => {
            plain_text("outcome", text)?;
            Outcome::parse(text.trim())?
        }
        None => Outcome::Csat,
    };
    let resamples = params.resamples.unwrap_or(200);
    let topics = params.topics.unwrap_or(5);
    if resamples > 2000 || topics > 30 {
        return Err(ApiError::BadRequest(
            "resamples may be at most 2000 and topics at most 30".into(),
        ));
    }
    let request = DriverRequest {
        filters,
        outcome,
        candidates: Candidates {
            topics: topics as usize,
            ..Candidates::default()
        },
        settings: DriverSettings {
            resamples,
            ..DriverSettings::default()
        },
    };
    let report = cxm_insight::reports::drivers(&engine, &request).await?;
    Ok(Json(to_json(&report)?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClvParams {
    /// Months of future purchases to count (default 12, 1–120).
    #[param(minimum = 1, maximum = 120)]
    months: Option<u32>,
    /// Discount rate per month (default 0.01).
    #[param(minimum = 0.0, maximum = 1.0)]
    discount: Option<f64>,
    /// Share of a purchase's value that is margin (default 1).
    #[param(minimum = 0.0, maximum = 1.0)]
    margin: Option<f64>,
    /// day or week (default week): the time unit of the fitted parameters.
    #[param(pattern = "^(day|week)?$")]
    time_unit: Option<String>,
    /// The most valuable customers to list (default 50, at most 1000; none for agents).
    #[param(maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/insight/clv", tag = "insight", params(ClvParams, FilterParams),
    responses((status = 200, description = "BG/NBD and Gamma-Gamma fits with convergence, total and mean \
               value, value by segment, team and NPS group, and the most valuable customers", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn clv(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ClvParams>,
    Params(filters): Params<FilterParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (engine, scope, filters) = scoped(&state, &principal, &filters).await?;
    let months = params.months.unwrap_or(12);
    let discount = params.discount.unwrap_or(0.01);
    let margin = params.margin.unwrap_or(1.0);
    let limit = params.limit.unwrap_or(50);
    if !(1..=120).contains(&months)
        || !(0.0..=1.0).contains(&discount)
        || !(0.0..=1.0).contains(&margin)
        || limit > 1000
    {
        return Err(ApiError::BadRequest(
            "months must be 1–120, discount and margin 0–1, limit at most 1000".into(),
        ));
    }
    let unit = match params.time_unit.as_deref().map(str::trim) {
        None | Some("") | Some("week") => TimeUnit::Week,
        Some("day") => TimeUnit::Day,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "time_unit {other:?} is not day or week"
            )));
        }
    };
    let request = ClvRequest {
        end: filters.to,
        filters,
        unit,
        months,
        monthly_discount: discount,
        margin,
    };
    let mut report = cxm_insight::reports::clv(&engine, &request).await?;
    // Agents see aggregates only; others the most valuable customers in their scope.
    let keep = if matches!(scope, Scope::Own { .. }) {
        0
    } else {
        limit as usize
    };
    report.values.truncate(keep);
    Ok(Json(to_json(&report)?))
}

#[utoipa::path(get, path = "/api/v1/insight/attrition", tag = "insight", params(FilterParams),
    responses((status = 200, description = "attrition by month, segment and team, Kaplan-Meier retention \
               curves by experience group, and churn drivers", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn attrition(
    State(state): State<AppState>,
    principal: Principal,
    Params(filters): Params<FilterParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (engine, _, filters) = scoped(&state, &principal, &filters).await?;
    let settings = DriverSettings {
        resamples: 200,
        ..DriverSettings::default()
    };
    let report =
        cxm_insight::attrition::attrition(state.dir(), &engine, &filters, &settings).await?;
    Ok(Json(to_json(&report)?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExperienceParams {
    /// Experiences before this day (YYYY-MM-DD), behaviour from it on (default:
    /// `follow_days` before the end of the data).
    #[param(format = Date)]
    cut: Option<String>,
    /// Days of behaviour to follow after the cut (default 180, 1–730).
    #[param(minimum = 1, maximum = 730)]
    follow_days: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/insight/experience", tag = "insight", params(ExperienceParams, FilterParams),
    responses((status = 200, description = "customers grouped by NPS group, lowest CSAT, repeat contact and \
               complaint before the cut: purchases, net revenue and churn afterwards with 95% intervals, \
               revenue at risk, and the value of moving each group to a better one", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn experience(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ExperienceParams>,
    Params(filters): Params<FilterParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let follow_days = params.follow_days.unwrap_or(180);
    if !(1..=730).contains(&follow_days) {
        return Err(ApiError::BadRequest(format!(
            "follow_days {follow_days} is not 1–730"
        )));
    }
    let cut = crate::api::day("cut", &params.cut)?;
    let (engine, _, filters) = scoped(&state, &principal, &filters).await?;
    let request = ExperienceRequest {
        filters,
        cut,
        follow_days,
        ..ExperienceRequest::default()
    };
    let report = cxm_insight::experience::experience_value(state.dir(), &engine, &request).await?;
    Ok(Json(to_json(&report)?))
}

#[utoipa::path(get, path = "/api/v1/insight/root-causes", tag = "insight", params(FilterParams),
    responses((status = 200, description = "topics ranked by the repeat contacts, complaints and \
               dissatisfied answers they bring beyond other contacts, with growth and emerging flags", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn root_causes(
    State(state): State<AppState>,
    principal: Principal,
    Params(filters): Params<FilterParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (engine, scope, filters) = scoped(&state, &principal, &filters).await?;
    let mut report = cxm_insight::root_causes::root_causes(&engine, &filters).await?;
    add_case_causes(&state, &engine, &scope, &filters, &mut report).await?;
    Ok(Json(to_json(&report)?))
}

/// The root causes of the follow-up cases closed in the report's period and the caller's
/// scope, added to the report's topics (the outer loop).
pub(crate) async fn add_case_causes(
    state: &AppState,
    engine: &cxm_metrics::Engine,
    scope: &Scope,
    filters: &cxm_metrics::Filters,
    report: &mut cxm_insight::root_causes::RootCauseReport,
) -> Result<(), ApiError> {
    use cxm_sql::CaseStore;
    let org = engine.organisation();
    let mut filter = crate::cases_api::scoped_filter(scope, org)?;
    // the area asked for (already inside the scope)
    if let Some(unit) = &filters.unit {
        filter.units = Some(org.subtree(unit).map(|u| u.id.clone()).collect());
    }
    if let Some(person) = &filters.person {
        filter.agent_id = Some(person.clone());
    }
    // Cases close in real time, after the data they came from: without dates asked for,
    // every closed case counts.
    let day = |d: chrono::NaiveDate| format!("{}T00:00:00Z", d.format("%Y-%m-%d"));
    let from = filters
        .from
        .map_or_else(|| "0000-01-01T00:00:00Z".to_owned(), day);
    let to = filters.to.map_or_else(
        || "9999-12-31T00:00:00Z".to_owned(),
        |to| day(to + chrono::Days::new(1)),
    );
    let causes = state
        .store()
        .closed_root_causes(&filter, &from, &to)
        .await?;
    cxm_insight::root_causes::add_case_causes(report, &causes, engine.organisation());
    Ok(())
}

/// JSON with non-finite numbers (an interval without resamples) as null.
fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}
