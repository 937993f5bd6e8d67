//! An agent's scorecard, `/people/{person}`: their metrics against their team, their
//! target and the endgame, their percentile among all agents, trends, their most recent
//! contacts and the survey comments of their customers, lowest rated first (for coaching).

use axum::extract::State;
use axum::response::Response;
use cxm_metrics::Subject;
use cxm_metrics::records::{RecordOrder, RecordPage, RecordSet};
use maud::{Markup, PreEscaped, html};

use crate::dashboard::Page;
use crate::pages::scorecard_table;
use crate::record_pages::link;
use crate::{ApiError, AppState};

/// Metrics charted over the trend periods on a person's page.
const TREND_METRICS: [&str; 3] = ["csat", "repeat_contact_rate", "handle_seconds"];

/// Recent contacts shown.
const RECENT: u64 = 10;

/// Answers read to find the lowest-rated ones with a comment.
const LOWEST_RATED: u64 = 200;

/// Comments shown.
const COMMENTS: usize = 10;

pub(crate) async fn person_page(
    State(state): State<AppState>,
    page: Page,
    axum::extract::Path(person): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let (engine, scope, dashboard) = (&page.engine, &page.scope, &page.dashboard);
    let org = page.org();
    let Some((name, role)) = org.person(&person) else {
        return Err(ApiError::NotFound(format!("no person {person}")));
    };
    let subject = Subject::Person(person.clone());
    scope.check_subject(org, &subject)?;
    let (card, charts) = page
        .scorecard_and_trends(&state, &subject, &TREND_METRICS)
        .await?;
    let filters = scope.narrow(org, &dashboard.filters(Some(&subject)), &[])?;
    let visible = scope.visible_records(org)?;
    let recent = engine
        .records(
            RecordSet::Contacts,
            &filters,
            &visible,
            RecordOrder::Newest,
            0,
            RECENT,
        )
        .await?;
    let lowest = engine
        .records(
            RecordSet::Answers,
            &filters,
            &visible,
            RecordOrder::Worst,
            0,
            LOWEST_RATED,
        )
        .await?;
    let pairs = dashboard.pairs(false);
    let body = html! {
        @if let Some(team) = &card.parent {
            @if scope.sees_unit(org, team) {
                p.breadcrumbs { a href=(link(&format!("/units/{team}"), &pairs)) { (org.unit(team).map_or(team.as_str(), |u| u.name.as_str())) } " ›" }
            }
        }
        h1 { (name) " · " (card.period) }
        p.role { (role) }
        (dashboard.form(&format!("/people/{person}"), org, scope, false))
        (scorecard_table(&card, scope, org, |metric| dashboard.records_link(engine, Some(&subject), metric, None)))
        section.trends {
            @for chart in &charts { (PreEscaped(chart)) }
        }
        h2 { "Customers' comments, lowest rated first" }
        (comments(&lowest))
        @if let Some(href) = dashboard.records_link(engine, Some(&subject), "csat", None) {
            p { a href=(href) { "Every answer, lowest rated first" } }
        }
        h2 { "Recent contacts" }
        (recent_contacts(&recent))
        @if let Some(href) = dashboard.records_link(engine, Some(&subject), "contacts", None) {
            p { a href=(href) { "Every contact (" (recent.total) ")" } }
        }
    };
    Ok(page.render(name, body))
}

fn text<'a>(row: &'a serde_json::Map<String, serde_json::Value>, column: &str) -> &'a str {
    row.get(column).and_then(|v| v.as_str()).unwrap_or("")
}

fn score(row: &serde_json::Map<String, serde_json::Value>, column: &str) -> String {
    row.get(column)
        .and_then(serde_json::Value::as_i64)
        .map_or_else(|| "–".to_owned(), |v| v.to_string())
}

fn seconds(row: &serde_json::Map<String, serde_json::Value>, column: &str) -> String {
    row.get(column)
        .and_then(serde_json::Value::as_i64)
        .map_or_else(|| "–".to_owned(), |v| format!("{v} s"))
}

/// The answers with a comment, in the page's order (lowest rated first).
fn comments(page: &RecordPage) -> Markup {
    let with_comment: Vec<_> = page
        .rows
        .iter()
        .filter(|row| !text(row, "comment").trim().is_empty())
        .take(COMMENTS)
        .collect();
    html! {
        @if with_comment.is_empty() {
            p { "No comments in this period." }
        }
        @for row in with_comment {
            blockquote.comment data-response=(text(row, "response_id")) {
                p { (text(row, "comment")) }
                footer.meta {
                    "CSAT " (score(row, "csat")) " · NPS " (score(row, "nps")) " · effort " (score(row, "ces"))
                    " · " (text(row, "answered_at")) " · contact " (text(row, "interaction_id"))
                }
            }
        }
    }
}

fn recent_contacts(page: &RecordPage) -> Markup {
    let topics = |row: &serde_json::Map<String, serde_json::Value>| {
        row.get("topics")
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let flag = |row: &serde_json::Map<String, serde_json::Value>, column: &str| match row
        .get(column)
        .and_then(serde_json::Value::as_bool)
    {
        Some(true) => "yes",
        Some(false) => "no",
        None => "–",
    };
    html! {
        div.scroll {
            table.records {
                thead { tr { th { "Started" } th { "Customer" } th { "Channel" } th { "Topics" } th { "Handle" } th { "Hold" } th { "Repeat" } } }
                tbody {
                    @for row in &page.rows {
                        tr {
                            td { (text(row, "started_at")) }
                            td { (text(row, "customer_id")) }
                            td { (text(row, "channel")) }
                            td { (topics(row)) }
                            td.num { (seconds(row, "handle_seconds")) }
                            td.num { (seconds(row, "hold_seconds")) }
                            td { (flag(row, "is_repeat")) }
                        }
                    }
                }
            }
        }
    }
}
