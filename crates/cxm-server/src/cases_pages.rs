//! The case pages: `/cases`, the inbox of follow-up cases in the caller's scope (most
//! urgent first, overdue ones marked), and `/cases/{id}`, one case with its timeline and,
//! for those who may work it, a form to move it on, note what was done, record the root
//! cause and the outcome.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use cxm_domain::cases::CaseStatus;
use cxm_sql::{Case, CaseChange, CaseEvent, CaseStore};
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::{Params, path_id};
use crate::auth::Principal;
use crate::cases_api;
use crate::pages::{MaybeSignedIn, form_csrf, layout, nonempty, signed_in_page};
use crate::scope::Scope;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases", get(inbox))
        .route("/cases/{id}", get(case_page).post(work))
}

/// Cases shown on one page of the inbox.
const PAGE_CASES: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct InboxParams {
    /// `all` for every status; default open and in progress.
    status: Option<String>,
    /// `1`: only the caller's own cases.
    mine: Option<String>,
}

async fn inbox(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Params(params): Params<InboxParams>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|response| *response)?;
    let result: Result<Markup, ApiError> = async {
        let engine = state.engine().await;
        let org = engine.organisation();
        let scope = Scope::of(&principal, org);
        let mut filter = cases_api::scoped_filter(&scope, org)?;
        let all = params.status.as_deref() == Some("all");
        if !all {
            filter.statuses = vec![CaseStatus::Open, CaseStatus::InProgress];
        }
        let mine = params.mine.as_deref() == Some("1");
        if mine {
            let user = principal.user()?;
            filter.owner_id = Some(user.person_id.clone().unwrap_or_default());
        }
        filter.limit = PAGE_CASES;
        let store = state.store();
        let (cases, total) = store.listed_cases(&filter).await?;
        let now = cases_api::now_text();
        let overdue = cases
            .iter()
            .filter(|c| c.status.is_active() && cases_api::overdue(c, &now))
            .count();
        let name_of = |person: &Option<String>| {
            person.as_deref().map_or_else(String::new, |p| {
                org.person(p).map_or(p.to_owned(), |(name, _)| name.to_owned())
            })
        };
        Ok(html! {
            h1 { "Follow-up cases" }
            p.summary {
                (total) " " @if all { "cases" } @else { "open cases" }
                @if mine { " of yours" } @else { " in your scope" }
                @if overdue > 0 { ", " strong.overdue { (overdue) " overdue" } " among the first " (cases.len()) }
            }
            nav.filters {
                a href="/cases" { "Open" }
                a href="/cases?mine=1" { "Mine" }
                a href="/cases?status=all" { "All statuses" }
            }
            @if cases.is_empty() {
                p { "No cases." }
            } @else {
                table.cases {
                    thead { tr {
                        th { "Case" } th { "Priority" } th { "Due" } th { "Status" }
                        th { "What happened" } th { "Owner" } th { "Team" }
                    } }
                    tbody {
                        @for case in &cases {
                            @let late = case.status.is_active() && cases_api::overdue(case, &now);
                            tr class=[late.then_some("overdue")] {
                                td { a href={ "/cases/" (case.case_id) } { "#" (case.case_id) } }
                                td { (case.priority) }
                                td { (case.due_at) @if late { " (overdue)" } }
                                td { (case.status) }
                                td { (case.summary) }
                                td { (name_of(&case.owner_id)) }
                                td { (case.unit_id.as_deref().and_then(|u| org.unit(u)).map_or("", |u| u.name.as_str())) }
                            }
                        }
                    }
                }
                @if total > cases.len() as u64 {
                    p { "The " (cases.len()) " most urgent of " (total) " are shown." }
                }
            }
        })
    }
    .await;
    match result {
        Ok(body) => Ok(layout("Cases", Some((&principal, &csrf)), body).into_response()),
        Err(error) => Err(error.into_response()),
    }
}

/// How people and units of a case are shown: name and id.
struct Names {
    agent: String,
    owner: String,
    team: String,
}

fn case_markup(
    case: &Case,
    names: &Names,
    events: &[CaseEvent],
    csrf: &str,
    workable: bool,
    topics: &[(String, String)],
    error: Option<&str>,
) -> Markup {
    let overdue = cases_api::overdue(case, &cases_api::now_text());
    let yes_no = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not recorded",
    };
    html! {
        h1 { "Case #" (case.case_id) " · " (case.status) }
        @if let Some(error) = error { p.error role="alert" { (error) } }
        p.summary { (case.summary) }
        dl.case {
            dt { "Rule" } dd { (case.rule_id) }
            dt { "Customer" } dd { (case.customer_id) }
            dt { "Triggered" } dd { (case.triggered_at) " by " (case.trigger_id) }
            dt { "Agent" } dd { (names.agent) }
            dt { "Team" } dd { (names.team) }
            dt { "Owner" } dd { (names.owner) }
            dt { "Priority" } dd { (case.priority) }
            dt { "Due" } dd { (case.due_at) @if overdue { strong.overdue { " (SLA missed)" } } }
            dt { "Root cause" } dd { (case.root_cause.as_deref().unwrap_or("-")) }
            dt { "Customer reached" } dd { (yes_no(case.customer_reached)) }
            dt { "Issue fixed" } dd { (yes_no(case.issue_fixed)) }
        }
        h2 { "Timeline" }
        ol.timeline {
            @for event in events {
                li {
                    (event.at) " · " (event.actor) " · " (event.kind)
                    @if let (Some(from), Some(to)) = (&event.from_status, &event.to_status) { " " (from) " → " (to) }
                    @if !event.note.is_empty() { " · " (event.note) }
                }
            }
        }
        @if workable {
            h2 { "Work the case" }
            form.case method="post" action={ "/cases/" (case.case_id) } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="version" value=(case.version);
                label { "Move to "
                    select name="status" {
                        option value="" { "(keep " (case.status) ")" }
                        @for next in case.status.next() { option value=(next.as_str()) { (next) } }
                    }
                }
                label { "Root cause "
                    select name="root_cause" {
                        option value="" { "(unchanged)" }
                        @for (code, name) in topics { option value=(code) { (name) " (" (code) ")" } }
                    }
                }
                label { "Customer reached "
                    select name="customer_reached" { option value="" { "(unchanged)" } option value="true" { "yes" } option value="false" { "no" } }
                }
                label { "Issue fixed "
                    select name="issue_fixed" { option value="" { "(unchanged)" } option value="true" { "yes" } option value="false" { "no" } }
                }
                label { "Note " textarea name="note" rows="3" maxlength="5000" {} }
                button type="submit" { "Save" }
            }
        }
    }
}

async fn render_case(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    id: i64,
    error: Option<&str>,
) -> Result<Markup, ApiError> {
    let (case, events) = cases_api::visible_case(state, principal, id).await?;
    let workable = cases_api::may_work(principal, &case).is_ok();
    let engine = state.engine().await;
    let org = engine.organisation();
    let mut topics: Vec<(String, String)> = org
        .topics()
        .map(|(code, info)| (code.to_owned(), info.name.clone()))
        .collect();
    topics.sort();
    let person = |id: &Option<String>, none: &str| match id.as_deref() {
        Some(id) => org
            .person(id)
            .map_or_else(|| id.to_owned(), |(name, _)| format!("{name} ({id})")),
        None => none.to_owned(),
    };
    let names = Names {
        agent: person(&case.agent_id, "-"),
        owner: person(&case.owner_id, "unassigned"),
        team: match case.unit_id.as_deref() {
            Some(id) => org
                .unit(id)
                .map_or_else(|| id.to_owned(), |u| format!("{} ({id})", u.name)),
            None => "-".to_owned(),
        },
    };
    Ok(case_markup(
        &case, &names, &events, csrf, workable, &topics, error,
    ))
}

async fn case_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|response| *response)?;
    let id = path_id(&id, "case").map_err(IntoResponse::into_response)?;
    let body = render_case(&state, &principal, &csrf, id, None)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(layout(&format!("Case #{id}"), Some((&principal, &csrf)), body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct WorkForm {
    csrf: String,
    version: i64,
    status: Option<String>,
    root_cause: Option<String>,
    customer_reached: Option<String>,
    issue_fixed: Option<String>,
    note: Option<String>,
}

fn flag(value: Option<String>) -> Result<Option<bool>, ApiError> {
    match nonempty(value).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{other:?} is neither true nor false"
        ))),
    }
}

async fn work(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<Form<WorkForm>, FormRejection>,
) -> Result<Response, Response> {
    let (principal, csrf) = signed_in_page(principal, &uri).map_err(|response| *response)?;
    let id = path_id(&id, "case").map_err(IntoResponse::into_response)?;
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest("the case form was incomplete".into()).into_response());
    };
    form_csrf(&csrf, &form.csrf).map_err(IntoResponse::into_response)?;
    let change = (|| -> Result<CaseChange, ApiError> {
        Ok(CaseChange {
            version: form.version,
            status: nonempty(form.status.clone())
                .map(|s| {
                    CaseStatus::parse("status", &s).map_err(|e| ApiError::BadRequest(e.reason))
                })
                .transpose()?,
            note: nonempty(form.note.clone()),
            root_cause: nonempty(form.root_cause.clone()),
            customer_reached: flag(form.customer_reached.clone())?,
            issue_fixed: flag(form.issue_fixed.clone())?,
            owner_id: None,
        })
    })()
    .map_err(IntoResponse::into_response)?;
    match cases_api::work_case(&state, &principal, id, change).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        // A stale copy or a move the workflow refuses: show the case as it is now, with why.
        Err(error @ (ApiError::Conflict(_) | ApiError::BadRequest(_))) => {
            let status = error.status();
            let body = render_case(&state, &principal, &csrf, id, Some(&error.to_string()))
                .await
                .map_err(IntoResponse::into_response)?;
            Ok((
                status,
                layout(&format!("Case #{id}"), Some((&principal, &csrf)), body),
            )
                .into_response())
        }
        Err(error) => Err(error.into_response()),
    }
}
