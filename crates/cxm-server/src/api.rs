//! The JSON API under `/api/v1`, and its OpenAPI document (generated from these handlers
//! and types) at `/api/v1/openapi.json`. Every handler reads through the caller's
//! [`Scope`]: nothing outside it is returned, whatever the filters, paging or ids asked for.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use cxm_domain::metrics::{Grain, Period};
use cxm_metrics::records::{RecordOrder, RecordSet};
use cxm_metrics::{Dimension, Filters, MetricRow, Query, Scorecard, Subject};
use cxm_sql::TargetStore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Principal;
use crate::error::ErrorBody;
use crate::scope::Scope;
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cxm API",
        description = "Customer experience metrics, scorecards, the org tree and the records behind every number. \
                       Sign in with a session cookie (the login page) or send `Authorization: Bearer <token>` \
                       (`cxm tokens create`). Every answer is limited to the caller's scope.",
        version = "1"
    ),
    paths(me, catalogue, metrics, unit_scorecard, person_scorecard, units, people, targets, contacts, answers,
          crate::ingest::ingest, crate::insight_api::drivers, crate::insight_api::clv,
          crate::insight_api::attrition, crate::insight_api::experience,
          crate::insight_api::root_causes, crate::cases_api::list_cases, crate::cases_api::get_case,
          crate::cases_api::patch_case, crate::cases_api::list_rules, crate::cases_api::put_rule,
          crate::notify_api::list_notifications, crate::notify_api::read_notifications,
          crate::notify_api::list_webhooks, crate::notify_api::put_webhook,
          crate::notify_api::delete_webhook, crate::notify_api::list_deliveries,
          crate::ideas_api::list_ideas, crate::ideas_api::post_idea, crate::ideas_api::get_idea,
          crate::ideas_api::patch_idea, crate::ideas_api::post_vote, crate::ideas_api::delete_vote,
          crate::ideas_api::post_comment, crate::ideas_api::list_initiatives,
          crate::ideas_api::get_impact, crate::cases_api::get_case_metrics,
          crate::recognition_api::list_kudos, crate::recognition_api::post_kudos,
          crate::recognition_api::list_candidates, crate::recognition_api::accept_candidate,
          crate::recognition_api::list_stories, crate::recognition_api::post_story,
          crate::recognition_api::get_story, crate::recognition_api::patch_story,
          crate::recognition_api::most_improved),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = []))
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            utoipa::openapi::security::SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build(),
            ),
        );
        components.add_security_scheme(
            "session",
            utoipa::openapi::security::SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .route("/api/v1/catalogue", get(catalogue))
        .route("/api/v1/metrics", get(metrics))
        .route("/api/v1/org/units/{unit}/scorecard", get(unit_scorecard))
        .route("/api/v1/people/{person}/scorecard", get(person_scorecard))
        .route("/api/v1/org/units", get(units))
        .route("/api/v1/people", get(people))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/records/contacts", get(contacts))
        .route("/api/v1/records/answers", get(answers))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Query-string parameters, rejected in our error format when malformed.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|query| Params(query.0))
            .map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))
    }
}

/// What every reading handler starts with: the caller may read, the engine as of now, and
/// the caller's scope in its organisation.
pub(crate) async fn reading(
    state: &AppState,
    principal: &Principal,
) -> Result<(std::sync::Arc<cxm_metrics::Engine>, Scope), ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    let scope = Scope::of(principal, engine.organisation());
    Ok((engine, scope))
}

/// A string parameter that must be one of `names` (the schema's enum).
fn one_of(names: impl IntoIterator<Item = &'static str>) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .build()
}

fn grain_schema() -> utoipa::openapi::Object {
    one_of(Grain::ALL.map(Grain::as_str))
}

fn order_schema() -> utoipa::openapi::Object {
    one_of(RecordOrder::ALL.map(RecordOrder::as_str))
}

pub(crate) fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Comma-separated values.
pub(crate) fn values(text: &Option<String>) -> Vec<String> {
    text.iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A path's numeric id; anything else names no `what` (404).
pub(crate) fn path_id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .map_err(|_| ApiError::NotFound(format!("there is no {what} {text:?}")))
}

/// A listing's `limit`: `default` when absent, refused outside `1..=max`.
pub(crate) fn limit(value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = value.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit} must be in 1..={max}"
        )));
    }
    Ok(limit)
}

/// Refuses ASCII control characters (no id, code or name holds one), as the parameters'
/// schema says.
pub(crate) fn plain_text(name: &str, value: &str) -> Result<(), ApiError> {
    if let Some(bad) = value.chars().find(|&c| c < ' ' || c == '\u{7f}') {
        return Err(ApiError::BadRequest(format!(
            "{name} {value:?} contains the control character {bad:?}"
        )));
    }
    Ok(())
}

pub(crate) fn day(name: &str, text: &Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    text.as_deref()
        .map(|t| {
            NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").map_err(|_| {
                ApiError::BadRequest(format!("{name} {t:?} is not a date (YYYY-MM-DD)"))
            })
        })
        .transpose()
}

/// Which rows: the filters shared by metric queries, record listings and pages.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// First local day, YYYY-MM-DD (default: the first with data).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last local day, YYYY-MM-DD, inclusive.
    #[param(format = Date)]
    pub to: Option<String>,
    /// Only this org unit's subtree.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    pub unit: Option<String>,
    /// Only this person's contacts.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    pub person: Option<String>,
    /// Channels, comma-separated.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    pub channel: Option<String>,
    /// Topic codes, comma-separated.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    pub topic: Option<String>,
    /// Customer segments, comma-separated.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    pub segment: Option<String>,
    /// Customer regions, comma-separated.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    pub region: Option<String>,
}

impl FilterParams {
    /// Every parameter by name, the two days first.
    fn named(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("from", &self.from),
            ("to", &self.to),
            ("unit", &self.unit),
            ("person", &self.person),
            ("channel", &self.channel),
            ("topic", &self.topic),
            ("segment", &self.segment),
            ("region", &self.region),
        ]
    }

    /// The non-empty parameters, for links that keep the same filters.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        self.named()
            .into_iter()
            .filter_map(|(name, value)| {
                value
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| (name, v.to_owned()))
            })
            .collect()
    }

    pub fn filters(&self) -> Result<Filters, ApiError> {
        // The days are checked as dates below; the rest are ids, codes and names.
        for (name, value) in &self.named()[2..] {
            if let Some(value) = value {
                plain_text(name, value)?;
            }
        }
        let filters = Filters {
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            unit: self.unit.clone().filter(|u| !u.trim().is_empty()),
            person: self.person.clone().filter(|p| !p.trim().is_empty()),
            channels: values(&self.channel),
            topics: values(&self.topic),
            segments: values(&self.segment),
            regions: values(&self.region),
        };
        Ok(filters)
    }
}

/// The signed-in caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User name, or `token:<id>` for an API token.
    actor: String,
    display_name: Option<String>,
    /// agent, lead, manager, executive, analyst or admin; `token` for API tokens.
    role: String,
    person_id: Option<String>,
    /// `all`, `subtree:<unit>`, `own:<person>` or `nothing`.
    scope: String,
}

fn scope_text(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Subtree { unit } => format!("subtree:{unit}"),
        Scope::Own { person, .. } => format!("own:{person}"),
        Scope::Nothing { .. } => "nothing".into(),
    }
}

#[utoipa::path(get, path = "/api/v1/me", tag = "access",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<AppState>, principal: Principal) -> Json<Me> {
    let engine = state.engine().await;
    let scope = Scope::of(&principal, engine.organisation());
    Json(match &principal {
        Principal::User { user, .. } => Me {
            actor: user.username.clone(),
            display_name: Some(user.display_name.clone()),
            role: user.role.as_str().to_owned(),
            person_id: user.person_id.clone(),
            scope: scope_text(&scope),
        },
        Principal::Token(token) => Me {
            actor: principal.actor(),
            display_name: Some(token.name.clone()),
            role: "token".into(),
            person_id: None,
            scope: scope_text(&scope),
        },
    })
}

/// One metric of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueEntry {
    name: String,
    label: String,
    description: Option<String>,
    /// contacts, surveys, transactions or customers.
    source: String,
    /// count, sum, share, mean, quantile, nps or attrition.
    kind: String,
    /// count, share, seconds, score, points, currency or number.
    unit: String,
    /// higher, lower or neutral.
    direction: String,
    endgame: Option<f64>,
}

#[utoipa::path(get, path = "/api/v1/catalogue", tag = "metrics",
    responses((status = 200, body = Vec<CatalogueEntry>), (status = 401, body = ErrorBody)))]
async fn catalogue(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<CatalogueEntry>>, ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    Ok(Json(
        engine
            .config()
            .catalogue
            .metrics()
            .iter()
            .map(|m| CatalogueEntry {
                name: m.name.clone(),
                label: m.label.clone(),
                description: m.description.clone(),
                source: m.source.as_str().to_owned(),
                kind: name_of(&m.kind),
                unit: name_of(&m.unit),
                direction: name_of(&m.direction),
                endgame: m.endgame,
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricParams {
    /// Metric names, comma-separated (default: the whole catalogue); an unknown name is a 404.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    metric: Option<String>,
    /// Group by, comma-separated: agent, team, site, division, department, company,
    /// channel, topic or category (one of the two), segment, region.
    #[param(
        pattern = r"^((agent|team|site|division|department|company|channel|topic|category|segment|region)(,(agent|team|site|division|department|company|channel|topic|segment|region))*)?$"
    )]
    by: Option<String>,
    /// The time grain (default month).
    #[param(schema_with = grain_schema)]
    grain: Option<String>,
}

/// One value of one metric for one group and period.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricValue {
    metric: String,
    period: String,
    /// Dimension → group.
    group: BTreeMap<String, String>,
    value: Option<f64>,
    /// Observations behind the value.
    n: u64,
    /// 95% interval.
    low: Option<f64>,
    high: Option<f64>,
    previous: Option<f64>,
    change: Option<f64>,
    p_value: Option<f64>,
    rank: Option<usize>,
    ranked: usize,
}

impl From<MetricRow> for MetricValue {
    fn from(row: MetricRow) -> MetricValue {
        MetricValue {
            metric: row.metric,
            period: row.period,
            group: row.group,
            value: row.value,
            n: row.n,
            low: row.low,
            high: row.high,
            previous: row.previous,
            change: row.change,
            p_value: row.p_value,
            rank: row.rank,
            ranked: row.ranked,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsAnswer {
    rows: Vec<MetricValue>,
    /// precomputed, rollup or scan.
    answered_from: String,
    /// Metrics that could not be computed for this query, with the reason.
    notes: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/metrics", tag = "metrics", params(MetricParams, FilterParams),
    responses((status = 200, body = MetricsAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn metrics(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<MetricParams>,
    Params(filters): Params<FilterParams>,
) -> Result<Json<MetricsAnswer>, ApiError> {
    let (engine, scope) = reading(&state, &principal).await?;
    for (name, value) in [
        ("metric", &params.metric),
        ("by", &params.by),
        ("grain", &params.grain),
    ] {
        if let Some(value) = value {
            plain_text(name, value)?;
        }
    }
    let org = engine.organisation();
    let by = values(&params.by)
        .iter()
        .map(|d| Dimension::parse(d).map_err(ApiError::BadRequest))
        .collect::<Result<Vec<_>, _>>()?;
    let grain = match params.grain.as_deref().filter(|g| !g.trim().is_empty()) {
        Some(grain) => Grain::parse(grain).map_err(ApiError::BadRequest)?,
        None => Grain::Month,
    };
    let filters = filters.filters()?;
    check_known(org, filters.unit.as_deref(), filters.person.as_deref())?;
    let filters = scope.narrow(org, &filters, &by)?;
    if let Some((from, to)) = empty_range(&engine, &filters) {
        return Ok(Json(MetricsAnswer {
            rows: Vec::new(),
            answered_from: "nothing".into(),
            notes: vec![format!(
                "from {from} is after to {to}: no days to answer for"
            )],
        }));
    }
    let query = Query {
        metrics: values(&params.metric),
        by,
        grain,
        filters,
    };
    let result = engine.query(&query).await?;
    Ok(Json(MetricsAnswer {
        rows: result.rows.into_iter().map(MetricValue::from).collect(),
        answered_from: result.answered_from.to_owned(),
        notes: result.notes,
    }))
}

/// The filters' days when they hold none: `from` after `to`, where a missing bound is the
/// engine's first or last day with data (as the engine reads it).
pub(crate) fn empty_range(
    engine: &cxm_metrics::Engine,
    filters: &cxm_metrics::Filters,
) -> Option<(NaiveDate, NaiveDate)> {
    let span = engine.span();
    let from = filters.from.or(span.map(|(first, _)| first))?;
    let to = filters.to.or(span.map(|(_, last)| last))?;
    (from > to).then_some((from, to))
}

/// Unknown units and people are a 404 for everyone (before scope, which would otherwise
/// tell a caller only that they may not see it).
pub(crate) fn check_known(
    org: &cxm_metrics::Organisation,
    unit: Option<&str>,
    person: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(unit) = unit
        && org.unit(unit).is_none()
    {
        return Err(ApiError::NotFound(format!("no org unit {unit}")));
    }
    if let Some(person) = person
        && org.person(person).is_none()
    {
        return Err(ApiError::NotFound(format!("no person {person}")));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScorecardParams {
    /// A year (2025), quarter (2025-Q1), month (2025-03), ISO week (2025-W10) or day
    /// (2025-03-04) [default: the latest complete month].
    #[param(
        pattern = r"^([0-9]{4}(-Q[1-4]|-W(0[1-9]|[1-4][0-9]|5[0-2])|-(0[1-9]|1[0-2])(-(0[1-9]|1[0-9]|2[0-8]))?)?)?$"
    )]
    period: Option<String>,
}

/// One metric of a scorecard.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreLineView {
    metric: String,
    label: String,
    unit: String,
    direction: String,
    actual: Option<f64>,
    n: u64,
    low: Option<f64>,
    high: Option<f64>,
    previous: Option<f64>,
    change: Option<f64>,
    p_value: Option<f64>,
    target: Option<f64>,
    target_from: Option<String>,
    gap: Option<f64>,
    /// met, missed, info, no_target, insufficient_sample or no_data.
    status: String,
    endgame: Option<f64>,
    parent: Option<f64>,
    /// Share of ranked peers this one is better than, 0–100.
    percentile: Option<f64>,
    rank: Option<usize>,
    ranked: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScorecardView {
    /// unit or person.
    subject_kind: String,
    subject_id: String,
    name: String,
    kind: String,
    period: String,
    parent: Option<String>,
    peers: String,
    lines: Vec<ScoreLineView>,
}

impl From<Scorecard> for ScorecardView {
    fn from(card: Scorecard) -> ScorecardView {
        let (subject_kind, subject_id) = match card.subject {
            Subject::Unit(id) => ("unit".to_owned(), id),
            Subject::Person(id) => ("person".to_owned(), id),
        };
        ScorecardView {
            subject_kind,
            subject_id,
            name: card.name,
            kind: card.kind,
            period: card.period,
            parent: card.parent,
            peers: card.peers,
            lines: card
                .lines
                .into_iter()
                .map(|l| ScoreLineView {
                    unit: name_of(&l.unit),
                    direction: name_of(&l.direction),
                    status: name_of(&l.status),
                    metric: l.metric,
                    label: l.label,
                    actual: l.actual,
                    n: l.n,
                    low: l.low,
                    high: l.high,
                    previous: l.previous,
                    change: l.change,
                    p_value: l.p_value,
                    target: l.target,
                    target_from: l.target_from,
                    gap: l.gap,
                    endgame: l.endgame,
                    parent: l.parent,
                    percentile: l.percentile,
                    rank: l.rank,
                    ranked: l.ranked,
                })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/org/units/{unit}/scorecard", tag = "metrics",
    params(("unit" = String, Path, description = "The org unit"), ScorecardParams),
    responses((status = 200, body = ScorecardView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn unit_scorecard(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(unit): axum::extract::Path<String>,
    Params(params): Params<ScorecardParams>,
) -> Result<Json<ScorecardView>, ApiError> {
    scorecard(state, principal, Subject::Unit(unit), params).await
}

#[utoipa::path(get, path = "/api/v1/people/{person}/scorecard", tag = "metrics",
    params(("person" = String, Path, description = "The person"), ScorecardParams),
    responses((status = 200, body = ScorecardView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn person_scorecard(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(person): axum::extract::Path<String>,
    Params(params): Params<ScorecardParams>,
) -> Result<Json<ScorecardView>, ApiError> {
    scorecard(state, principal, Subject::Person(person), params).await
}

async fn scorecard(
    state: AppState,
    principal: Principal,
    subject: Subject,
    params: ScorecardParams,
) -> Result<Json<ScorecardView>, ApiError> {
    let (engine, scope) = reading(&state, &principal).await?;
    let org = engine.organisation();
    match &subject {
        Subject::Unit(unit) => check_known(org, Some(unit), None)?,
        Subject::Person(person) => check_known(org, None, Some(person))?,
    }
    scope.check_subject(org, &subject)?;
    let period = match params.period.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(text) => Period::parse(text).map_err(ApiError::BadRequest)?,
        None => cxm_metrics::scorecard::default_period(&engine),
    };
    let targets = state.store().targets().await?;
    let card = cxm_metrics::scorecard::scorecard(&engine, &subject, period, &targets).await?;
    Ok(Json(card.into()))
}

/// One org unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitView {
    id: String,
    name: String,
    parent: Option<String>,
    /// company, division, site, department or team.
    level: String,
}

#[utoipa::path(get, path = "/api/v1/org/units", tag = "organisation",
    responses((status = 200, body = Vec<UnitView>), (status = 401, body = ErrorBody)))]
async fn units(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<UnitView>>, ApiError> {
    let (engine, scope) = reading(&state, &principal).await?;
    let org = engine.organisation();
    Ok(Json(
        org.units()
            .iter()
            .filter(|u| scope.sees_unit(org, &u.id))
            .map(|u| UnitView {
                id: u.id.clone(),
                name: u.name.clone(),
                parent: u.parent.clone(),
                level: u.level.clone(),
            })
            .collect(),
    ))
}

/// One person.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    id: String,
    name: String,
    role: String,
    /// Their current unit.
    unit: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/people", tag = "organisation",
    responses((status = 200, body = Vec<PersonView>), (status = 401, body = ErrorBody)))]
async fn people(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<PersonView>>, ApiError> {
    let (engine, scope) = reading(&state, &principal).await?;
    let org = engine.organisation();
    let mut people: Vec<PersonView> = org
        .people()
        .filter(|(id, _, _)| scope.sees_person(org, id))
        .map(|(id, name, role)| PersonView {
            id: id.to_owned(),
            name: name.to_owned(),
            role: role.to_owned(),
            unit: org.current_unit_of(id).map(str::to_owned),
        })
        .collect();
    people.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(people))
}

/// A target a unit or person should reach.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    metric: String,
    /// unit or person.
    scope_kind: String,
    scope_id: String,
    /// A period label (2025, 2025-Q1, …) or `*`.
    period: String,
    value: f64,
    set_at: String,
}

#[utoipa::path(get, path = "/api/v1/targets", tag = "metrics",
    responses((status = 200, body = Vec<TargetView>), (status = 401, body = ErrorBody)))]
async fn targets(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TargetView>>, ApiError> {
    let (engine, scope) = reading(&state, &principal).await?;
    let org = engine.organisation();
    let targets = state.store().targets().await?;
    Ok(Json(
        targets
            .into_iter()
            .filter(|t| match t.scope_kind {
                cxm_sql::ScopeKind::Unit => scope.sees_unit(org, &t.scope_id),
                cxm_sql::ScopeKind::Person => scope.sees_person(org, &t.scope_id),
            })
            .map(|t| TargetView {
                metric: t.metric,
                scope_kind: t.scope_kind.as_str().to_owned(),
                scope_id: t.scope_id,
                period: t.period,
                value: t.value,
                set_at: t.set_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordParams {
    /// newest (default) or worst (lowest rated answers, longest contacts first).
    #[param(schema_with = order_schema)]
    pub order: Option<String>,
    /// Records to skip.
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records per page (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

impl RecordParams {
    pub fn order(&self) -> Result<RecordOrder, ApiError> {
        Ok(self
            .order
            .as_deref()
            .filter(|order| !order.trim().is_empty())
            .map(RecordOrder::parse)
            .transpose()
            .map_err(ApiError::BadRequest)?
            .unwrap_or_default())
    }

    /// The page asked for: (offset, limit).
    pub fn page(&self) -> Result<(u64, u64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=cxm_metrics::records::MAX_PAGE).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit {limit}: expected 1 to {}",
                cxm_metrics::records::MAX_PAGE
            )));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > i64::MAX as u64 {
            return Err(ApiError::BadRequest(format!(
                "offset {offset} is too large"
            )));
        }
        Ok((offset, limit))
    }
}

/// The filters of a record listing narrowed to the caller's scope, and the visibility
/// restriction the engine applies on top: what every record reader (API, page, export)
/// starts from.
pub(crate) fn record_filters(
    org: &cxm_metrics::Organisation,
    scope: &Scope,
    params: &FilterParams,
) -> Result<(Filters, cxm_metrics::records::Visible), ApiError> {
    let filters = params.filters()?;
    check_known(org, filters.unit.as_deref(), filters.person.as_deref())?;
    let filters = scope.narrow(org, &filters, &[])?;
    let visible = scope.visible_records(org)?;
    Ok((filters, visible))
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsPage {
    /// Records matching the filters in the caller's scope.
    total: u64,
    offset: u64,
    limit: u64,
    columns: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

async fn records(
    state: AppState,
    principal: Principal,
    (filters, params): (FilterParams, RecordParams),
    set: RecordSet,
) -> Result<Json<RecordsPage>, ApiError> {
    let (engine, scope) = reading(&state, &principal).await?;
    let (filters, visible) = record_filters(engine.organisation(), &scope, &filters)?;
    let order = params.order()?;
    let (offset, limit) = params.page()?;
    let page = engine
        .records(set, &filters, &visible, order, offset, limit)
        .await?;
    Ok(Json(RecordsPage {
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        columns: page.columns,
        rows: page.rows,
    }))
}

#[utoipa::path(get, path = "/api/v1/records/contacts", tag = "records", params(RecordParams, FilterParams),
    responses((status = 200, body = RecordsPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn contacts(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<RecordParams>,
    Params(filters): Params<FilterParams>,
) -> Result<Json<RecordsPage>, ApiError> {
    records(state, principal, (filters, params), RecordSet::Contacts).await
}

#[utoipa::path(get, path = "/api/v1/records/answers", tag = "records", params(RecordParams, FilterParams),
    responses((status = 200, body = RecordsPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn answers(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<RecordParams>,
    Params(filters): Params<FilterParams>,
) -> Result<Json<RecordsPage>, ApiError> {
    records(state, principal, (filters, params), RecordSet::Answers).await
}
