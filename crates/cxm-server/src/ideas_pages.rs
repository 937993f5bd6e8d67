//! The idea pages: `/ideas` (the caller's ideas ranked by priority score and votes, and a
//! form to submit one), `/ideas/{id}` (the idea, who voted, its timeline, and the forms
//! the caller may use: vote, comment, triage, decide, report progress) and
//! `/initiatives/{id}` (the initiative's measured impact with its trend).

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use cxm_domain::ideas::{IdeaStatus, InitiativePlan, NewIdea, PriorityInputs, Stage};
use cxm_sql::{IdeaChange, IdeaDetail, IdeaStore};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use crate::api::path_id;
use crate::auth::Principal;
use crate::charts::analysis::{Line, lines_with_marker};
use crate::ideas_api::{self, initiative_impact};
use crate::pages::{MaybeSignedIn, form_csrf, layout, nonempty, page_response, signed_in_page};
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ideas", get(ideas_page).post(submit_form))
        .route("/ideas/{id}", get(idea_page))
        .route("/ideas/{id}/vote", post(vote_form))
        .route("/ideas/{id}/comment", post(comment_form))
        .route("/ideas/{id}/move", post(move_form))
        .route("/initiatives/{id}", get(initiative_page))
}

/// Ideas on one page.
const PAGE_IDEAS: u32 = 200;

fn score_text(score: Option<f64>) -> String {
    score.map_or_else(|| "not yet triaged".to_owned(), |s| format!("{s:.1}"))
}

async fn ideas_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let result = async {
        let engine = state.engine().await;
        let org = engine.organisation();
        let scope = Scope::of(&principal, org);
        let mut filter = ideas_api::scoped_filter(&scope, org)?;
        filter.limit = PAGE_IDEAS;
        let ideas = state.store().ideas(&filter).await?;
        let mut topics: Vec<(&str, &str)> = org
            .topics()
            .map(|(code, info)| (code, info.name.as_str()))
            .collect();
        topics.sort();
        let metrics: Vec<&str> = engine
            .config()
            .catalogue
            .metrics()
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        Ok(ideas_markup(&ideas, &csrf, &topics, &metrics))
    }
    .await;
    Ok(page_response(&principal, &csrf, "Ideas", result))
}

fn ideas_markup(
    ideas: &[cxm_sql::Idea],
    csrf: &str,
    topics: &[(&str, &str)],
    metrics: &[&str],
) -> Markup {
    html! {
        h1 { "Ideas" }
        p.summary { (ideas.len()) " ideas in your scope, highest priority score (impact × reach ÷ effort) first, then most votes." }
        @if ideas.is_empty() {
            p { "No ideas yet." }
        } @else {
            table.ideas {
                thead { tr { th { "Idea" } th { "Status" } th { "Score" } th { "Votes" } th { "Comments" } th { "Submitted" } } }
                tbody {
                    @for idea in ideas {
                        tr {
                            td { a href={ "/ideas/" (idea.idea_id) } { (idea.title) } }
                            td { (idea.status) }
                            td { (score_text(idea.score)) }
                            td { (idea.votes) }
                            td { (idea.comments) }
                            td { (idea.created_at) }
                        }
                    }
                }
            }
        }
        h2 { "Submit an idea" }
        form.idea method="post" action="/ideas" {
            input type="hidden" name="csrf" value=(csrf);
            label { "Title " input name="title" required maxlength="200"; }
            label { "Problem: what goes wrong for customers or for us " textarea name="problem" rows="3" required maxlength="5000" {} }
            label { "Proposal: what to change " textarea name="proposal" rows="3" required maxlength="5000" {} }
            label { "Topic "
                select name="topic" {
                    option value="" { "(none)" }
                    @for (code, name) in topics { option value=(code) { (name) " (" (code) ")" } }
                }
            }
            label { "Metric it should move "
                select name="metric" {
                    option value="" { "(none)" }
                    @for metric in metrics { option value=(metric) { (metric) } }
                }
            }
            button type="submit" { "Submit" }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SubmitForm {
    csrf: String,
    title: String,
    problem: String,
    proposal: String,
    topic: Option<String>,
    metric: Option<String>,
}

async fn submit_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    form: Result<Form<SubmitForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the idea form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    let idea = NewIdea {
        title: form.title.trim().to_owned(),
        problem: form.problem.trim().to_owned(),
        proposal: form.proposal.trim().to_owned(),
        topics: nonempty(form.topic).into_iter().collect(),
        metrics: nonempty(form.metric).into_iter().collect(),
    };
    let stored = ideas_api::submit(&state, &principal, idea)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/ideas/{}", stored.idea_id)).into_response())
}

fn idea_markup(
    detail: &IdeaDetail,
    names: &dyn Fn(&str) -> String,
    csrf: &str,
    voted: bool,
    moves: &[IdeaStatus],
    triage: bool,
    error: Option<&str>,
) -> Markup {
    let idea = &detail.idea;
    let id = idea.idea_id;
    html! {
        h1 { (idea.title) " · " (idea.status) }
        @if let Some(error) = error { p.error role="alert" { (error) } }
        dl.idea {
            dt { "Problem" } dd { (idea.problem) }
            dt { "Proposal" } dd { (idea.proposal) }
            dt { "Topics" } dd { (idea.topics.join(", ")) }
            dt { "Metrics" } dd { (idea.metrics.join(", ")) }
            dt { "Submitted by" } dd { (names(&idea.author_id)) " on " (idea.created_at) }
            dt { "Priority score" } dd.score {
                @match &idea.priority {
                    Some(p) => { (p.to_string()) }
                    None => { "not yet triaged" }
                }
            }
        }
        @if let Some(initiative) = &detail.initiative {
            p.initiative {
                "Initiative: " a href={ "/initiatives/" (initiative.initiative_id) } { (initiative.name) }
                ", owned by " (names(&initiative.owner_id)) ", from " (initiative.start)
                " in " (initiative.scope.join(", ")) ", measured on " (initiative.target_metric)
            }
        }
        h2 { "Votes (" (idea.votes) ")" }
        p.voters {
            @if detail.votes.is_empty() { "No votes yet." }
            @else { (detail.votes.iter().map(|v| names(&v.person_id)).collect::<Vec<_>>().join(", ")) }
        }
        form.vote method="post" action={ "/ideas/" (id) "/vote" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="vote" value=(if voted { "0" } else { "1" });
            button type="submit" { @if voted { "Take my vote back" } @else { "Vote for it" } }
        }
        h2 { "Timeline" }
        ol.timeline {
            @for event in &detail.timeline {
                li {
                    (event.at) " · " (event.actor) " · " (event.kind)
                    @if let (Some(from), Some(to)) = (&event.from_status, &event.to_status) { " " (from) " → " (to) }
                    @if !event.note.is_empty() { " · " (event.note) }
                }
            }
        }
        form.comment method="post" action={ "/ideas/" (id) "/comment" } {
            input type="hidden" name="csrf" value=(csrf);
            label { "Comment " textarea name="text" rows="2" required maxlength="5000" {} }
            button type="submit" { "Comment" }
        }
        @if !moves.is_empty() || triage {
            h2 { "Move it on" }
            form.move method="post" action={ "/ideas/" (id) "/move" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="version" value=(idea.version);
                @if !moves.is_empty() {
                    label { "Move to "
                        select name="status" {
                            option value="" { "(keep " (idea.status) ")" }
                            @for to in moves { option value=(to.as_str()) { (to) } }
                        }
                    }
                    label { "Reason (required to approve or decline) " textarea name="reason" rows="2" maxlength="5000" {} }
                }
                @if triage {
                    fieldset.priority {
                        legend { "Priority estimate, 1 (least) to 5 (most)" }
                        @for (name, label) in [("impact", "Impact"), ("reach", "Reach"), ("effort", "Effort")] {
                            label { (label) " "
                                select name=(name) {
                                    option value="" { "(unchanged)" }
                                    @for v in 1..=5 { option value=(v) { (v) } }
                                }
                            }
                        }
                    }
                }
                @if moves.contains(&IdeaStatus::Approved) {
                    fieldset.initiative {
                        legend { "When approving: the initiative" }
                        label { "Name " input name="initiative_name" maxlength="200"; }
                        label { "Owner (person id) " input name="owner_id" maxlength="64"; }
                        label { "Scope (unit ids, comma-separated) " input name="scope" maxlength="2000"; }
                        label { "Target metric " input name="target_metric" value=(idea.metrics.first().map_or("", String::as_str)) maxlength="64"; }
                        label { "Start (YYYY-MM-DD) " input name="start" placeholder="YYYY-MM-DD" pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}" maxlength="10"; }
                    }
                }
                button type="submit" { "Save" }
            }
        }
    }
}

async fn render_idea(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    id: i64,
    error: Option<&str>,
) -> Result<Markup, ApiError> {
    let detail = ideas_api::visible_idea(state, principal, id).await?;
    let engine = state.engine().await;
    let org = engine.organisation();
    let names = |person: &str| {
        org.person(person).map_or_else(
            || person.to_owned(),
            |(name, _)| format!("{name} ({person})"),
        )
    };
    let user = principal.user()?;
    let voted = detail
        .votes
        .iter()
        .any(|v| Some(&v.person_id) == user.person_id.as_ref());
    let moves = ideas_api::moves_for(principal, &detail);
    let triage = Stage::Triage.allows(user.role, false) && detail.idea.status.is_open();
    Ok(idea_markup(
        &detail, &names, csrf, voted, &moves, triage, error,
    ))
}

async fn idea_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let id = path_id(&id, "idea").map_err(IntoResponse::into_response)?;
    let result = render_idea(&state, &principal, &csrf, id, None).await;
    Ok(page_response(
        &principal,
        &csrf,
        &format!("Idea #{id}"),
        result,
    ))
}

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    csrf: String,
    vote: String,
}

async fn vote_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<VoteForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let id = path_id(&id, "idea").map_err(IntoResponse::into_response)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the vote form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    ideas_api::set_vote(&state, &principal, id, form.vote == "1")
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/ideas/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    csrf: String,
    text: String,
}

async fn comment_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<CommentForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let id = path_id(&id, "idea").map_err(IntoResponse::into_response)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the comment form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    ideas_api::add_comment(&state, &principal, id, &form.text)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/ideas/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    csrf: String,
    version: i64,
    status: Option<String>,
    reason: Option<String>,
    impact: Option<String>,
    reach: Option<String>,
    effort: Option<String>,
    initiative_name: Option<String>,
    owner_id: Option<String>,
    scope: Option<String>,
    target_metric: Option<String>,
    start: Option<String>,
}

fn change_of(form: MoveForm) -> Result<IdeaChange, ApiError> {
    let status = nonempty(form.status)
        .map(|s| IdeaStatus::parse("status", &s).map_err(|e| ApiError::BadRequest(e.reason)))
        .transpose()?;
    let estimate = |name: &str, value: Option<String>| -> Result<Option<u8>, ApiError> {
        nonempty(value)
            .map(|v| {
                v.parse::<u8>()
                    .map_err(|_| ApiError::BadRequest(format!("{name} {v:?} is not 1 to 5")))
            })
            .transpose()
    };
    let priority = match (
        estimate("impact", form.impact)?,
        estimate("reach", form.reach)?,
        estimate("effort", form.effort)?,
    ) {
        (Some(impact), Some(reach), Some(effort)) => Some(PriorityInputs {
            impact,
            reach,
            effort,
        }),
        (None, None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "give impact, reach and effort together".into(),
            ));
        }
    };
    let initiative = if status == Some(IdeaStatus::Approved) {
        let start = nonempty(form.start).unwrap_or_default();
        Some(InitiativePlan {
            name: nonempty(form.initiative_name).unwrap_or_default(),
            owner_id: nonempty(form.owner_id).unwrap_or_default(),
            scope: form
                .scope
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            target_metric: nonempty(form.target_metric).unwrap_or_default(),
            start: chrono::NaiveDate::parse_from_str(&start, "%Y-%m-%d").map_err(|_| {
                ApiError::BadRequest(format!("start {start:?} is not a date (YYYY-MM-DD)"))
            })?,
        })
    } else {
        None
    };
    Ok(IdeaChange {
        version: form.version,
        status,
        reason: nonempty(form.reason),
        priority,
        initiative,
    })
}

async fn move_form(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<MoveForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let id = path_id(&id, "idea").map_err(IntoResponse::into_response)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the idea form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    let result = match change_of(form) {
        Ok(change) => ideas_api::change_idea(&state, &principal, id, change).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/ideas/{id}")).into_response()),
        // a stale copy, a refused move or a bad field: the idea as it is now, with why
        Err(error @ (ApiError::Conflict(_) | ApiError::BadRequest(_))) => {
            let status = error.status();
            let body = render_idea(&state, &principal, &csrf, id, Some(&error.to_string()))
                .await
                .map_err(IntoResponse::into_response)?;
            Ok((
                status,
                layout(&format!("Idea #{id}"), Some((&principal, &csrf)), body),
            )
                .into_response())
        }
        Err(error) => Err(error.into_response()),
    }
}

async fn initiative_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|r| *r)?;
    let result = async {
        let id = path_id(&id, "initiative")?;
        let (initiative, detail, report) = initiative_impact(&state, &principal, id).await?;
        let engine = state.engine().await;
        let org = engine.organisation();
        let scope_names: Vec<String> = initiative
            .scope
            .iter()
            .map(|u| org.unit(u).map_or_else(|| u.clone(), |unit| format!("{} ({u})", unit.name)))
            .collect();
        let format = |v: f64| {
            if v.abs() >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        };
        let chart = match &report {
            Ok(report) => {
                let labels: Vec<String> = report
                    .weeks
                    .iter()
                    .map(|w| w.week.format("%d %b").to_string())
                    .collect();
                let marker = report.weeks.iter().position(|w| w.after);
                lines_with_marker(
                    &format!("{} by week: scope and other teams", report.metric),
                    &labels,
                    &[
                        Line {
                            name: "in scope".into(),
                            values: report.weeks.iter().map(|w| w.treated).collect(),
                        },
                        Line {
                            name: "other teams".into(),
                            values: report.weeks.iter().map(|w| w.control).collect(),
                        },
                    ],
                    marker,
                    &format,
                )
                .map_err(ApiError::Internal)?
            }
            Err(_) => String::new(),
        };
        Ok(html! {
            h1 { (initiative.name) " · " (initiative.status) }
            p.summary {
                "From idea " a href={ "/ideas/" (detail.idea.idea_id) } { (detail.idea.title) }
                ". Started " (initiative.start) " in " (scope_names.join(", "))
                ", measured on " (initiative.target_metric) "."
            }
            @match &report {
                Err(error) => { p.notice { "Impact cannot be measured yet: " (error) } }
                Ok(report) => {
                    @let i = &report.impact;
                    h2 { "Impact" }
                    p.impact {
                        "Difference in differences: " strong.effect { (format(i.effect)) }
                        " (95% interval " (format(i.low)) " to " (format(i.high)) ", p = " (format!("{:.3}", i.p_value)) ")"
                        @match report.higher_is_better {
                            Some(true) => { ", where higher is better" }
                            Some(false) => { ", where lower is better" }
                            None => {}
                        }
                        "."
                    }
                    table.impact {
                        thead { tr { th { "" } th { "Teams" } th { "Before" } th { "After" } th { "Change" } } }
                        tbody {
                            tr { td { "In scope" } td { (i.treated.units) } td { (format(i.treated.before)) } td { (format(i.treated.after)) } td { (format(i.treated.change)) } }
                            tr { td { "Other teams" } td { (i.control.units) } td { (format(i.control.before)) } td { (format(i.control.after)) } td { (format(i.control.change)) } }
                        }
                    }
                    p.method {
                        "Each team's " (report.metric) " over " (report.from) " to " (report.to)
                        ", the weeks before the start against the weeks from it on; the effect is the scope's mean change minus the other teams' mean change, with Welch's interval over teams. It assumes both would have moved alike without the initiative: the weeks before the start show whether they did."
                    }
                    figure { (PreEscaped(chart)) }
                }
            }
        })
    }
    .await;
    Ok(page_response(&principal, &csrf, "Initiative", result))
}
