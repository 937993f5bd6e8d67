//! Front-line ideas and initiatives over HTTP:
//!
//! - `GET /api/v1/ideas` (ranked by priority score, then votes) and `POST` to submit one;
//! - `GET /api/v1/ideas/{id}` with who voted, the timeline and the initiative; `PATCH`
//!   moves it (triage, decision, delivery), sets the priority estimate, and on approval
//!   names the initiative;
//! - `POST`/`DELETE /api/v1/ideas/{id}/vote`, `POST /api/v1/ideas/{id}/comments`;
//! - `GET /api/v1/initiatives`, `GET /api/v1/initiatives/{id}/impact`: the measured
//!   effect on the target metric (difference in differences).
//!
//! An idea belongs to its author's unit at submission. Agents see their team's ideas and
//! their own, leads and managers those of their subtree, executives, analysts and admins
//! all. Anyone linked to a person submits, votes (once) and comments on ideas they see.
//! Leads triage; managers, executives and admins decide, with a reason; the initiative's
//! owner (or management) moves it to in progress and done.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use cxm_domain::ideas::{IdeaStatus, InitiativePlan, NewIdea, PriorityInputs};
use cxm_insight::impact::{ImpactReport, ImpactRequest};
use cxm_metrics::Organisation;
use cxm_sql::{Idea, IdeaChange, IdeaDetail, IdeaFilter, IdeaStore, Initiative};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Params, limit, path_id, plain_text, values};
use crate::auth::Principal;
use crate::cases_api::{csrf_checked, json_body, now_text};
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ideas", get(list_ideas).post(post_idea))
        .route("/api/v1/ideas/{id}", get(get_idea).patch(patch_idea))
        .route(
            "/api/v1/ideas/{id}/vote",
            post(post_vote).delete(delete_vote),
        )
        .route("/api/v1/ideas/{id}/comments", post(post_comment))
        .route("/api/v1/initiatives", get(list_initiatives))
        .route("/api/v1/initiatives/{id}/impact", get(get_impact))
}

/// Whether the caller's scope holds the idea.
pub(crate) fn sees_idea(scope: &Scope, org: &Organisation, idea: &Idea) -> bool {
    match scope {
        Scope::All => true,
        Scope::Subtree { unit } => idea.unit_id.as_deref().is_some_and(|u| org.within(u, unit)),
        Scope::Own { person, team } => {
            idea.author_id == *person || (team.is_some() && idea.unit_id == *team)
        }
        Scope::Nothing { .. } => false,
    }
}

/// The listing filter that keeps to the caller's scope.
pub(crate) fn scoped_filter(scope: &Scope, org: &Organisation) -> Result<IdeaFilter, ApiError> {
    let mut filter = IdeaFilter::default();
    match scope {
        Scope::All => {}
        Scope::Subtree { unit } => {
            filter.units = Some(org.subtree(unit).map(|u| u.id.clone()).collect());
        }
        Scope::Own { person, team } => {
            filter.units = Some(team.iter().cloned().collect());
            filter.or_author = Some(person.clone());
        }
        Scope::Nothing { reason } => return Err(ApiError::Forbidden(reason.clone())),
    }
    Ok(filter)
}

/// The caller's person: ideas, votes and comments are people's.
fn person_of(principal: &Principal) -> Result<String, ApiError> {
    let user = principal.user()?;
    user.person_id.clone().ok_or_else(|| {
        ApiError::Forbidden(format!(
            "{} is not linked to a person: ideas, votes and comments are people's",
            user.username
        ))
    })
}

/// The idea with this id, if the caller may see it (else a 404 that does not say whether
/// it exists).
pub(crate) async fn visible_idea(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<IdeaDetail, ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    let scope = Scope::of(principal, engine.organisation());
    let missing = || ApiError::NotFound(format!("there is no idea {id} in your scope"));
    let detail = state.store().idea(id).await?.ok_or_else(missing)?;
    if !sees_idea(&scope, engine.organisation(), &detail.idea) {
        return Err(missing());
    }
    Ok(detail)
}

/// Submits an idea on behalf of the caller.
pub(crate) async fn submit(
    state: &AppState,
    principal: &Principal,
    idea: NewIdea,
) -> Result<Idea, ApiError> {
    let person = person_of(principal)?;
    idea.validate()
        .map_err(|e| ApiError::BadRequest(e.reason))?;
    let engine = state.engine().await;
    let org = engine.organisation();
    if let Some(topic) = idea.topics.iter().find(|t| org.topic(t).is_none()) {
        return Err(ApiError::BadRequest(format!(
            "topic {topic:?} is not in the taxonomy"
        )));
    }
    for metric in &idea.metrics {
        engine
            .config()
            .catalogue
            .get(metric)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let unit = org.current_unit_of(&person).map(str::to_owned);
    let stored = state
        .store()
        .submit_idea(&idea, &person, unit.as_deref(), &now_text())
        .await?;
    crate::auth::audit(
        state,
        &principal.actor(),
        "idea",
        format!("idea {} submitted", stored.idea_id),
    )
    .await;
    Ok(stored)
}

/// Applies a change after checking who may make it and what it names.
pub(crate) async fn change_idea(
    state: &AppState,
    principal: &Principal,
    id: i64,
    change: IdeaChange,
) -> Result<Idea, ApiError> {
    let user = principal.user()?;
    let detail = visible_idea(state, principal, id).await?;
    if detail.idea.version != change.version {
        return Err(ApiError::Conflict(format!(
            "idea {id} was changed since you read it (version {} now, yours {}): reload it and try again",
            detail.idea.version, change.version
        )));
    }
    let owner = detail
        .initiative
        .as_ref()
        .is_some_and(|i| Some(&i.owner_id) == user.person_id.as_ref());
    if let Some(to) = change.status {
        let from = detail.idea.status;
        // a move the workflow refuses is a 409 from the store; who may make it, a 403 here
        if from.transition(to).is_ok() {
            let stage = from.stage(to);
            if !stage.allows(user.role, owner) {
                return Err(ApiError::Forbidden(format!(
                    "moving an idea from {from} to {to} is for {}",
                    stage.who()
                )));
            }
        }
    }
    if let Some(priority) = &change.priority {
        priority
            .validate()
            .map_err(|e| ApiError::BadRequest(e.reason))?;
        if !cxm_domain::ideas::Stage::Triage.allows(user.role, false) {
            return Err(ApiError::Forbidden(format!(
                "the priority estimate is for {}",
                cxm_domain::ideas::Stage::Triage.who()
            )));
        }
    }
    if let Some(reason) = &change.reason
        && reason.len() > 5_000
    {
        return Err(ApiError::BadRequest(
            "a reason must be at most 5000 bytes".into(),
        ));
    }
    if let Some(plan) = &change.initiative {
        plan.validate()
            .map_err(|e| ApiError::BadRequest(e.reason))?;
        let engine = state.engine().await;
        let org = engine.organisation();
        if org.person(&plan.owner_id).is_none() {
            return Err(ApiError::BadRequest(format!(
                "owner {:?} is not a known person",
                plan.owner_id
            )));
        }
        if let Some(unit) = plan.scope.iter().find(|u| org.unit(u).is_none()) {
            return Err(ApiError::BadRequest(format!(
                "scope unit {unit:?} is not in the org tree"
            )));
        }
        let scope = Scope::of(principal, org);
        if let Some(unit) = plan.scope.iter().find(|u| !scope.sees_unit(org, u)) {
            return Err(ApiError::Forbidden(format!(
                "scope unit {unit} is outside your own scope"
            )));
        }
        engine
            .config()
            .catalogue
            .get(&plan.target_metric)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let actor = principal.actor();
    let updated = state
        .store()
        .update_idea(id, &change, &actor, &now_text())
        .await?;
    crate::auth::audit(
        state,
        &actor,
        "idea",
        format!(
            "idea {id} → {} (version {})",
            updated.status, updated.version
        ),
    )
    .await;
    Ok(updated)
}

/// Votes for an idea (or takes the vote back); whether anything changed.
pub(crate) async fn set_vote(
    state: &AppState,
    principal: &Principal,
    id: i64,
    vote: bool,
) -> Result<bool, ApiError> {
    let person = person_of(principal)?;
    visible_idea(state, principal, id).await?;
    let store = state.store();
    Ok(if vote {
        store.vote(id, &person, &now_text()).await?
    } else {
        store.unvote(id, &person).await?
    })
}

pub(crate) async fn add_comment(
    state: &AppState,
    principal: &Principal,
    id: i64,
    text: &str,
) -> Result<(), ApiError> {
    person_of(principal)?;
    if text.trim().is_empty() || text.len() > 5_000 {
        return Err(ApiError::BadRequest(
            "a comment must be 1 to 5000 bytes of text".into(),
        ));
    }
    visible_idea(state, principal, id).await?;
    state
        .store()
        .comment(id, &principal.actor(), text.trim(), &now_text())
        .await?;
    Ok(())
}

/// The initiative and its measured impact, if the caller sees its idea.
pub(crate) async fn initiative_impact(
    state: &AppState,
    principal: &Principal,
    initiative_id: i64,
) -> Result<(Initiative, IdeaDetail, Result<ImpactReport, ApiError>), ApiError> {
    let missing = || {
        ApiError::NotFound(format!(
            "there is no initiative {initiative_id} in your scope"
        ))
    };
    let initiative = state
        .store()
        .initiative(initiative_id)
        .await?
        .ok_or_else(missing)?;
    let detail = visible_idea(state, principal, initiative.idea_id)
        .await
        .map_err(|_| missing())?;
    let start = chrono::NaiveDate::parse_from_str(&initiative.start, "%Y-%m-%d")
        .map_err(|e| ApiError::Internal(format!("initiative {initiative_id}'s start: {e}")))?;
    let request = ImpactRequest::new(&initiative.target_metric, initiative.scope.clone(), start);
    let engine = state.engine().await;
    let org = engine.organisation();
    let scope = Scope::of(principal, org);
    // The groups' aggregates are for everyone who sees the idea; single teams' figures
    // only for those whose scope holds the team.
    let report = cxm_insight::impact::impact(&engine, &request)
        .await
        .map(|mut report| {
            report.units.retain(|u| scope.sees_unit(org, &u.unit));
            report.skipped.retain(|u| scope.sees_unit(org, u));
            report
        })
        .map_err(ApiError::from);
    Ok((initiative, detail, report))
}

/// An idea.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdeaView {
    idea_id: i64,
    title: String,
    problem: String,
    proposal: String,
    topics: Vec<String>,
    metrics: Vec<String>,
    /// Person id of the author.
    author_id: String,
    unit_id: Option<String>,
    /// new, under_review, proposed, approved, declined, in_progress or done.
    status: String,
    /// The triage estimate (1..=5 each), once made.
    #[schema(value_type = Option<Object>)]
    priority: Option<PriorityInputs>,
    /// impact × reach ÷ effort.
    score: Option<f64>,
    votes: u64,
    comments: u64,
    created_at: String,
    updated_at: String,
    /// Name this version when changing the idea.
    version: i64,
}

impl From<Idea> for IdeaView {
    fn from(idea: Idea) -> Self {
        IdeaView {
            idea_id: idea.idea_id,
            title: idea.title,
            problem: idea.problem,
            proposal: idea.proposal,
            topics: idea.topics,
            metrics: idea.metrics,
            author_id: idea.author_id,
            unit_id: idea.unit_id,
            status: idea.status.as_str().to_owned(),
            priority: idea.priority,
            score: idea.score,
            votes: idea.votes,
            comments: idea.comments,
            created_at: idea.created_at,
            updated_at: idea.updated_at,
            version: idea.version,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdeaParams {
    /// Statuses, comma-separated (default: all).
    #[param(
        pattern = r"^((new|under_review|proposed|approved|declined|in_progress|done)(,(new|under_review|proposed|approved|declined|in_progress|done))*)?$"
    )]
    status: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/ideas", tag = "ideas", params(IdeaParams),
    responses((status = 200, body = Vec<IdeaView>), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_ideas(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<IdeaParams>,
) -> Result<Json<Vec<IdeaView>>, ApiError> {
    principal.may_read()?;
    if let Some(status) = &params.status {
        plain_text("status", status)?;
    }
    let engine = state.engine().await;
    let scope = Scope::of(&principal, engine.organisation());
    let mut filter = scoped_filter(&scope, engine.organisation())?;
    filter.statuses = values(&params.status)
        .iter()
        .map(|s| IdeaStatus::parse("status", s).map_err(|e| ApiError::BadRequest(e.reason)))
        .collect::<Result<_, _>>()?;
    filter.limit = limit(params.limit, 100, 1000)?;
    let ideas = state.store().ideas(&filter).await?;
    Ok(Json(ideas.into_iter().map(IdeaView::from).collect()))
}

/// An idea to submit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdeaSubmission {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"
    )]
    title: String,
    /// What goes wrong for customers or staff.
    #[schema(min_length = 1, max_length = 5000)]
    problem: String,
    /// What to change.
    #[schema(min_length = 1, max_length = 5000)]
    proposal: String,
    /// Topic codes of the taxonomy.
    #[serde(default)]
    #[schema(max_items = 10)]
    topics: Vec<String>,
    /// Metric names of the catalogue.
    #[serde(default)]
    #[schema(max_items = 5)]
    metrics: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/ideas", tag = "ideas",
    request_body(content = IdeaSubmission, content_type = "application/json"),
    responses((status = 201, body = IdeaView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn post_idea(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IdeaView>), ApiError> {
    person_of(&principal)?;
    csrf_checked(&principal, &headers)?;
    let submission: IdeaSubmission = json_body(&state, body)?;
    let idea = NewIdea {
        title: submission.title,
        problem: submission.problem,
        proposal: submission.proposal,
        topics: submission.topics,
        metrics: submission.metrics,
    };
    let stored = submit(&state, &principal, idea).await?;
    Ok((StatusCode::CREATED, Json(IdeaView::from(stored))))
}

/// Someone's vote.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteView {
    person_id: String,
    /// The person's name.
    name: String,
    at: String,
}

/// One entry of an idea's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdeaTimelineEntry {
    at: String,
    actor: String,
    /// submitted, status, comment or priority.
    kind: String,
    from_status: Option<String>,
    to_status: Option<String>,
    /// The comment, the decision's reason or the estimate.
    note: String,
}

/// An initiative: an approved idea being carried out.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitiativeView {
    initiative_id: i64,
    idea_id: i64,
    name: String,
    owner_id: String,
    /// Unit ids where it is carried out (with their subtrees).
    scope: Vec<String>,
    target_metric: String,
    /// YYYY-MM-DD.
    start: String,
    /// approved, in_progress or done.
    status: String,
    created_at: String,
    created_by: String,
}

impl From<Initiative> for InitiativeView {
    fn from(i: Initiative) -> Self {
        InitiativeView {
            initiative_id: i.initiative_id,
            idea_id: i.idea_id,
            name: i.name,
            owner_id: i.owner_id,
            scope: i.scope,
            target_metric: i.target_metric,
            start: i.start,
            status: i.status.as_str().to_owned(),
            created_at: i.created_at,
            created_by: i.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdeaDetailView {
    idea: IdeaView,
    /// Who voted, in the order they did.
    votes: Vec<VoteView>,
    timeline: Vec<IdeaTimelineEntry>,
    initiative: Option<InitiativeView>,
    /// The moves the caller may make now.
    may_move_to: Vec<String>,
}

/// The moves `principal` may make on the idea now.
pub(crate) fn moves_for(principal: &Principal, detail: &IdeaDetail) -> Vec<IdeaStatus> {
    let Ok(user) = principal.user() else {
        return Vec::new();
    };
    let owner = detail
        .initiative
        .as_ref()
        .is_some_and(|i| Some(&i.owner_id) == user.person_id.as_ref());
    let from = detail.idea.status;
    use cxm_domain::cases::Workflow;
    from.next()
        .iter()
        .copied()
        .filter(|to| from.stage(*to).allows(user.role, owner))
        .collect()
}

fn detail_view(
    state_org: &Organisation,
    principal: &Principal,
    detail: IdeaDetail,
) -> IdeaDetailView {
    let may_move_to = moves_for(principal, &detail)
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    IdeaDetailView {
        votes: detail
            .votes
            .into_iter()
            .map(|v| VoteView {
                name: state_org
                    .person(&v.person_id)
                    .map_or_else(|| v.person_id.clone(), |(name, _)| name.to_owned()),
                person_id: v.person_id,
                at: v.at,
            })
            .collect(),
        timeline: detail
            .timeline
            .into_iter()
            .map(|e| IdeaTimelineEntry {
                at: e.at,
                actor: e.actor,
                kind: e.kind,
                from_status: e.from_status,
                to_status: e.to_status,
                note: e.note,
            })
            .collect(),
        initiative: detail.initiative.map(InitiativeView::from),
        idea: IdeaView::from(detail.idea),
        may_move_to,
    }
}

#[utoipa::path(get, path = "/api/v1/ideas/{id}", tag = "ideas",
    params(("id" = i64, Path, description = "The idea's id")),
    responses((status = 200, body = IdeaDetailView), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_idea(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<IdeaDetailView>, ApiError> {
    let id = path_id(&id, "idea")?;
    let detail = visible_idea(&state, &principal, id).await?;
    let engine = state.engine().await;
    Ok(Json(detail_view(engine.organisation(), &principal, detail)))
}

/// A change to an idea, made on the version read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdeaUpdate {
    /// The version read; a change on an older one is refused with 409.
    #[serde(deserialize_with = "crate::cases_api::whole_number")]
    version: i64,
    /// The status to move to.
    #[schema(pattern = "^(new|under_review|proposed|approved|declined|in_progress|done)$")]
    status: Option<String>,
    /// Why: required to approve or decline.
    #[schema(max_length = 5000)]
    reason: Option<String>,
    /// The triage estimate: {"impact": 1..5, "reach": 1..5, "effort": 1..5}.
    #[schema(value_type = Option<Object>)]
    priority: Option<PriorityInputs>,
    /// Required to approve: {"name", "owner_id", "scope": [unit ids], "target_metric",
    /// "start": "YYYY-MM-DD"}.
    #[schema(value_type = Option<Object>)]
    initiative: Option<InitiativePlan>,
}

#[utoipa::path(patch, path = "/api/v1/ideas/{id}", tag = "ideas",
    params(("id" = i64, Path, description = "The idea's id")),
    request_body(content = IdeaUpdate, content_type = "application/json"),
    responses((status = 200, body = IdeaView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "The idea changed since the version named, or the workflow does not allow the move"),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn patch_idea(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IdeaView>, ApiError> {
    let id = path_id(&id, "idea")?;
    principal.user()?;
    csrf_checked(&principal, &headers)?;
    let update: IdeaUpdate = json_body(&state, body)?;
    let status = update
        .status
        .as_deref()
        .map(|s| IdeaStatus::parse("status", s).map_err(|e| ApiError::BadRequest(e.reason)))
        .transpose()?;
    let change = IdeaChange {
        version: update.version,
        status,
        reason: update.reason,
        priority: update.priority,
        initiative: update.initiative,
    };
    let idea = change_idea(&state, &principal, id, change).await?;
    Ok(Json(IdeaView::from(idea)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VoteResult {
    /// Whether the vote changed anything (false: already voted, or no vote to take back).
    changed: bool,
    votes: u64,
}

async fn vote(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    id: &str,
    up: bool,
) -> Result<Json<VoteResult>, ApiError> {
    let id = path_id(id, "idea")?;
    principal.user()?;
    csrf_checked(principal, headers)?;
    let changed = set_vote(state, principal, id, up).await?;
    let votes = visible_idea(state, principal, id).await?.idea.votes;
    Ok(Json(VoteResult { changed, votes }))
}

#[utoipa::path(post, path = "/api/v1/ideas/{id}/vote", tag = "ideas",
    params(("id" = i64, Path, description = "The idea's id")),
    responses((status = 200, body = VoteResult), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn post_vote(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<VoteResult>, ApiError> {
    vote(&state, &principal, &headers, &id, true).await
}

#[utoipa::path(delete, path = "/api/v1/ideas/{id}/vote", tag = "ideas",
    params(("id" = i64, Path, description = "The idea's id")),
    responses((status = 200, body = VoteResult), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_vote(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<VoteResult>, ApiError> {
    vote(&state, &principal, &headers, &id, false).await
}

/// A comment on an idea.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    text: String,
}

#[utoipa::path(post, path = "/api/v1/ideas/{id}/comments", tag = "ideas",
    params(("id" = i64, Path, description = "The idea's id")),
    request_body(content = CommentBody, content_type = "application/json"),
    responses((status = 204, description = "Added to the timeline"), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn post_comment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id, "idea")?;
    person_of(&principal)?;
    csrf_checked(&principal, &headers)?;
    let comment: CommentBody = json_body(&state, body)?;
    add_comment(&state, &principal, id, &comment.text).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/initiatives", tag = "ideas",
    responses((status = 200, body = Vec<InitiativeView>), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_initiatives(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<InitiativeView>>, ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    let org = engine.organisation();
    let scope = Scope::of(&principal, org);
    let store = state.store();
    // the initiatives of the ideas in scope (an approved idea is one of these statuses)
    let mut filter = scoped_filter(&scope, org)?;
    filter.statuses = vec![
        IdeaStatus::Approved,
        IdeaStatus::InProgress,
        IdeaStatus::Done,
    ];
    filter.limit = u32::MAX;
    let ideas: std::collections::HashSet<i64> = store
        .ideas(&filter)
        .await?
        .iter()
        .map(|i| i.idea_id)
        .collect();
    Ok(Json(
        store
            .initiatives(1_000)
            .await?
            .into_iter()
            .filter(|i| ideas.contains(&i.idea_id))
            .map(InitiativeView::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/initiatives/{id}/impact", tag = "ideas",
    params(("id" = i64, Path, description = "The initiative's id")),
    responses((status = 200, body = Object, description = "The target metric in the scope's teams against the others, before and after the start: each team's values, the difference-in-differences effect with its interval, and the weekly trend"),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "No such initiative in scope, or the data cannot measure it yet")))]
pub(crate) async fn get_impact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ImpactReport>, ApiError> {
    let id = path_id(&id, "initiative")?;
    let (_, _, report) = initiative_impact(&state, &principal, id).await?;
    Ok(Json(report?))
}
