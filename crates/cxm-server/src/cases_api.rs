//! Follow-up cases and alert rules over HTTP:
//!
//! - `GET /api/v1/cases`: the caller's cases, most urgent first;
//! - `GET /api/v1/cases/{id}`: one case with its timeline; `PATCH` works it (status,
//!   note, root cause, outcome, owner) on the version the caller read;
//! - `GET /api/v1/alert-rules`, `PUT /api/v1/alert-rules/{id}`: the rules, edited by
//!   analysts and admins.
//!
//! Cases are scoped like records: an agent sees the cases of their own contacts, a lead
//! or manager those of their subtree's units, executives, analysts, admins and read tokens
//! all of them. Leads and managers work the cases in their scope, executives and admins
//! any, and an owner always their own. A signed-in browser's change must carry its
//! session's CSRF token in the `X-CSRF-Token` header.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use cxm_domain::AccessRole;
use cxm_domain::cases::{AlertRule, CaseStatus};
use cxm_metrics::Organisation;
use cxm_sql::{Case, CaseChange, CaseEvent, CaseFilter, CaseStore, StoredRule};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Params, limit, path_id, plain_text, values};
use crate::auth::{self, Principal};
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cases", get(list_cases))
        .route("/api/v1/cases/{id}", get(get_case).patch(patch_case))
        .route("/api/v1/case-metrics", get(get_case_metrics))
        .route("/api/v1/alert-rules", get(list_rules))
        .route("/api/v1/alert-rules/{id}", axum::routing::put(put_rule))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseMetricsParams {
    /// owner (default), unit, rule or all.
    #[param(pattern = "^(owner|unit|rule|all)$")]
    by: Option<String>,
    /// Cases opened from this UTC day, YYYY-MM-DD.
    #[param(format = Date)]
    from: Option<String>,
    /// … to this one (inclusive).
    #[param(format = Date)]
    to: Option<String>,
    /// Days after closing in which a contact counts as a re-contact (default 7).
    #[param(minimum = 1, maximum = 90)]
    recontact_days: Option<u32>,
}

/// How one owner's, unit's or rule's cases are handled.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseMetricsView {
    /// The owner's person id, unit id or rule id (`(none)`, or `all`).
    group: String,
    opened: u64,
    acted: u64,
    first_action_hours_mean: Option<f64>,
    first_action_hours_median: Option<f64>,
    closed: u64,
    close_hours_mean: Option<f64>,
    close_hours_median: Option<f64>,
    /// Share settled by the due time, among settled and overdue cases: {value, n, low, high}.
    #[schema(value_type = Option<Object>)]
    sla_met: Option<cxm_domain::stats::Estimate>,
    /// Share of closed cases whose customer came back within the window.
    #[schema(value_type = Option<Object>)]
    recontacted: Option<cxm_domain::stats::Estimate>,
}

#[utoipa::path(get, path = "/api/v1/case-metrics", tag = "cases", params(CaseMetricsParams),
    responses((status = 200, body = Vec<CaseMetricsView>), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn get_case_metrics(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<CaseMetricsParams>,
) -> Result<Json<Vec<CaseMetricsView>>, ApiError> {
    principal.may_read()?;
    let by = cxm_loop::case_metrics::CaseGrouping::parse(params.by.as_deref().unwrap_or("owner"))
        .map_err(ApiError::BadRequest)?;
    let from = crate::api::day("from", &params.from)?;
    let to = crate::api::day("to", &params.to)?;
    let recontact_days = params.recontact_days.unwrap_or(7);
    if !(1..=90).contains(&recontact_days) {
        return Err(ApiError::BadRequest(format!(
            "recontact_days {recontact_days} must be in 1..=90"
        )));
    }
    let engine = state.engine().await;
    let scope = Scope::of(&principal, engine.organisation());
    let request = cxm_loop::case_metrics::CaseMetricsRequest {
        filter: scoped_filter(&scope, engine.organisation())?,
        by,
        from,
        to,
        recontact_days,
        now: chrono::Utc::now(),
    };
    let rows = cxm_loop::case_metrics::case_metrics(state.dir(), &request)
        .await
        .map_err(|error| match error {
            cxm_loop::LoopError::Sql(error) => ApiError::from(error),
            other => ApiError::internal(other),
        })?;
    Ok(Json(
        rows.into_iter()
            .map(|m| CaseMetricsView {
                group: m.group,
                opened: m.opened,
                acted: m.acted,
                first_action_hours_mean: m.first_action_hours_mean,
                first_action_hours_median: m.first_action_hours_median,
                closed: m.closed,
                close_hours_mean: m.close_hours_mean,
                close_hours_median: m.close_hours_median,
                sla_met: m.sla_met,
                recontacted: m.recontacted,
            })
            .collect(),
    ))
}

/// Most cases one listing returns.
pub const MAX_LIMIT: u32 = 1_000;

/// A follow-up case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    case_id: i64,
    rule_id: String,
    customer_id: String,
    /// The survey answer or contact that fired the rule.
    trigger_id: String,
    triggered_at: String,
    summary: String,
    agent_id: Option<String>,
    unit_id: Option<String>,
    /// Person id of the owner.
    owner_id: Option<String>,
    /// low, normal, high or urgent.
    priority: String,
    /// open, in_progress, resolved or closed.
    status: String,
    opened_at: String,
    /// When the SLA runs out.
    due_at: String,
    /// Whether the SLA ran out before the case was resolved (or, unresolved, by now).
    overdue: bool,
    first_action_at: Option<String>,
    resolved_at: Option<String>,
    closed_at: Option<String>,
    /// A topic code of the taxonomy.
    root_cause: Option<String>,
    customer_reached: Option<bool>,
    issue_fixed: Option<bool>,
    /// Name this version when changing the case.
    version: i64,
}

impl CaseView {
    pub(crate) fn of(case: Case, now: &str) -> CaseView {
        let overdue = overdue(&case, now);
        CaseView {
            case_id: case.case_id,
            rule_id: case.rule_id,
            customer_id: case.customer_id,
            trigger_id: case.trigger_id,
            triggered_at: case.triggered_at,
            summary: case.summary,
            agent_id: case.agent_id,
            unit_id: case.unit_id,
            owner_id: case.owner_id,
            priority: case.priority.as_str().to_owned(),
            status: case.status.as_str().to_owned(),
            opened_at: case.opened_at,
            due_at: case.due_at,
            overdue,
            first_action_at: case.first_action_at,
            resolved_at: case.resolved_at,
            closed_at: case.closed_at,
            root_cause: case.root_cause,
            customer_reached: case.customer_reached,
            issue_fixed: case.issue_fixed,
            version: case.version,
        }
    }
}

/// Whether the SLA ran out before the case was resolved (or, unresolved, by `now`).
/// RFC 3339 UTC text of one format compares as time.
pub(crate) fn overdue(case: &Case, now: &str) -> bool {
    let settled = case.resolved_at.as_deref().or(case.closed_at.as_deref());
    settled.unwrap_or(now) > case.due_at.as_str()
}

/// One entry of a case's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    at: String,
    actor: String,
    /// opened, status, note, assigned, root_cause or outcome.
    kind: String,
    from_status: Option<String>,
    to_status: Option<String>,
    note: String,
}

impl From<CaseEvent> for TimelineEntry {
    fn from(event: CaseEvent) -> Self {
        TimelineEntry {
            at: event.at,
            actor: event.actor,
            kind: event.kind,
            from_status: event.from_status,
            to_status: event.to_status,
            note: event.note,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    cases: Vec<CaseView>,
    /// Cases matching, beyond the limit too.
    total: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    case: CaseView,
    timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseParams {
    /// Statuses, comma-separated (default: open,in_progress).
    #[param(
        pattern = r"^((open|in_progress|resolved|closed)(,(open|in_progress|resolved|closed))*)?$"
    )]
    status: Option<String>,
    /// Only this owner's (person id).
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    owner: Option<String>,
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    rule: Option<String>,
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    customer: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A change to a case, made on the version read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseUpdate {
    /// The version read; a change on an older one is refused with 409.
    #[serde(deserialize_with = "whole_number")]
    version: i64,
    /// in_progress, resolved, closed, or open to reopen a closed case.
    #[schema(pattern = "^(open|in_progress|resolved|closed)$")]
    status: Option<String>,
    #[schema(max_length = 5000)]
    note: Option<String>,
    /// A topic code of the taxonomy.
    #[schema(pattern = r"^[^\x00-\x1f\x7f]*$")]
    root_cause: Option<String>,
    customer_reached: Option<bool>,
    issue_fixed: Option<bool>,
    /// A new owner (person id).
    #[schema(pattern = r"^[^\x00-\x1f\x7f]*$")]
    owner_id: Option<String>,
}

/// A JSON number without a fractional part (`3` or `3.0`), as JSON Schema's integer.
pub(crate) fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_i64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= 9.0e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number")))
}

/// Now, as case times are stored: RFC 3339 in UTC to the second (sorts as text).
pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The filter that keeps a listing inside the caller's scope.
pub(crate) fn scoped_filter(scope: &Scope, org: &Organisation) -> Result<CaseFilter, ApiError> {
    let mut filter = CaseFilter::default();
    match scope {
        Scope::All => {}
        Scope::Subtree { unit } => {
            filter.units = Some(org.subtree(unit).map(|u| u.id.clone()).collect());
        }
        Scope::Own { person, .. } => filter.agent_id = Some(person.clone()),
        Scope::Nothing { reason } => return Err(ApiError::Forbidden(reason.clone())),
    }
    Ok(filter)
}

pub(crate) fn sees_case(scope: &Scope, org: &Organisation, case: &Case) -> bool {
    match scope {
        Scope::All => true,
        Scope::Subtree { unit } => case.unit_id.as_deref().is_some_and(|u| org.within(u, unit)),
        Scope::Own { person, .. } => case.agent_id.as_deref() == Some(person.as_str()),
        Scope::Nothing { .. } => false,
    }
}

/// Whether the caller may change this case (which they can see).
pub(crate) fn may_work(principal: &Principal, case: &Case) -> Result<(), ApiError> {
    let user = principal.user()?;
    let owner = user.person_id.is_some() && user.person_id == case.owner_id;
    match user.role {
        AccessRole::Executive | AccessRole::Admin | AccessRole::Lead | AccessRole::Manager => {
            Ok(())
        }
        _ if owner => Ok(()),
        _ => Err(ApiError::Forbidden(
            "leads and managers work the cases of their units; you may read this one".into(),
        )),
    }
}

/// The case with this id, if the caller may see it (else a 404 that does not tell
/// whether it exists).
pub(crate) async fn visible_case(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<(Case, Vec<CaseEvent>), ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    let scope = Scope::of(principal, engine.organisation());
    let missing = || ApiError::NotFound(format!("there is no case {id} in your scope"));
    let (case, events) = state.store().case(id).await?.ok_or_else(missing)?;
    if !sees_case(&scope, engine.organisation(), &case) {
        return Err(missing());
    }
    Ok((case, events))
}

#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(CaseParams),
    responses((status = 200, body = CaseList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_cases(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<CaseParams>,
) -> Result<Json<CaseList>, ApiError> {
    principal.may_read()?;
    for (name, value) in [
        ("status", &params.status),
        ("owner", &params.owner),
        ("rule", &params.rule),
        ("customer", &params.customer),
    ] {
        if let Some(value) = value {
            plain_text(name, value)?;
        }
    }
    let engine = state.engine().await;
    let scope = Scope::of(&principal, engine.organisation());
    let mut filter = scoped_filter(&scope, engine.organisation())?;
    filter.statuses = values(&params.status)
        .iter()
        .map(|s| CaseStatus::parse("status", s).map_err(|e| ApiError::BadRequest(e.reason)))
        .collect::<Result<_, _>>()?;
    if filter.statuses.is_empty() {
        filter.statuses = vec![CaseStatus::Open, CaseStatus::InProgress];
    }
    filter.owner_id = params.owner.filter(|o| !o.is_empty());
    filter.rule_id = params.rule.filter(|r| !r.is_empty());
    filter.customer_id = params.customer.filter(|c| !c.is_empty());
    filter.limit = limit(params.limit, 100, MAX_LIMIT)?;
    let store = state.store();
    let now = now_text();
    let (cases, total) = store.listed_cases(&filter).await?;
    Ok(Json(CaseList {
        cases: cases.into_iter().map(|c| CaseView::of(c, &now)).collect(),
        total,
    }))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "The case's id")),
    responses((status = 200, body = CaseDetail), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    let id = path_id(&id, "case")?;
    let (case, events) = visible_case(&state, &principal, id).await?;
    Ok(Json(CaseDetail {
        case: CaseView::of(case, &now_text()),
        timeline: events.into_iter().map(TimelineEntry::from).collect(),
    }))
}

/// A session's change must carry its CSRF token (tokens carry none).
pub(crate) fn csrf_checked(principal: &Principal, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Principal::User { csrf, .. } = principal {
        let given = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !auth::csrf_matches(csrf, given) {
            return Err(ApiError::Forbidden(
                "send the session's CSRF token in the X-CSRF-Token header".into(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(format!(
            "the body is over the limit of {} bytes",
            state.config().body_limit
        )),
        other => ApiError::BadRequest(other.body_text()),
    })?;
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("the body: {e}")))
}

/// Applies a change on behalf of the caller (shared with the case page's form).
pub(crate) async fn work_case(
    state: &AppState,
    principal: &Principal,
    id: i64,
    change: CaseChange,
) -> Result<Case, ApiError> {
    let (case, _) = visible_case(state, principal, id).await?;
    may_work(principal, &case)?;
    if let Some(note) = &change.note
        && (note.trim().is_empty() || note.len() > 5_000)
    {
        return Err(ApiError::BadRequest(
            "a note must be 1 to 5000 bytes of text".into(),
        ));
    }
    let actor = principal.actor();
    let updated = cxm_loop::update_case(state.dir(), id, &change, &actor, chrono::Utc::now())
        .await
        .map_err(|error| match error {
            cxm_loop::LoopError::Invalid(message) => ApiError::BadRequest(message),
            cxm_loop::LoopError::Sql(error) => ApiError::from(error),
            other => ApiError::internal(other),
        })?;
    state.wake_sender();
    auth::audit(
        state,
        &actor,
        "case",
        format!(
            "case {id} → {} (version {})",
            updated.status, updated.version
        ),
    )
    .await;
    Ok(updated)
}

#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "The case's id")),
    request_body(content = CaseUpdate, content_type = "application/json"),
    responses((status = 200, body = CaseView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "The case changed since the version named, or the workflow does not allow the move"),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn patch_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let id = path_id(&id, "case")?;
    // Only signed-in people work cases.
    principal.user()?;
    csrf_checked(&principal, &headers)?;
    let update: CaseUpdate = json_body(&state, body)?;
    let status = update
        .status
        .as_deref()
        .map(|s| CaseStatus::parse("status", s).map_err(|e| ApiError::BadRequest(e.reason)))
        .transpose()?;
    for (name, value) in [
        ("root_cause", &update.root_cause),
        ("owner_id", &update.owner_id),
    ] {
        if let Some(value) = value {
            plain_text(name, value)?;
        }
    }
    let change = CaseChange {
        version: update.version,
        status,
        note: update.note,
        root_cause: update.root_cause,
        customer_reached: update.customer_reached,
        issue_fixed: update.issue_fixed,
        owner_id: update.owner_id,
    };
    let case = work_case(&state, &principal, id, change).await?;
    Ok(Json(CaseView::of(case, &now_text())))
}

/// An alert rule with who changed it last.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    rule_id: String,
    name: String,
    /// What fires the rule: `{"type":"low_score","measure":"nps","at_most":6}`,
    /// `{"type":"repeat_contacts","contacts":3,"days":7}`,
    /// `{"type":"topic_kind","kind":"complaint"}` or
    /// `{"type":"high_value_comment","top_percent":10}`.
    #[schema(value_type = Object)]
    condition: serde_json::Value,
    /// What the rule watches, in words.
    watches: String,
    priority: String,
    sla_hours: u32,
    cooldown_days: u32,
    /// Only records at most this many days old open cases; absent: any age.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age_days: Option<u32>,
    enabled: bool,
    updated_at: String,
    updated_by: String,
}

impl From<StoredRule> for RuleView {
    fn from(stored: StoredRule) -> Self {
        let rule = stored.rule;
        RuleView {
            condition: serde_json::to_value(&rule.condition).unwrap_or_default(),
            watches: rule.condition.describe(),
            sla_hours: rule.sla_hours(),
            rule_id: rule.rule_id,
            name: rule.name,
            priority: rule.priority.as_str().to_owned(),
            cooldown_days: rule.cooldown_days,
            max_age_days: rule.max_age_days,
            enabled: rule.enabled,
            updated_at: stored.updated_at,
            updated_by: stored.updated_by,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "cases",
    responses((status = 200, body = Vec<RuleView>), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<RuleView>>, ApiError> {
    principal.may_read()?;
    let store = state.store();
    store
        .seed_rules(&AlertRule::defaults(), &now_text())
        .await?;
    Ok(Json(
        store
            .rules()
            .await?
            .into_iter()
            .map(RuleView::from)
            .collect(),
    ))
}

#[utoipa::path(put, path = "/api/v1/alert-rules/{id}", tag = "cases",
    params(("id" = String, Path, description = "The rule's id: lowercase letters, digits and '-'")),
    request_body(content = Object, description = "The rule: rule_id (the path's), name, condition, priority, sla_hours (optional), cooldown_days, max_age_days (optional: only records at most this many days old open cases), enabled", content_type = "application/json"),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn put_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RuleView>, ApiError> {
    let user = principal.user()?;
    if !matches!(user.role, AccessRole::Analyst | AccessRole::Admin) {
        return Err(ApiError::Forbidden(
            "only analysts and admins edit alert rules".into(),
        ));
    }
    csrf_checked(&principal, &headers)?;
    let rule: AlertRule = json_body(&state, body)?;
    if rule.rule_id != id {
        return Err(ApiError::BadRequest(format!(
            "the body's rule_id {:?} is not the path's {id:?}",
            rule.rule_id
        )));
    }
    rule.validate()
        .map_err(|e| ApiError::BadRequest(e.reason))?;
    let store = state.store();
    store
        .set_rule(&rule, &principal.actor(), &now_text())
        .await?;
    auth::audit(
        &state,
        &principal.actor(),
        "alert-rule",
        format!("rule {id} saved"),
    )
    .await;
    let stored = store
        .rules()
        .await?
        .into_iter()
        .find(|r| r.rule.rule_id == id)
        .ok_or_else(|| ApiError::Internal(format!("rule {id} vanished after saving")))?;
    Ok(Json(RuleView::from(stored)))
}
