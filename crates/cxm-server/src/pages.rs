//! The browser side: sign-in and sign-out (CSRF-protected forms, throttled), the page
//! layout, and the home page with the caller's scorecard. Server-rendered HTML; nothing is loaded from another
//! host.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use cxm_metrics::Subject;
use cxm_sql::AccountStore;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::auth::{self, Principal, SESSION_COOKIE};
use crate::dashboard::{change, linked, number};
use crate::record_pages::link;
use crate::scope::Scope;
use crate::{ApiError, AppState};

const LOGIN_CSRF_COOKIE: &str = "cxm_login_csrf";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/overview", get(crate::overview::overview))
        .route("/topics", get(crate::topics_page::topics_page))
        .route("/units/{unit}", get(crate::unit_page::unit_page))
        .route("/people/{person}", get(crate::person_page::person_page))
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

/// A signed-in page: `result` in the layout, or the error as our error response.
pub(crate) fn page_response(
    principal: &Principal,
    csrf: &str,
    title: &str,
    result: Result<Markup, ApiError>,
) -> Response {
    match result {
        Ok(body) => layout(title, Some((principal, csrf)), body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A page form's CSRF field must match the session's.
pub(crate) fn form_csrf(csrf: &str, given: &str) -> Result<(), ApiError> {
    if auth::csrf_matches(csrf, given) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the form expired: reload the page".into(),
        ))
    }
}

/// A form field, trimmed; `None` when absent or blank.
pub(crate) fn nonempty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
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
                @if signed_in.is_some() { (crate::dashboard::navigation()) }
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
/// everyone else; with the dashboards' filters.
async fn home(
    State(state): State<AppState>,
    page: crate::dashboard::Page,
) -> Result<Response, ApiError> {
    let Principal::User { user, .. } = &page.principal else {
        return Err(ApiError::Forbidden(
            "pages are for signed-in people, not tokens".into(),
        ));
    };
    let (engine, scope, dashboard) = (&page.engine, &page.scope, &page.dashboard);
    let org = page.org();
    let card = match home_subject(scope, org) {
        Some(subject) => Some(page.scorecard(&state, &subject).await?),
        None => None,
    };
    let body = html! {
        h1 { "Welcome, " (user.display_name) }
        p.role { (user.role.as_str()) }
        (dashboard.form("/", org, scope, false))
        @match (&card, scope) {
            (Some(card), _) => {
                h2 {
                    @match &card.subject {
                        Subject::Unit(id) => { a href=(link(&format!("/units/{id}"), &dashboard.pairs(false))) { (card.name) } }
                        Subject::Person(id) => { a href=(link(&format!("/people/{id}"), &dashboard.pairs(false))) { (card.name) } }
                    }
                    " · " (card.period)
                }
                (scorecard_table(card, scope, org, |metric| dashboard.records_link(engine, Some(&card.subject), metric, None)))
            }
            (None, Scope::Nothing { reason }) => { p.error { (reason) } }
            (None, _) => { p { "No data yet." } }
        }
    };
    Ok(page.render("Home", body))
}

/// Whose scorecard the home page shows: an agent's own, a lead's or manager's unit, the
/// company for everyone else.
pub(crate) fn home_subject(scope: &Scope, org: &cxm_metrics::Organisation) -> Option<Subject> {
    match scope {
        Scope::All => org.root().map(|u| Subject::Unit(u.id.clone())),
        Scope::Subtree { unit } => Some(Subject::Unit(unit.clone())),
        Scope::Own { person, .. } => Some(Subject::Person(person.clone())),
        Scope::Nothing { .. } => None,
    }
}

/// A scorecard as a table: actual (with its interval on hover, and a link to the records
/// behind it), sample, change since the previous period, target, status, the parent's
/// value (when the caller may see the parent) and the percentile among peers.
pub(crate) fn scorecard_table(
    card: &cxm_metrics::Scorecard,
    scope: &Scope,
    org: &cxm_metrics::Organisation,
    link: impl Fn(&str) -> Option<String>,
) -> Markup {
    let parent = card
        .parent
        .as_deref()
        .filter(|parent| scope.sees_unit(org, parent));
    html! {
        table.scorecard {
            thead { tr {
                th { "Metric" } th { "Actual" } th { "n" } th { "Change" } th { "Target" }
                th { "Status" }
                @if let Some(parent) = parent { th { (org.unit(parent).map_or(parent, |u| u.name.as_str())) } }
                th title=(format!("among {}", card.peers)) { "Percentile" }
            } }
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
                        td.num title=(line.p_value.map(|p| format!("p = {p:.3}")).unwrap_or_default()) {
                            @if let Some(c) = line.change { (change(c, &line.unit)) } @else { "–" }
                        }
                        td.num { (number(line.target, &line.unit)) }
                        td class=(format!("status-{}", crate::api::name_of(&line.status))) { (line.status.as_str()) }
                        @if parent.is_some() { td.num { (number(line.parent, &line.unit)) } }
                        td.num { @if let Some(p) = line.percentile { (format!("{p:.0}")) } @else { "–" } }
                    }
                }
            }
        }
    }
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/cxm.css"),
    )
        .into_response()
}
