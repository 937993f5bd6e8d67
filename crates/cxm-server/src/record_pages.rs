//! The records behind every number: `/records/contacts` and `/records/answers` list them
//! page by page with the filters in the URL, and `/records/contacts.csv` and
//! `/records/answers.csv` export every matching record in the caller's scope (audited).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cxm_metrics::records::{RecordOrder, RecordSet};
use futures::StreamExt;
use maud::{Markup, html};

use crate::api::{FilterParams, Params, RecordParams, reading, record_filters};
use crate::auth::{self, Principal};
use crate::pages::{MaybeSignedIn, layout, signed_in_page};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for set in [RecordSet::Contacts, RecordSet::Answers] {
        router = router
            .route(
                set_path(set),
                get(move |state, signed_in, uri, filters, params| {
                    records_page(state, signed_in, uri, filters, params, set)
                }),
            )
            .route(
                &format!("{}.csv", set_path(set)),
                get(move |state, principal, filters, params| {
                    export(state, principal, filters, params, set)
                }),
            );
    }
    router
}

fn set_path(set: RecordSet) -> &'static str {
    match set {
        RecordSet::Contacts => "/records/contacts",
        RecordSet::Answers => "/records/answers",
    }
}

fn set_title(set: RecordSet) -> &'static str {
    match set {
        RecordSet::Contacts => "Contacts",
        RecordSet::Answers => "Survey answers",
    }
}

/// `path?pairs` with the pairs URL-encoded.
pub(crate) fn link(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    format!("{path}?{}", query.finish())
}

async fn records_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    uri: Uri,
    Params(filter_params): Params<FilterParams>,
    Params(params): Params<RecordParams>,
    set: RecordSet,
) -> Result<Response, ApiError> {
    let (principal, csrf) = match signed_in_page(principal, &uri) {
        Ok(signed_in) => signed_in,
        Err(redirect) => return Ok(*redirect),
    };
    let (engine, scope) = reading(&state, &principal).await?;
    let org = engine.organisation();
    let (filters, visible) = record_filters(org, &scope, &filter_params)?;
    let order = params.order()?;
    let (offset, limit) = params.page()?;
    let page = engine
        .records(set, &filters, &visible, order, offset, limit)
        .await?;
    let mut keep = filter_params.pairs();
    if order != RecordOrder::default() {
        keep.push(("order", order.as_str().to_owned()));
    }
    let page_link = |offset: u64| {
        let mut pairs = keep.clone();
        if offset > 0 {
            pairs.push(("offset", offset.to_string()));
        }
        if limit != 50 {
            pairs.push(("limit", limit.to_string()));
        }
        link(set_path(set), &pairs)
    };
    let csv_link = link(&format!("{}.csv", set_path(set)), &keep);
    let other = match set {
        RecordSet::Contacts => RecordSet::Answers,
        RecordSet::Answers => RecordSet::Contacts,
    };
    let last = (offset + page.rows.len() as u64).min(page.total);
    let body = html! {
        h1 { (set_title(set)) }
        (filter_form(set_path(set), &filter_params, Some(order), org, &scope))
        p.summary {
            strong.total { (page.total) } " records"
            @if page.total > 0 { " · showing " (offset + 1) "–" (last) }
            " · " a.export href=(csv_link) download { "Download CSV" }
            " · " a href=(link(set_path(other), &filter_params.pairs())) { (set_title(other)) " with these filters" }
        }
        div.scroll {
            table.records {
                thead { tr { @for column in &page.columns { th { (column) } } } }
                tbody {
                    @for row in &page.rows {
                        tr {
                            @for column in &page.columns {
                                td { (cell(row.get(column))) }
                            }
                        }
                    }
                }
            }
        }
        nav.paging {
            @if offset > 0 {
                a rel="prev" href=(page_link(offset.saturating_sub(limit))) { "‹ Previous" }
            }
            @if last < page.total {
                a rel="next" href=(page_link(offset + limit)) { "Next ›" }
            }
        }
    };
    Ok(layout(set_title(set), Some((&principal, &csrf)), body).into_response())
}

fn cell(value: Option<&serde_json::Value>) -> Markup {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => html! {},
        Some(Value::String(text)) => html! { (text) },
        Some(Value::Array(items)) => html! {
            (items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(", "))
        },
        Some(Value::Bool(flag)) => html! { (if *flag { "yes" } else { "no" }) },
        Some(other) => html! { (other.to_string()) },
    }
}

/// The filter bar of a page (a GET form, so the filters stay in the URL): period, unit
/// (those in scope), channel, topic, segment and, for record lists, the order.
pub(crate) fn filter_form(
    action: &str,
    params: &FilterParams,
    order: Option<RecordOrder>,
    org: &cxm_metrics::Organisation,
    scope: &crate::scope::Scope,
) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let units: Vec<&cxm_metrics::organisation::Unit> = org
        .units()
        .iter()
        .filter(|u| scope.sees_unit(org, &u.id))
        .collect();
    html! {
        form.filters method="get" action=(action) {
            label { "From" input type="date" name="from" value=(value(&params.from)); }
            label { "To" input type="date" name="to" value=(value(&params.to)); }
            label { "Unit"
                select name="unit" {
                    option value="" { "All in scope" }
                    @for unit in &units {
                        option value=(unit.id) selected[params.unit.as_deref() == Some(unit.id.as_str())] {
                            (unit.name) " (" (unit.level) ")"
                        }
                    }
                }
            }
            @if let Some(person) = &params.person {
                input type="hidden" name="person" value=(person);
            }
            label { "Channel" input name="channel" placeholder="phone,chat" value=(value(&params.channel)); }
            label { "Topic" input name="topic" placeholder="billing" value=(value(&params.topic)); }
            label { "Segment" input name="segment" value=(value(&params.segment)); }
            @if let Some(region) = &params.region {
                input type="hidden" name="region" value=(region);
            }
            @if let Some(order) = order {
                label { "Order"
                    select name="order" {
                        @for choice in RecordOrder::ALL {
                            option value=(choice.as_str()) selected[choice == order] { (choice.as_str()) }
                        }
                    }
                }
            }
            button type="submit" { "Apply" }
        }
    }
}

/// Every matching record in scope as CSV, streamed; the export is audited.
async fn export(
    State(state): State<AppState>,
    principal: Principal,
    Params(filter_params): Params<FilterParams>,
    Params(params): Params<RecordParams>,
    set: RecordSet,
) -> Result<Response, ApiError> {
    let (engine, scope) = reading(&state, &principal).await?;
    let (filters, visible) = record_filters(engine.organisation(), &scope, &filter_params)?;
    let order = params.order()?;
    let stream = engine.record_stream(set, &filters, &visible, order).await?;
    let detail = link(set_path(set), &filter_params.pairs());
    auth::audit(&state, &principal.actor(), "export", detail).await;
    let header = cxm_metrics::records::csv_header(set)?;
    let rows = stream.map(|batch| {
        batch
            .map_err(cxm_metrics::MetricsError::from)
            .and_then(|batch| cxm_metrics::records::csv_rows(&batch))
            .map(Bytes::from)
            .map_err(|error| {
                tracing::error!(%error, "CSV export stopped");
                std::io::Error::other(error.to_string())
            })
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(header)) })
        .chain(rows);
    let name = match set {
        RecordSet::Contacts => "contacts",
        RecordSet::Answers => "answers",
    };
    let range = match (&filters.from, &filters.to) {
        (Some(from), Some(to)) => format!("-{from}-{to}"),
        (Some(from), None) => format!("-from-{from}"),
        (None, Some(to)) => format!("-to-{to}"),
        (None, None) => String::new(),
    };
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}{range}.csv\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
