//! The recognition pages: `/recognition` (kudos in the caller's scope and a form to give
//! some, customers' praise waiting to be recognised for leads, and the most improved teams
//! and agents), `/stories` (the success-story library: search, the stories, a form to
//! write one) and `/stories/{id}` (one story, published or withdrawn by leaders).

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use cxm_domain::recognition::{Evidence, NewStory};
use maud::html;
use serde::Deserialize;

use crate::api::Params;
use crate::pages::{MaybeSignedIn, form_csrf, page_response, signed_in_page};
use crate::recognition_api::{self as api, StoryUpdate, is_leader};
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/recognition", get(recognition_page))
        .route("/recognition/kudos", post(kudos_form))
        .route("/recognition/accept", post(accept_form))
        .route("/stories", get(stories_page).post(story_form))
        .route("/stories/{id}", get(story_page))
        .route("/stories/{id}/publish", post(publish_form))
}

async fn recognition_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let result = async {
        let engine = state.engine().await;
        let org = engine.organisation();
        let scope = Scope::of(&principal, org);
        let mut filter = api::scoped(&principal, &scope, org)?;
        filter.limit = 50;
        let kudos = {
            use cxm_sql::RecognitionStore;
            state.store().kudos(&filter).await?
        };
        let candidates = if is_leader(&principal) {
            api::candidates(&state, &principal, None, 20).await?
        } else {
            Vec::new()
        };
        let improved = api::improved(&state, &principal, "csat").await.ok();
        let name = |person: &str| {
            org.person(person)
                .map_or_else(|| person.to_owned(), |(name, _)| name.to_owned())
        };
        let unit_name = |unit: &str| org.unit(unit).map_or_else(|| unit.to_owned(), |u| u.name.clone());
        let mut colleagues: Vec<(&str, &str)> = match &scope {
            Scope::Own { team: Some(team), .. } => org
                .people()
                .filter(|(id, _, _)| org.current_unit_of(id) == Some(team.as_str()))
                .map(|(id, name, _)| (id, name))
                .collect(),
            _ => org
                .people()
                .filter(|(id, _, _)| scope.sees_person(org, id))
                .map(|(id, name, _)| (id, name))
                .collect(),
        };
        colleagues.sort_by(|a, b| a.1.cmp(b.1));
        colleagues.truncate(500);
        Ok(html! {
            h1 { "Recognition" }
            p { "Kudos from colleagues and customers, the most improved teams and agents, and the " a href="/stories" { "success stories" } " worth telling." }
            h2 { "Give kudos" }
            form.kudos method="post" action="/recognition/kudos" {
                input type="hidden" name="csrf" value=(csrf);
                label { "To "
                    select name="to_person" required {
                        @for (id, person) in &colleagues { option value=(id) { (person) " (" (id) ")" } }
                    }
                }
                label { "For " textarea name="message" rows="2" required maxlength="2000" {} }
                button type="submit" { "Give kudos" }
            }
            h2 { "Kudos" }
            @if kudos.is_empty() { p { "No kudos yet." } } @else {
                ol.kudos {
                    @for k in &kudos {
                        li {
                            strong { (name(&k.to_person)) } " · "
                            @match &k.from_person { Some(from) => { "from " (name(from)) }, None => { "from a customer" } }
                            " · " (k.created_at) " · " q { (k.message) }
                        }
                    }
                }
            }
            @if is_leader(&principal) {
                h2 { "Customers' praise to recognise" }
                @if candidates.is_empty() { p { "No praising comments waiting." } } @else {
                    table.candidates {
                        thead { tr { th { "Agent" } th { "Answer" } th { "Comment" } th { "" } } }
                        tbody { @for c in &candidates {
                            tr {
                                td { (name(&c.agent_id)) }
                                td { (c.score) " · " (c.answered_at) }
                                td { q { (c.comment) } }
                                td { form.inline method="post" action="/recognition/accept" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="response_id" value=(c.response_id);
                                    button type="submit" { "Recognise" }
                                } }
                            }
                        } }
                    }
                }
            }
            @if let Some(improved) = &improved {
                h2 { "Most improved in CSAT · " (improved.period) " against the quarter before" }
                @for (title, list, is_team) in [("Teams", &improved.teams, true), ("Agents", &improved.agents, false)] {
                    @if !list.is_empty() {
                        h3 { (title) }
                        table.improved {
                            thead { tr { th { "" } th { "Now" } th { "Before" } th { "Change" } th { "p" } th { "n" } } }
                            tbody { @for m in list.iter() {
                                tr {
                                    td { @if is_team { (unit_name(&m.group)) } @else { (name(&m.group)) } }
                                    td.num { (format!("{:.1}%", m.value * 100.0)) }
                                    td.num { (format!("{:.1}%", m.previous * 100.0)) }
                                    td.num { (format!("{:+.1} pts", m.change * 100.0)) }
                                    td.num { (m.p_value.map_or_else(|| "–".to_owned(), |p| format!("{p:.3}"))) }
                                    td.num { (m.n) }
                                }
                            } }
                        }
                    }
                }
            }
        })
    }
    .await;
    Ok(page_response(&principal, &csrf, "Recognition", result))
}

#[derive(Debug, Deserialize)]
pub struct KudosForm {
    csrf: String,
    to_person: String,
    message: String,
}

async fn kudos_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    form: Result<Form<KudosForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the kudos form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    api::give(&state, &principal, &form.to_person, &form.message)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to("/recognition").into_response())
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    csrf: String,
    response_id: String,
}

async fn accept_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    form: Result<Form<AcceptForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    api::accept(&state, &principal, &form.response_id)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to("/recognition").into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
}

async fn stories_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Params(params): Params<SearchParams>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let result = async {
        let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let stories = api::search_stories(&state, &principal, q, 200).await?;
        Ok(html! {
            h1 { "Success stories" }
            form.search method="get" action="/stories" {
                label { "Search " input name="q" type="search" value=(q.unwrap_or_default()); }
                button type="submit" { "Search" }
            }
            @if stories.is_empty() { p { "No stories" @if q.is_some() { " match" } "." } } @else {
                ol.stories {
                    @for s in &stories {
                        li {
                            a href={ "/stories/" (s.story_id) } { (s.title) }
                            @if !s.published { " " em.draft { "draft" } }
                            " · " (s.updated_at)
                        }
                    }
                }
            }
            h2 { "Tell a story" }
            form.story method="post" action="/stories" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Title " input name="title" required maxlength="200"; }
                label { "What happened " textarea name="narrative" rows="5" required maxlength="20000" {} }
                label { "Evidence: a metric, contact or answer (optional) "
                    select name="evidence_kind" { option value="" { "(none)" } option value="metric" { "metric" } option value="contact" { "contact" } option value="answer" { "answer" } }
                }
                label { "Its name or id " input name="evidence_reference" maxlength="64"; }
                label { "What it shows " input name="evidence_note" maxlength="1000"; }
                button type="submit" { "Save as draft" }
            }
        })
    }
    .await;
    Ok(page_response(&principal, &csrf, "Stories", result))
}

#[derive(Debug, Deserialize)]
pub struct StoryForm {
    csrf: String,
    title: String,
    narrative: String,
    evidence_kind: Option<String>,
    evidence_reference: Option<String>,
    evidence_note: Option<String>,
}

async fn story_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    form: Result<Form<StoryForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the story form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    let kind = form.evidence_kind.unwrap_or_default();
    let reference = form.evidence_reference.unwrap_or_default();
    let evidence = if kind.trim().is_empty() || reference.trim().is_empty() {
        Vec::new()
    } else {
        vec![Evidence {
            kind: kind.trim().to_owned(),
            reference: reference.trim().to_owned(),
            note: form.evidence_note.unwrap_or_default().trim().to_owned(),
        }]
    };
    let story = NewStory {
        title: form.title.trim().to_owned(),
        narrative: form.narrative.trim().to_owned(),
        unit_id: None,
        people: Vec::new(),
        evidence,
    };
    let stored = api::add(&state, &principal, story)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/stories/{}", stored.story_id)).into_response())
}

async fn story_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let result = async {
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::NotFound(format!("there is no story {id:?}")))?;
        let story = api::visible_story(&state, &principal, id).await?;
        let engine = state.engine().await;
        let org = engine.organisation();
        Ok(html! {
            h1 { (story.title) @if !story.published { " · draft" } }
            p.meta {
                "By " (org.person(&story.author).map_or(story.author.as_str(), |(n, _)| n))
                @if let Some(unit) = &story.unit_id { " · " (org.unit(unit).map_or(unit.as_str(), |u| u.name.as_str())) }
                " · " (story.updated_at)
            }
            div.narrative { @for paragraph in story.narrative.split("\n\n") { p { (paragraph) } } }
            @if !story.evidence.is_empty() {
                h2 { "Evidence" }
                ul.evidence { @for e in &story.evidence { li { (e.kind) " " strong { (e.reference) } @if !e.note.is_empty() { ": " (e.note) } } } }
            }
            @if is_leader(&principal) {
                form.publish method="post" action={ "/stories/" (story.story_id) "/publish" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="version" value=(story.version);
                    input type="hidden" name="published" value=(if story.published { "false" } else { "true" });
                    button type="submit" { @if story.published { "Withdraw" } @else { "Publish" } }
                }
            }
        })
    }
    .await;
    Ok(page_response(&principal, &csrf, "Story", result))
}

#[derive(Debug, Deserialize)]
pub struct PublishForm {
    csrf: String,
    version: i64,
    published: bool,
}

async fn publish_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<PublishForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("there is no story {id:?}")).into_response())?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    let update = StoryUpdate::publish(form.version, form.published);
    api::change(&state, &principal, id, update)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/stories/{id}")).into_response())
}
