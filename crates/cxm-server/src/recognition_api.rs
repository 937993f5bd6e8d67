//! Recognition over HTTP:
//!
//! - `GET|POST /api/v1/kudos`: kudos in the caller's scope (newest first); any signed-in
//!   person gives a colleague kudos;
//! - `GET /api/v1/kudos/candidates`, `POST /api/v1/kudos/candidates/{response_id}`:
//!   customers' praising comments not yet recognised, accepted as kudos by leads and
//!   management;
//! - `GET|POST /api/v1/stories`, `GET|PATCH /api/v1/stories/{id}`: the success-story
//!   library, searchable, with a published flag leaders set;
//! - `GET /api/v1/most-improved`: the teams (and, for leads and above, agents) whose
//!   metric improved most this quarter over the last, among those with enough answers.
//!
//! Kudos and stories belong to a unit (the recipient's, the story's). Agents see their
//! team's and their own; leads and managers their subtree's; executives, analysts and
//! admins all. Drafts are seen by their author and by leads and management in scope.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use cxm_domain::AccessRole;
use cxm_domain::metrics::{Grain, Period};
use cxm_domain::recognition::{KudosSource, NewStory, check_message};
use cxm_loop::recognition::{PraiseCandidate, praise_candidates};
use cxm_metrics::movers::{Mover, movers};
use cxm_metrics::{Dimension, Filters, Organisation, Query};
use cxm_sql::{Kudos, NewKudos, RecognitionFilter, RecognitionStore, Story};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Params, limit, path_id, plain_text};
use crate::auth::Principal;
use crate::cases_api::{csrf_checked, json_body, now_text};
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/kudos", get(list_kudos).post(post_kudos))
        .route("/api/v1/kudos/candidates", get(list_candidates))
        .route(
            "/api/v1/kudos/candidates/{response_id}",
            post(accept_candidate),
        )
        .route("/api/v1/stories", get(list_stories).post(post_story))
        .route("/api/v1/stories/{id}", get(get_story).patch(patch_story))
        .route("/api/v1/most-improved", get(most_improved))
}

/// Leads, managers, executives and admins: who recognises and publishes.
pub(crate) fn is_leader(principal: &Principal) -> bool {
    principal.user().is_ok_and(|u| {
        matches!(
            u.role,
            AccessRole::Lead | AccessRole::Manager | AccessRole::Executive | AccessRole::Admin
        )
    })
}

/// The filter that keeps kudos and stories to the caller's scope.
pub(crate) fn scoped(
    principal: &Principal,
    scope: &Scope,
    org: &Organisation,
) -> Result<RecognitionFilter, ApiError> {
    let me = principal
        .user()
        .ok()
        .and_then(|u| u.person_id.clone().or_else(|| Some(u.username.clone())));
    let mut filter = RecognitionFilter {
        or_person: me,
        published_only: !is_leader(principal),
        limit: 100,
        ..Default::default()
    };
    match scope {
        Scope::All => {}
        Scope::Subtree { unit } => {
            filter.units = Some(org.subtree(unit).map(|u| u.id.clone()).collect());
        }
        Scope::Own { team, .. } => filter.units = Some(team.iter().cloned().collect()),
        Scope::Nothing { reason } => return Err(ApiError::Forbidden(reason.clone())),
    }
    Ok(filter)
}

/// Who the caller is in kudos and stories: their person id, else their user name.
fn me(principal: &Principal) -> Result<String, ApiError> {
    let user = principal.user()?;
    Ok(user
        .person_id
        .clone()
        .unwrap_or_else(|| user.username.clone()))
}

fn sees_unit(scope: &Scope, org: &Organisation, unit: Option<&str>) -> bool {
    match (scope, unit) {
        (Scope::All, _) => true,
        (Scope::Subtree { unit: top }, Some(unit)) => org.within(unit, top),
        (Scope::Own { team, .. }, Some(unit)) => team.as_deref() == Some(unit),
        _ => false,
    }
}

/// The story, if the caller may see it (else a 404 that does not say whether it exists).
pub(crate) async fn visible_story(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<Story, ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    let scope = Scope::of(principal, engine.organisation());
    let missing = || ApiError::NotFound(format!("there is no story {id} in your scope"));
    let story = state.store().story(id).await?.ok_or_else(missing)?;
    let own = me(principal).is_ok_and(|me| me == story.author);
    let in_scope = sees_unit(&scope, engine.organisation(), story.unit_id.as_deref());
    if own || (in_scope && (story.published || is_leader(principal))) {
        Ok(story)
    } else {
        Err(missing())
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Kudos.
#[derive(Debug, Serialize, ToSchema)]
pub struct KudosView {
    kudos_id: i64,
    to_person: String,
    /// The colleague who gave it; absent for a customer's.
    from_person: Option<String>,
    /// colleague or customer.
    source: String,
    message: String,
    unit_id: Option<String>,
    /// A customer's kudos: the survey answer that praised.
    response_id: Option<String>,
    created_at: String,
}

impl From<Kudos> for KudosView {
    fn from(k: Kudos) -> Self {
        KudosView {
            kudos_id: k.kudos_id,
            to_person: k.to_person,
            from_person: k.from_person,
            source: k.source.as_str().to_owned(),
            message: k.message,
            unit_id: k.unit_id,
            response_id: k.response_id,
            created_at: k.created_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/kudos", tag = "recognition", params(LimitParams),
    responses((status = 200, body = Vec<KudosView>), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_kudos(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<LimitParams>,
) -> Result<Json<Vec<KudosView>>, ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    let scope = Scope::of(&principal, engine.organisation());
    let mut filter = scoped(&principal, &scope, engine.organisation())?;
    filter.limit = limit(params.limit, 100, 500)?;
    let kudos = state.store().kudos(&filter).await?;
    Ok(Json(kudos.into_iter().map(KudosView::from).collect()))
}

/// Kudos for a colleague.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KudosBody {
    /// The colleague's person id.
    #[schema(pattern = r"^[^\x00-\x1f\x7f]+$")]
    to_person: String,
    #[schema(min_length = 1, max_length = 2000)]
    message: String,
}

/// Gives a colleague kudos on behalf of the caller.
pub(crate) async fn give(
    state: &AppState,
    principal: &Principal,
    to_person: &str,
    message: &str,
) -> Result<Kudos, ApiError> {
    let from = principal.user()?.person_id.clone().ok_or_else(|| {
        ApiError::Forbidden("kudos come from people: your account is not linked to one".into())
    })?;
    plain_text("to_person", to_person)?;
    check_message(message).map_err(|e| ApiError::BadRequest(e.reason))?;
    if from == to_person {
        return Err(ApiError::BadRequest("kudos go to someone else".into()));
    }
    let engine = state.engine().await;
    let org = engine.organisation();
    if org.person(to_person).is_none() {
        return Err(ApiError::BadRequest(format!(
            "{to_person:?} is not a known person"
        )));
    }
    let kudos = NewKudos {
        to_person: to_person.to_owned(),
        from_person: Some(from),
        source: KudosSource::Colleague,
        message: message.trim().to_owned(),
        unit_id: org.current_unit_of(to_person).map(str::to_owned),
        response_id: None,
    };
    Ok(state
        .store()
        .give_kudos(&kudos, &principal.actor(), &now_text())
        .await?)
}

#[utoipa::path(post, path = "/api/v1/kudos", tag = "recognition",
    request_body(content = KudosBody, content_type = "application/json"),
    responses((status = 201, body = KudosView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn post_kudos(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<KudosView>), ApiError> {
    principal.user()?;
    csrf_checked(&principal, &headers)?;
    let body: KudosBody = json_body(&state, body)?;
    let kudos = give(&state, &principal, &body.to_person, &body.message).await?;
    Ok((StatusCode::CREATED, Json(KudosView::from(kudos))))
}

/// A customer's praising comment not yet recognised.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateView {
    response_id: String,
    answered_at: String,
    customer_id: String,
    agent_id: String,
    unit_id: Option<String>,
    score: String,
    comment: String,
    /// The praise words found.
    words: Vec<String>,
}

impl From<PraiseCandidate> for CandidateView {
    fn from(c: PraiseCandidate) -> Self {
        CandidateView {
            response_id: c.response_id,
            answered_at: c.answered_at,
            customer_id: c.customer_id,
            agent_id: c.agent_id,
            unit_id: c.unit_id,
            score: c.score,
            comment: c.comment,
            words: c.words.iter().map(|w| (*w).to_owned()).collect(),
        }
    }
}

/// Praise candidates of the agents in the caller's scope (leads and management only).
pub(crate) async fn candidates(
    state: &AppState,
    principal: &Principal,
    only: Option<&str>,
    limit: usize,
) -> Result<Vec<PraiseCandidate>, ApiError> {
    if !is_leader(principal) {
        return Err(ApiError::Forbidden(
            "leads and management recognise customers' praise".into(),
        ));
    }
    let engine = state.engine().await;
    let org = engine.organisation();
    let scope = Scope::of(principal, org);
    let in_scope = |agent: &str, unit: Option<&str>| {
        scope.sees_person(org, agent) || sees_unit(&scope, org, unit)
    };
    praise_candidates(state.dir(), org, &in_scope, only, limit)
        .await
        .map_err(ApiError::internal)
}

#[utoipa::path(get, path = "/api/v1/kudos/candidates", tag = "recognition", params(LimitParams),
    responses((status = 200, body = Vec<CandidateView>), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_candidates(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<LimitParams>,
) -> Result<Json<Vec<CandidateView>>, ApiError> {
    let limit = limit(params.limit, 100, 500)? as usize;
    let found = candidates(&state, &principal, None, limit).await?;
    Ok(Json(found.into_iter().map(CandidateView::from).collect()))
}

/// Accepts a customer's praise as kudos to the agent.
pub(crate) async fn accept(
    state: &AppState,
    principal: &Principal,
    response_id: &str,
) -> Result<Kudos, ApiError> {
    let found = candidates(state, principal, Some(response_id), 1).await?;
    let Some(candidate) = found.into_iter().find(|c| c.response_id == response_id) else {
        return Err(ApiError::NotFound(format!(
            "answer {response_id:?} is no praise candidate in your scope (or was accepted already)"
        )));
    };
    let kudos = candidate.into_kudos();
    Ok(state
        .store()
        .give_kudos(&kudos, &principal.actor(), &now_text())
        .await?)
}

#[utoipa::path(post, path = "/api/v1/kudos/candidates/{response_id}", tag = "recognition",
    params(("response_id" = String, Path, description = "The praising survey answer")),
    responses((status = 201, body = KudosView), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn accept_candidate(
    State(state): State<AppState>,
    principal: Principal,
    Path(response_id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<KudosView>), ApiError> {
    principal.user()?;
    csrf_checked(&principal, &headers)?;
    let kudos = accept(&state, &principal, &response_id).await?;
    Ok((StatusCode::CREATED, Json(KudosView::from(kudos))))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoryParams {
    /// Words that must all appear in the title or narrative.
    #[param(pattern = r"^[^\x00-\x1f\x7f]*$")]
    q: Option<String>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Stories in the caller's scope, searched.
pub(crate) async fn search_stories(
    state: &AppState,
    principal: &Principal,
    q: Option<&str>,
    limit_value: u32,
) -> Result<Vec<Story>, ApiError> {
    principal.may_read()?;
    if let Some(q) = q {
        plain_text("q", q)?;
    }
    let engine = state.engine().await;
    let scope = Scope::of(principal, engine.organisation());
    let mut filter = scoped(principal, &scope, engine.organisation())?;
    filter.search = q
        .unwrap_or_default()
        .split_whitespace()
        .take(10)
        .map(str::to_owned)
        .collect();
    filter.limit = limit_value;
    Ok(state.store().stories(&filter).await?)
}

#[utoipa::path(get, path = "/api/v1/stories", tag = "recognition", params(StoryParams),
    responses((status = 200, body = Vec<Object>, description = "Stories, newest first"), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_stories(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<StoryParams>,
) -> Result<Json<Vec<Story>>, ApiError> {
    let limit = limit(params.limit, 100, 500)?;
    Ok(Json(
        search_stories(&state, &principal, params.q.as_deref(), limit).await?,
    ))
}

/// Checks a story's references and that its unit is in the caller's scope.
async fn checked_story(
    state: &AppState,
    principal: &Principal,
    story: &NewStory,
) -> Result<(), ApiError> {
    story
        .validate()
        .map_err(|e| ApiError::BadRequest(e.reason))?;
    let engine = state.engine().await;
    let org = engine.organisation();
    let scope = Scope::of(principal, org);
    match story.unit_id.as_deref() {
        Some(unit) if org.unit(unit).is_none() => {
            return Err(ApiError::BadRequest(format!(
                "unit {unit:?} is not in the org tree"
            )));
        }
        unit if !sees_unit(&scope, org, unit) => {
            return Err(ApiError::Forbidden(
                "a story belongs to a unit in your scope".into(),
            ));
        }
        _ => {}
    }
    if let Some(person) = story.people.iter().find(|p| org.person(p).is_none()) {
        return Err(ApiError::BadRequest(format!(
            "{person:?} is not a known person"
        )));
    }
    Ok(())
}

/// Adds a story on behalf of the caller (its unit defaults to theirs).
pub(crate) async fn add(
    state: &AppState,
    principal: &Principal,
    mut story: NewStory,
) -> Result<Story, ApiError> {
    let author = me(principal)?;
    if story.unit_id.is_none() {
        let engine = state.engine().await;
        story.unit_id = engine
            .organisation()
            .current_unit_of(&author)
            .map(str::to_owned);
    }
    checked_story(state, principal, &story).await?;
    Ok(state
        .store()
        .add_story(&story, &author, &now_text())
        .await?)
}

#[utoipa::path(post, path = "/api/v1/stories", tag = "recognition",
    request_body(content = Object, description = "title, narrative, unit_id (default: yours), people (person ids), evidence ([{kind: contact|answer|metric|initiative, reference, note}])", content_type = "application/json"),
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn post_story(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Story>), ApiError> {
    principal.user()?;
    csrf_checked(&principal, &headers)?;
    let story: NewStory = json_body(&state, body)?;
    let stored = add(&state, &principal, story).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

#[utoipa::path(get, path = "/api/v1/stories/{id}", tag = "recognition",
    params(("id" = i64, Path, description = "The story's id")),
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_story(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Story>, ApiError> {
    let id = path_id(&id, "story")?;
    Ok(Json(visible_story(&state, &principal, id).await?))
}

/// A change to a story, on the version read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoryUpdate {
    #[serde(deserialize_with = "crate::cases_api::whole_number")]
    version: i64,
    /// The story's new text and evidence (as when adding it).
    #[schema(value_type = Option<Object>)]
    story: Option<NewStory>,
    /// Publish (leads and management only) or withdraw it.
    published: Option<bool>,
}

impl StoryUpdate {
    /// Publishes (or withdraws) the story read at `version`.
    pub(crate) fn publish(version: i64, published: bool) -> StoryUpdate {
        StoryUpdate {
            version,
            story: None,
            published: Some(published),
        }
    }
}

/// Edits or publishes a story on behalf of the caller.
pub(crate) async fn change(
    state: &AppState,
    principal: &Principal,
    id: i64,
    update: StoryUpdate,
) -> Result<Story, ApiError> {
    let story = visible_story(state, principal, id).await?;
    let own = me(principal).is_ok_and(|me| me == story.author);
    if !own && !is_leader(principal) {
        return Err(ApiError::Forbidden(
            "a story is edited by its author, or by leads and management".into(),
        ));
    }
    if update.published.is_some() && !is_leader(principal) {
        return Err(ApiError::Forbidden(
            "leads and management publish stories".into(),
        ));
    }
    if let Some(content) = &update.story {
        checked_story(state, principal, content).await?;
    }
    // an author's rewrite goes back to the leaders before it is told again
    let published = if update.story.is_some() && !is_leader(principal) {
        Some(false)
    } else {
        update.published
    };
    Ok(state
        .store()
        .update_story(
            id,
            update.version,
            update.story.as_ref(),
            published,
            &now_text(),
        )
        .await?)
}

#[utoipa::path(patch, path = "/api/v1/stories/{id}", tag = "recognition",
    params(("id" = i64, Path, description = "The story's id")),
    request_body(content = StoryUpdate, content_type = "application/json"),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn patch_story(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Story>, ApiError> {
    let id = path_id(&id, "story")?;
    principal.user()?;
    csrf_checked(&principal, &headers)?;
    let update: StoryUpdate = json_body(&state, body)?;
    Ok(Json(change(&state, &principal, id, update).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImprovedParams {
    /// A metric with a better direction (default csat).
    #[param(pattern = r"^[a-z0-9_]+$")]
    metric: Option<String>,
}

/// The most improved teams and agents of one metric: this quarter against the last.
#[derive(Debug, Serialize, ToSchema)]
pub struct MostImproved {
    pub(crate) metric: String,
    /// The quarter compared with the one before.
    pub(crate) period: String,
    #[schema(value_type = Vec<Object>)]
    pub(crate) teams: Vec<Mover>,
    /// Agents, for leads and above (agents see their team's aggregates only).
    #[schema(value_type = Vec<Object>)]
    pub(crate) agents: Vec<Mover>,
}

/// The most improved teams and agents in the caller's scope.
pub(crate) async fn improved(
    state: &AppState,
    principal: &Principal,
    metric: &str,
) -> Result<MostImproved, ApiError> {
    principal.may_read()?;
    let engine = state.engine().await;
    let org = engine.organisation();
    let scope = Scope::of(principal, org);
    let definition = engine
        .config()
        .catalogue
        .get(metric)
        .map_err(|e| ApiError::NotFound(e.to_string()))?
        .clone();
    let Some((_, last)) = engine.span() else {
        return Err(ApiError::NotFound("there is no data yet".into()));
    };
    let period = Period::containing(Grain::Quarter, last);
    let mut lists = Vec::new();
    for dimension in [Dimension::Level("team".into()), Dimension::Agent] {
        if dimension == Dimension::Agent && matches!(scope, Scope::Own { .. }) {
            lists.push(Vec::new());
            continue;
        }
        let filters = Filters {
            from: Some(period.start),
            to: Some(last),
            ..Filters::default()
        };
        let query = Query {
            metrics: vec![metric.to_owned()],
            filters: scope.narrow(org, &filters, std::slice::from_ref(&dimension))?,
            by: vec![dimension.clone()],
            grain: Grain::Quarter,
        };
        let rows = engine.query(&query).await?.rows;
        let (better, _) = movers(&rows, &definition, dimension.name(), 10);
        lists.push(better.into_iter().filter(|m| m.change != 0.0).collect());
    }
    let agents = lists.pop().unwrap_or_default();
    let teams = lists.pop().unwrap_or_default();
    Ok(MostImproved {
        metric: metric.to_owned(),
        period: period.to_string(),
        teams,
        agents,
    })
}

#[utoipa::path(get, path = "/api/v1/most-improved", tag = "recognition", params(ImprovedParams),
    responses((status = 200, body = MostImproved), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "No such metric, or no data yet")))]
pub(crate) async fn most_improved(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ImprovedParams>,
) -> Result<Json<MostImproved>, ApiError> {
    let metric = params.metric.unwrap_or_else(|| "csat".to_owned());
    plain_text("metric", &metric)?;
    Ok(Json(improved(&state, &principal, &metric).await?))
}
