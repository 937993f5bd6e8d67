//! The browser side: sign-in and sign-out (CSRF-protected forms, throttled), and the home
//! page with the caller's scorecard. Server-rendered HTML; nothing is loaded from another
//! host.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use cxm_metrics::Subject;
use cxm_sql::{AccountStore, TargetStore};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::auth::{self, Principal, SESSION_COOKIE};
use crate::scope::Scope;
use crate::{ApiError, AppState};

const LOGIN_CSRF_COOKIE: &str = "cxm_login_csrf";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/units/{unit}", get(unit_page))
        .route("/static/cxm.css", get(stylesheet))
}

/// The client's address, when the server knows it.
pub struct ClientAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
        ))
    }
}

/// The principal of a page request, if signed in.
pub struct MaybeSignedIn(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeSignedIn(auth::principal(parts, state).await?))
    }
}

fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    same_site: &str,
) -> HeaderValue {
    let secure = if state.config().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(crate) fn layout(title: &str, signed_in: Option<(&Principal, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cxm" }
                link rel="stylesheet" href="/static/cxm.css";
            }
            body {
                header {
                    a.brand href="/" { "cxm" }
                    @if let Some((principal, csrf)) = signed_in {
                        span.who { (principal.actor()) }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// A local path to go to after signing in (never another host).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_form(csrf: &str, next: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.login method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                label { "User name" input name="username" autocomplete="username" required autofocus; }
                label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The sign-in form with a fresh CSRF token, in a cookie and in the form (double submit).
fn login_form_response(
    state: &AppState,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let csrf = auth::random_secret()?;
    let mut response = (status, login_form(&csrf, next, error)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(state, LOGIN_CSRF_COOKIE, &csrf, "/login", 3600, "Strict"),
    );
    Ok(response)
}

async fn login_page(
    State(state): State<AppState>,
    crate::api::Params(query): crate::api::Params<LoginQuery>,
) -> Result<Response, ApiError> {
    let next = local_path(query.next.as_deref());
    login_form_response(&state, &next, None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Ok(Form(form)) = form else {
        return Err(ApiError::BadRequest(
            "the sign-in form was incomplete".into(),
        ));
    };
    let next = local_path(form.next.as_deref());
    let expected = auth::cookie(&headers, LOGIN_CSRF_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let retry = |message: &str, status: StatusCode| {
        login_form_response(&state, &next, Some(message), status)
    };
    if !auth::csrf_matches(&expected, &form.csrf) {
        return retry(
            "The form expired. Please sign in again.",
            StatusCode::FORBIDDEN,
        );
    }
    let username = form.username.trim().to_lowercase();
    let mut keys = vec![format!("user:{username}")];
    if let Some(addr) = addr {
        keys.push(format!("ip:{}", addr.ip()));
    }
    if let Err(ApiError::TooManyRequests {
        retry_after_seconds,
    }) = state.throttle().check(&keys)
    {
        auth::audit(&state, &username, "sign-in-throttled", String::new()).await;
        let mut response = retry(
            &format!(
                "Too many failed attempts. Try again in {} minutes.",
                retry_after_seconds.div_ceil(60)
            ),
            StatusCode::TOO_MANY_REQUESTS,
        )?;
        if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let credentials = state.store().credentials(&username).await?;
    let verified = match &credentials {
        Some(c) if !c.user.disabled => {
            auth::verify_password(c.password_hash.clone(), form.password.clone()).await?
        }
        _ => {
            auth::spend_like_a_verification().await;
            false
        }
    };
    let Some(credentials) = credentials.filter(|_| verified) else {
        state.throttle().failed(&keys);
        auth::audit(
            &state,
            &username,
            "sign-in-failed",
            addr.map(|a| a.ip().to_string()).unwrap_or_default(),
        )
        .await;
        return retry("Wrong user name or password.", StatusCode::UNAUTHORIZED);
    };
    state.throttle().succeeded(&keys);
    let secret = auth::random_secret()?;
    let csrf = auth::random_secret()?;
    let ttl = state.config().session_ttl;
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
    let text =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    state
        .store()
        .create_session(
            &auth::secret_hash(&secret),
            &credentials.user.username,
            &csrf,
            &text(now),
            &text(expires),
        )
        .await?;
    // Expired sessions are never read again; drop them while here.
    state.store().purge_sessions(&text(now)).await?;
    auth::audit(
        &state,
        &credentials.user.username,
        "sign-in",
        addr.map(|a| a.ip().to_string()).unwrap_or_default(),
    )
    .await;
    let mut response = Redirect::to(&next).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, &secret, "/", ttl.as_secs(), "Lax"),
    );
    headers.append(
        header::SET_COOKIE,
        cookie_header(&state, LOGIN_CSRF_COOKIE, "", "/login", 0, "Strict"),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeSignedIn(principal): MaybeSignedIn,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Some(Principal::User { user, csrf }) = principal else {
        return Ok(Redirect::to("/login").into_response());
    };
    let given = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !auth::csrf_matches(&csrf, &given) {
        return Err(ApiError::Forbidden(
            "the form's CSRF token is missing or wrong".into(),
        ));
    }
    let secret = auth::cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    state
        .store()
        .delete_session(&auth::secret_hash(secret))
        .await?;
    auth::audit(&state, &user.username, "sign-out", String::new()).await;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, "", "/", 0, "Lax"),
    );
    Ok(response)
}

fn number(value: Option<f64>, unit: &cxm_domain::metrics::MetricUnit) -> String {
    use cxm_domain::metrics::MetricUnit as U;
    match value {
        None => "–".into(),
        Some(v) => match unit {
            U::Share => format!("{:.1}%", v * 100.0),
            U::Seconds => format!("{v:.0} s"),
            U::Count => format!("{v:.0}"),
            U::Currency => format!("{v:.2}"),
            U::Score | U::Points | U::Number => format!("{v:.2}"),
        },
    }
}

/// A page's signed-in user and their session's CSRF token; otherwise the response to
/// send instead: to the sign-in page (and back here after it), or a 403 for tokens.
pub(crate) fn signed_in_page(
    principal: Option<Principal>,
    uri: &axum::http::Uri,
) -> Result<(Principal, String), Box<Response>> {
    match principal {
        None => {
            let here = uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(Box::new(
                Redirect::to(&format!("/login?next={next}")).into_response(),
            ))
        }
        Some(Principal::Token(_)) => Err(Box::new(
            ApiError::Forbidden("pages are for signed-in people, not tokens".into())
                .into_response(),
        )),
        Some(Principal::User { user, csrf }) => Ok((
            Principal::User {
                user,
                csrf: csrf.clone(),
            },
            csrf,
        )),
    }
}

/// The caller's scorecard: an agent's own, a lead's or manager's unit, the company for
/// everyone else.
async fn home(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
) -> Result<Response, ApiError> {
    let Some(principal) = principal else {
        return Ok(Redirect::to("/login").into_response());
    };
    let Principal::User { user, csrf } = &principal else {
        return Err(ApiError::Forbidden(
            "pages are for signed-in people, not tokens".into(),
        ));
    };
    let engine = state.engine().await;
    let org = engine.organisation();
    let scope = Scope::of(&principal, org);
    let subject = match &scope {
        Scope::All => org.root().map(|u| Subject::Unit(u.id.clone())),
        Scope::Subtree { unit } => Some(Subject::Unit(unit.clone())),
        Scope::Own { person, .. } => Some(Subject::Person(person.clone())),
        Scope::Nothing { .. } => None,
    };
    let period = cxm_metrics::scorecard::default_period(&engine);
    let card = match &subject {
        Some(subject) => {
            let targets = state.store().targets().await?;
            Some(cxm_metrics::scorecard::scorecard(&engine, subject, period, &targets).await?)
        }
        None => None,
    };
    let body = html! {
        h1 { "Welcome, " (user.display_name) }
        p.role { (user.role.as_str()) }
        @match (&card, &scope) {
            (Some(card), _) => {
                h2 {
                    @match &card.subject {
                        Subject::Unit(id) => { a href=(format!("/units/{id}")) { (card.name) } }
                        Subject::Person(_) => { (card.name) }
                    }
                    " · " (card.period)
                }
                (scorecard_table(card, |metric| records_link(&engine, &card.subject, &period, metric)))
            }
            (None, Scope::Nothing { reason }) => { p.error { (reason) } }
            (None, _) => { p { "No data yet." } }
        }
    };
    Ok(layout("Home", Some((&principal, csrf)), body).into_response())
}

/// Where each metric's number of a scorecard leads: the contacts or answers it counted
/// (satisfaction answers lowest rated first), with the scorecard's subject and period.
pub(crate) fn records_link(
    engine: &cxm_metrics::Engine,
    subject: &Subject,
    period: &cxm_domain::metrics::Period,
    metric: &str,
) -> Option<String> {
    use cxm_domain::metrics::Source;
    let definition = engine.config().catalogue.get(metric).ok()?;
    let mut pairs = vec![
        ("from", period.start.to_string()),
        (
            "to",
            period.end.pred_opt().unwrap_or(period.end).to_string(),
        ),
    ];
    match subject {
        Subject::Unit(unit) => pairs.push(("unit", unit.clone())),
        Subject::Person(person) => pairs.push(("person", person.clone())),
    }
    let path = match definition.source {
        Source::Contacts => "/records/contacts",
        Source::Surveys => {
            pairs.push(("order", "worst".to_owned()));
            "/records/answers"
        }
        Source::Transactions | Source::Customers => return None,
    };
    Some(crate::record_pages::link(path, &pairs))
}

/// A number, linked to the records behind it when it has any.
fn linked(shown: &str, href: Option<String>, n: u64) -> Markup {
    html! {
        @match href {
            Some(href) if n > 0 => { a href=(href) { (shown) } }
            _ => { (shown) }
        }
    }
}

/// A scorecard as a table: actual (with its interval on hover, and a link to the records
/// behind it), sample, target, status and percentile among peers.
pub(crate) fn scorecard_table(
    card: &cxm_metrics::Scorecard,
    link: impl Fn(&str) -> Option<String>,
) -> Markup {
    html! {
        table.scorecard {
            thead { tr { th { "Metric" } th { "Actual" } th { "n" } th { "Target" } th { "Status" } th { "Percentile" } } }
            tbody {
                @for line in &card.lines {
                    tr {
                        td { (line.label) }
                        @let shown = number(line.actual, &line.unit);
                        @let interval = match (line.low, line.high) {
                            (Some(low), Some(high)) => format!("95% interval {} – {}", number(Some(low), &line.unit), number(Some(high), &line.unit)),
                            _ => String::new(),
                        };
                        td.num title=(interval) data-metric=(line.metric) {
                            (linked(&shown, link(&line.metric), line.n))
                        }
                        td.num { (line.n) }
                        td.num { (number(line.target, &line.unit)) }
                        td { (line.status.as_str()) }
                        td.num { @if let Some(p) = line.percentile { (format!("{p:.0}")) } @else { "–" } }
                    }
                }
            }
        }
    }
}

/// One child unit on its parent's page: the value and sample of each [`CHILD_METRICS`].
struct ChildRow {
    id: String,
    name: String,
    values: [(Option<f64>, u64); CHILD_METRICS.len()],
}

/// Metrics charted over the last twelve periods on a unit's page.
const TREND_METRICS: [&str; 3] = ["csat", "repeat_contact_rate", "handle_seconds"];

/// Metrics of the children table on a unit's page.
const CHILD_METRICS: [&str; 3] = ["contacts", "csat", "repeat_contact_rate"];

/// A unit's page: its scorecard for the latest complete month and its children (within
/// the caller's scope) ranked by CSAT, each with its sample.
async fn unit_page(
    State(state): State<AppState>,
    MaybeSignedIn(principal): MaybeSignedIn,
    axum::extract::Path(unit): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let Some(principal) = principal else {
        let next = format!("/units/{unit}");
        let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        return Ok(Redirect::to(&format!("/login?next={next}")).into_response());
    };
    let Principal::User { csrf, .. } = &principal else {
        return Err(ApiError::Forbidden(
            "pages are for signed-in people, not tokens".into(),
        ));
    };
    let engine = state.engine().await;
    let org = engine.organisation();
    let Some(found) = org.unit(&unit) else {
        return Err(ApiError::NotFound(format!("no org unit {unit}")));
    };
    let scope = Scope::of(&principal, org);
    let subject = Subject::Unit(unit.clone());
    scope.check_subject(org, &subject)?;
    let period = cxm_metrics::scorecard::default_period(&engine);
    let targets = state.store().targets().await?;
    let card = cxm_metrics::scorecard::scorecard(&engine, &subject, period, &targets).await?;
    let card_targets: Vec<(String, f64)> = card
        .lines
        .iter()
        .filter_map(|l| l.target.map(|t| (l.metric.clone(), t)))
        .collect();
    let charts = trends(
        &engine,
        &scope,
        &subject,
        &period,
        &TREND_METRICS,
        &card_targets,
    )
    .await?;
    let children: Vec<&cxm_metrics::organisation::Unit> = org
        .children(&unit)
        .into_iter()
        .filter(|child| scope.sees_unit(org, &child.id))
        .collect();
    let mut table: Vec<ChildRow> = children
        .iter()
        .map(|c| ChildRow {
            id: c.id.clone(),
            name: c.name.clone(),
            values: [(None, 0); CHILD_METRICS.len()],
        })
        .collect();
    if let Some(level) = children.first().map(|c| c.level.clone()) {
        let query = cxm_metrics::Query {
            metrics: CHILD_METRICS.iter().map(|m| (*m).to_owned()).collect(),
            by: vec![cxm_metrics::Dimension::Level(level.clone())],
            grain: period.grain,
            filters: cxm_metrics::Filters {
                from: Some(period.start),
                to: Some(period.end.pred_opt().unwrap_or(period.end)),
                unit: Some(unit.clone()),
                ..cxm_metrics::Filters::default()
            },
        };
        let filters = scope.narrow(org, &query.filters, &query.by)?;
        let query = cxm_metrics::Query { filters, ..query };
        let answer = engine.query(&query).await?;
        for row in answer.rows {
            let (Some(child), Some(metric)) = (
                row.group.get(&level),
                CHILD_METRICS.iter().position(|m| *m == row.metric),
            ) else {
                continue;
            };
            if let Some(entry) = table.iter_mut().find(|entry| &entry.id == child) {
                entry.values[metric] = (row.value, row.n);
            }
        }
    }
    // Best CSAT first; children without answers last.
    table.sort_by(|a, b| {
        b.values[1]
            .0
            .partial_cmp(&a.values[1].0)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let units = [
        cxm_domain::metrics::MetricUnit::Count,
        cxm_domain::metrics::MetricUnit::Share,
        cxm_domain::metrics::MetricUnit::Share,
    ];
    let body = html! {
        p.breadcrumbs {
            @for ancestor in org.ancestors(&unit).iter().rev() {
                @if scope.sees_unit(org, &ancestor.id) && ancestor.id != unit {
                    a href=(format!("/units/{}", ancestor.id)) { (ancestor.name) } " › "
                }
            }
        }
        h1 { (found.name) " · " (card.period) }
        p.role { (found.level) }
        (scorecard_table(&card, |metric| records_link(&engine, &subject, &period, metric)))
        section.trends {
            @for chart in &charts { (maud::PreEscaped(chart)) }
        }
        @if !table.is_empty() {
            h2 { "Units below, by CSAT" }
            table.children {
                thead { tr { th { "Unit" } th { "Contacts" } th { "CSAT" } th { "n" } th { "Repeat contacts" } } }
                tbody {
                    @for ChildRow { id, name, values } in &table {
                        tr {
                            td { a href=(format!("/units/{id}")) { (name) } }
                            @let child = Subject::Unit(id.clone());
                            td.num {
                                (linked(&number(values[0].0, &units[0]), records_link(&engine, &child, &period, CHILD_METRICS[0]), values[0].1))
                            }
                            td.num {
                                (linked(&number(values[1].0, &units[1]), records_link(&engine, &child, &period, CHILD_METRICS[1]), values[1].1))
                            }
                            td.num { (values[1].1) }
                            td.num { (number(values[2].0, &units[2])) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&found.name, Some((&principal, csrf)), body).into_response())
}

/// Trend charts of `metrics` for `subject` over the twelve periods up to `period`.
async fn trends(
    engine: &cxm_metrics::Engine,
    scope: &Scope,
    subject: &Subject,
    period: &cxm_domain::metrics::Period,
    metrics: &[&str],
    targets: &[(String, f64)],
) -> Result<Vec<String>, ApiError> {
    let mut first = *period;
    for _ in 0..11 {
        first = first.previous();
    }
    let mut filters = cxm_metrics::Filters {
        from: Some(first.start),
        to: Some(period.end.pred_opt().unwrap_or(period.end)),
        ..cxm_metrics::Filters::default()
    };
    match subject {
        Subject::Unit(unit) => filters.unit = Some(unit.clone()),
        Subject::Person(person) => filters.person = Some(person.clone()),
    }
    let org = engine.organisation();
    let query = cxm_metrics::Query {
        metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
        by: Vec::new(),
        grain: period.grain,
        filters: scope.narrow(org, &filters, &[])?,
    };
    let answer = engine.query(&query).await?;
    let mut periods = Vec::new();
    let mut at = first;
    for _ in 0..12 {
        periods.push(at.to_string());
        at = cxm_domain::metrics::Period::containing(at.grain, at.end);
    }
    let mut charts = Vec::new();
    for metric in metrics {
        let Ok(definition) = engine.config().catalogue.get(metric) else {
            continue;
        };
        let points: Vec<crate::charts::Point> = periods
            .iter()
            .map(|label| {
                let row = answer
                    .rows
                    .iter()
                    .find(|r| r.metric == *metric && &r.period == label);
                crate::charts::Point {
                    label: label.clone(),
                    value: row.and_then(|r| r.value),
                    n: row.map_or(0, |r| r.n),
                }
            })
            .collect();
        let target = targets.iter().find(|(m, _)| m == metric).map(|(_, t)| *t);
        let unit = definition.unit;
        let chart = crate::charts::trend(
            &format!("{} by {}", definition.label, period.grain.as_str()),
            &points,
            target,
            &|v| number(Some(v), &unit),
        )
        .map_err(ApiError::internal)?;
        charts.push(chart);
    }
    Ok(charts)
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/cxm.css"),
    )
        .into_response()
}
