//! The real server on port 0 over a freshly generated and ingested organisation: sign-in,
//! sessions, CSRF, throttling, tokens, the OpenAPI document, and the authorization matrix
//! (every role × every endpoint × own and other scope).

mod common;

use std::collections::BTreeSet;

use common::{World, ingest_world, server, server_on, server_with, user, world};
use cxm_catalog::DataDir;
use cxm_metrics::Organisation;
use cxm_server::ServerConfig;
use cxm_server::accounts::DemoSignIn;
use cxm_sql::AccountStore;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="csrf"` in a page.
fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// `name=value` of a Set-Cookie header named `name`.
fn set_cookie<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Signs in through the form; returns the login response.
async fn post_login(base: &str, username: &str, password: &str) -> reqwest::Response {
    let client = client();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let login_cookie = cookie_pair(set_cookie(&page, "cxm_login_csrf").unwrap());
    let csrf = hidden_csrf(&page.text().await.unwrap());
    client
        .post(format!("{base}/login"))
        .header(reqwest::header::COOKIE, login_cookie)
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap()
}

/// A signed-in session cookie (`cxm_session=…`).
async fn sign_in(base: &str, who: &DemoSignIn) -> String {
    let response = post_login(base, &who.username, &who.password).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", who.username);
    cookie_pair(set_cookie(&response, "cxm_session").unwrap())
}

enum As<'a> {
    Anonymous,
    Cookie(&'a str),
    Bearer(&'a str),
}

/// Sends `request` as `who`; the status and the body (JSON, else its text).
async fn send_as(request: reqwest::RequestBuilder, who: &As<'_>) -> (StatusCode, Value) {
    let request = match who {
        As::Anonymous => request,
        As::Cookie(cookie) => request.header(reqwest::header::COOKIE, *cookie),
        As::Bearer(token) => request.bearer_auth(token),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(base: &str, path: &str, who: &As<'_>) -> (StatusCode, Value) {
    send_as(client().get(format!("{base}{path}")), who).await
}

#[tokio::test]
async fn operators_get_health_readiness_and_prometheus_metrics() {
    let server = server().await;
    let (status, body) = get(&server.base, "/healthz", &As::Anonymous).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("ok\n")));
    let (status, body) = get(&server.base, "/readyz", &As::Anonymous).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().starts_with("ready: data "), "{body}");
    get(&server.base, "/api/v1/me", &As::Anonymous).await;
    let (_, body) = get(&server.base, "/metrics", &As::Anonymous).await;
    let text = body.as_str().unwrap();
    assert!(
        text.contains(
            "cxm_http_requests_total{method=\"GET\",route=\"/api/v1/me\",status=\"401\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("cxm_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"+Inf\"} 1"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let server = server().await;
    let (status, doc) = get(&server.base, "/api/v1/openapi.json", &As::Anonymous).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/api/v1/me",
        "/api/v1/catalogue",
        "/api/v1/metrics",
        "/api/v1/org/units/{unit}/scorecard",
        "/api/v1/people/{person}/scorecard",
        "/api/v1/org/units",
        "/api/v1/people",
        "/api/v1/targets",
        "/api/v1/records/contacts",
        "/api/v1/records/answers",
        "/api/v1/ingest/{kind}",
        "/api/v1/cases",
        "/api/v1/cases/{id}",
        "/api/v1/alert-rules",
        "/api/v1/alert-rules/{id}",
        "/api/v1/notifications",
        "/api/v1/notifications/read",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/deliveries",
        "/api/v1/ideas",
        "/api/v1/ideas/{id}",
        "/api/v1/ideas/{id}/vote",
        "/api/v1/ideas/{id}/comments",
        "/api/v1/initiatives",
        "/api/v1/initiatives/{id}/impact",
        "/api/v1/case-metrics",
        "/api/v1/kudos",
        "/api/v1/kudos/candidates",
        "/api/v1/stories",
        "/api/v1/stories/{id}",
        "/api/v1/most-improved",
    ] {
        assert!(paths.contains(path), "{path} missing from {paths:?}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn signing_in_sets_a_safe_cookie_and_signing_out_ends_the_session() {
    let server = server().await;
    let analyst = user("analyst");
    let response = post_login(&server.base, &analyst.username, &analyst.password).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/");
    let set = set_cookie(&response, "cxm_session").unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    assert!(!set.contains("Secure"), "{set}: plain HTTP here");
    for header in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
    ] {
        assert!(response.headers().contains_key(header), "{header}");
    }
    let cookie = cookie_pair(set);
    let (status, me) = get(&server.base, "/api/v1/me", &As::Cookie(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["actor"], "demo-analyst");
    assert_eq!(me["scope"], "all");

    // The home page shows the scorecard and the sign-out form with the session's token.
    let home = client()
        .get(format!("{}/", server.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("<table class=\"scorecard\">"), "{home}");
    let csrf = hidden_csrf(&home);

    // Signing out needs the token.
    let refused = client()
        .post(format!("{}/logout", server.base))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        get(&server.base, "/api/v1/me", &As::Cookie(&cookie))
            .await
            .0,
        StatusCode::OK
    );
    let out = client()
        .post(format!("{}/logout", server.base))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get(&server.base, "/api/v1/me", &As::Cookie(&cookie))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Signed out, the home page sends people to the sign-in page.
    let home = client()
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(home.headers()["location"], "/login?next=%2F");

    let store = server.state.store();
    let log = store.audit_log(100).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "sign-in" && e.actor == "demo-analyst")
    );
    assert!(
        log.iter()
            .any(|e| e.action == "sign-out" && e.actor == "demo-analyst")
    );
}

async fn page(base: &str, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = client().get(format!("{base}{path}"));
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    (status, location.unwrap_or(text))
}

#[tokio::test]
async fn unit_pages_rank_the_children_in_scope_and_refuse_the_rest() {
    let server = server().await;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let manager = user("manager");
    let site = org
        .current_unit_of(manager.person.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let cookie = sign_in(&server.base, manager).await;
    let (status, html) = page(&server.base, &format!("/units/{site}"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<table class=\"scorecard\">"));
    let children = org.children(&site);
    assert!(!children.is_empty());
    for child in &children {
        assert!(
            html.contains(&format!("href=\"/units/{}\"", child.id)),
            "{} not linked",
            child.id
        );
    }
    // Ranked by CSAT as the API computes it for the same month, best first.
    let period = cxm_metrics::scorecard::default_period(&engine);
    let last = period.end.pred_opt().unwrap();
    let level = &children[0].level;
    let (_, answer) = get(
        &server.base,
        &format!(
            "/api/v1/metrics?metric=csat&by={level}&unit={site}&from={}&to={last}&grain={}",
            period.start,
            period.grain.as_str()
        ),
        &As::Cookie(&cookie),
    )
    .await;
    let csat = |id: &str| {
        answer["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"][level.as_str()] == id)
            .and_then(|r| r["value"].as_f64())
            .unwrap_or(f64::NEG_INFINITY)
    };
    let listed = &html[html.find("Units below").unwrap()..];
    let mut shown: Vec<(usize, f64)> = children
        .iter()
        .map(|c| {
            let at = listed.find(&format!("href=\"/units/{}\"", c.id)).unwrap();
            (at, csat(&c.id))
        })
        .collect();
    shown.sort_by_key(|(at, _)| *at);
    assert!(
        shown.windows(2).all(|w| w[0].1 >= w[1].1),
        "not ranked by CSAT: {shown:?}"
    );
    assert!(shown.iter().any(|(_, v)| v.is_finite()), "no CSAT at all");
    let other_site = org
        .units()
        .iter()
        .find(|u| u.level == "site" && u.id != site)
        .unwrap();
    let (status, _) = page(
        &server.base,
        &format!("/units/{}", other_site.id),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = page(&server.base, "/units/NOWHERE", Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Signed out: to the sign-in page, and back here afterwards.
    let (status, location) = page(&server.base, &format!("/units/{site}"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("/login?next=%2Funits%2F{site}"));
}

#[tokio::test]
async fn behind_tls_session_cookies_are_secure() {
    let server = server_with(ServerConfig {
        secure_cookies: true,
        ..ServerConfig::default()
    })
    .await;
    let analyst = user("analyst");
    let response = post_login(&server.base, &analyst.username, &analyst.password).await;
    let set = set_cookie(&response, "cxm_session").unwrap();
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test]
async fn a_login_form_without_its_csrf_cookie_is_refused() {
    let server = server().await;
    let analyst = user("analyst");
    let response = client()
        .post(format!("{}/login", server.base))
        .form(&[
            ("username", analyst.username.as_str()),
            ("password", analyst.password.as_str()),
            ("csrf", "guessed"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&response, "cxm_session").is_none());
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_even_before_a_right_password() {
    let server = server().await;
    let executive = user("executive");
    for _ in 0..cxm_server::auth::Throttle::LIMIT {
        let response = post_login(&server.base, &executive.username, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookie(&response, "cxm_session").is_none());
    }
    let response = post_login(&server.base, &executive.username, &executive.password).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert!(set_cookie(&response, "cxm_session").is_none());
    // Unknown users fail the same way.
    let response = post_login(&server.base, "nobody", "whatever-it-is").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn disabled_users_lose_their_sessions() {
    let server = server().await;
    let dir = DataDir::open(&world().path).unwrap();
    let store = dir.reference().await.unwrap();
    let org = Organisation::load_structure(&store).await.unwrap();
    cxm_server::accounts::add_user(
        &store,
        &org,
        cxm_server::accounts::NewUser {
            username: "Temp.Analyst".into(),
            role: cxm_domain::AccessRole::Analyst,
            person: None,
            unit: None,
            name: None,
            password: "a long password".into(),
        },
    )
    .await
    .unwrap();
    let response = post_login(&server.base, "temp.analyst", "a long password").await;
    let cookie = cookie_pair(set_cookie(&response, "cxm_session").unwrap());
    assert_eq!(
        get(&server.base, "/api/v1/me", &As::Cookie(&cookie))
            .await
            .0,
        StatusCode::OK
    );
    assert!(store.set_disabled("temp.analyst", true).await.unwrap());
    assert_eq!(
        get(&server.base, "/api/v1/me", &As::Cookie(&cookie))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let again = post_login(&server.base, "temp.analyst", "a long password").await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    store.close().await;
}

#[tokio::test]
async fn tokens_are_scoped_and_bad_ones_are_refused() {
    let server = server().await;
    let w = world();
    let (status, me) = get(&server.base, "/api/v1/me", &As::Bearer(&w.read_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "token");
    let (status, _) = get(
        &server.base,
        "/api/v1/metrics?metric=contacts",
        &As::Bearer(&w.read_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(
        &server.base,
        "/api/v1/metrics?metric=contacts",
        &As::Bearer(&w.ingest_token),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let forged = format!("{}x", &w.read_token[..w.read_token.len() - 1]);
    for bad in [forged.as_str(), "cxm_nope", "nonsense", ""] {
        let (status, _) = get(&server.base, "/api/v1/me", &As::Bearer(bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    }
}

/// `count(*)` of read-only SQL over the stored tables (not the derived ones the API reads).
async fn stored_count(sql: &str) -> u64 {
    stored_count_in(world(), sql).await
}

async fn stored_count_in(world: &World, sql: &str) -> u64 {
    use cxm_facts::arrow::array::{Array, Int64Array};
    let dir = DataDir::open(&world.path).unwrap();
    let batches = cxm_catalog::read_only_query(&dir, sql).await.unwrap();
    let column = batches[0].column(0);
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0) as u64
}

#[tokio::test]
async fn record_totals_match_the_stored_facts() {
    let server = server().await;
    let token = &world().read_token;
    for (path, sql) in [
        (
            "/api/v1/records/contacts?limit=1",
            "SELECT count(*) FROM interactions",
        ),
        (
            "/api/v1/records/contacts?limit=1&channel=chat",
            "SELECT count(*) FROM interactions WHERE channel = 'chat'",
        ),
        (
            "/api/v1/records/answers?limit=1",
            "SELECT count(*) FROM survey_responses",
        ),
    ] {
        let (status, page) = get(&server.base, path, &As::Bearer(token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        let expected = stored_count(sql).await;
        assert!(expected > 0, "{sql}");
        assert_eq!(page["total"].as_u64(), Some(expected), "{path}");
    }
}

#[tokio::test]
async fn a_period_that_ends_before_it_starts_holds_nothing() {
    let server = server().await;
    let token = &world().read_token;
    let (status, body) = get(
        &server.base,
        "/api/v1/metrics?metric=contacts&from=2025-03-01&to=2025-02-01",
        &As::Bearer(token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["rows"].as_array().unwrap().is_empty());
    assert!(body["notes"][0].as_str().unwrap().contains("after"));
    // Also when only one bound is given and the data lie beyond it.
    let (status, body) = get(
        &server.base,
        "/api/v1/metrics?metric=contacts&to=2000-01-01",
        &As::Bearer(token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["rows"].as_array().unwrap().is_empty());
    let (status, page) = get(
        &server.base,
        "/api/v1/records/contacts?from=2025-03-01&to=2025-02-01",
        &As::Bearer(token),
    )
    .await;
    assert_eq!((status, page["total"].as_u64()), (StatusCode::OK, Some(0)));
}

#[tokio::test]
async fn malformed_parameters_are_400s_in_our_error_format() {
    let server = server().await;
    let token = &world().read_token;
    for path in [
        "/api/v1/metrics?grain=fortnight",
        "/api/v1/metrics?by=shoe_size",
        "/api/v1/metrics?from=2025-13-01",
        "/api/v1/org/units/CO/scorecard?period=someday",
        "/api/v1/records/contacts?limit=0",
        "/api/v1/records/contacts?limit=abc",
        "/api/v1/records/answers?order=sideways",
        "/api/v1/records/answers?channel=phone%00x",
        "/api/v1/metrics?topic=%07",
        "/api/v1/records/contacts?to=",
    ] {
        let (status, body) = get(&server.base, path, &As::Bearer(token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"], "bad_request", "{path}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    for path in [
        "/api/v1/metrics?unit=NOWHERE",
        "/api/v1/metrics?metric=no_such_metric",
        "/api/v1/people/NOBODY/scorecard",
        "/api/v1/org/units/NOWHERE/scorecard",
    ] {
        let (status, body) = get(&server.base, path, &As::Bearer(token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
}

/// Whose data a role's own and other scope refer to.
struct Cases {
    /// A unit inside the scope and one outside (for the agent: their team and another).
    own_unit: String,
    other_unit: String,
    /// A person inside and one outside.
    own_person: String,
    other_person: String,
}

fn cases(org: &Organisation, who: &DemoSignIn) -> Cases {
    let person = who.person.clone().unwrap();
    let unit = org.current_unit_of(&person).unwrap().to_owned();
    let (top, own_person) = match who.role {
        cxm_domain::AccessRole::Agent => (unit.clone(), person.clone()),
        _ => {
            let agent = org
                .people()
                .filter(|(_, _, role)| *role == "agent")
                .map(|(id, _, _)| id)
                .find(|id| {
                    org.units_of(id).iter().all(|u| org.within(u, &unit))
                        && !org.units_of(id).is_empty()
                })
                .unwrap();
            (unit.clone(), agent.to_owned())
        }
    };
    let other_unit = org
        .units()
        .iter()
        .find(|u| u.level == "team" && !org.within(&u.id, &top) && !org.within(&top, &u.id))
        .unwrap()
        .id
        .clone();
    let other_person = org
        .people()
        .filter(|(_, _, role)| *role == "agent")
        .map(|(id, _, _)| id)
        .find(|id| {
            !org.units_of(id).is_empty() && org.units_of(id).iter().all(|u| !org.within(u, &top))
        })
        .unwrap()
        .to_owned();
    Cases {
        own_unit: unit,
        other_unit,
        own_person,
        other_person,
    }
}

#[tokio::test]
async fn the_authorization_matrix_holds_for_every_role_endpoint_and_scope() {
    let server = server().await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let month = cxm_metrics::scorecard::default_period(&engine).to_string();

    // Anonymous callers get nothing but a 401.
    for path in [
        "/api/v1/me",
        "/api/v1/catalogue",
        "/api/v1/metrics",
        "/api/v1/org/units/CO/scorecard",
        "/api/v1/org/units",
        "/api/v1/people",
        "/api/v1/targets",
        "/api/v1/records/contacts",
        "/api/v1/records/answers",
        "/api/v1/cases",
        "/api/v1/cases/1",
        "/api/v1/alert-rules",
    ] {
        let (status, body) = get(base, path, &As::Anonymous).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"], "unauthenticated");
    }

    for who in &world().users {
        let cookie = sign_in(base, who).await;
        let me = As::Cookie(&cookie);
        let role = who.role.as_str();
        let everything = matches!(role, "executive" | "analyst" | "admin");
        let (status, _) = get(base, "/api/v1/catalogue", &me).await;
        assert_eq!(status, StatusCode::OK, "{role} catalogue");

        if everything {
            for path in [
                "/api/v1/metrics?by=team&metric=contacts,csat".to_owned(),
                "/api/v1/org/units/CO/scorecard".to_owned(),
                format!(
                    "/api/v1/people/{}/scorecard?period={month}",
                    cases_any_agent(org)
                ),
                "/api/v1/records/contacts?limit=5".to_owned(),
            ] {
                let (status, body) = get(base, &path, &me).await;
                assert_eq!(status, StatusCode::OK, "{role} {path}: {body}");
            }
            let (_, units) = get(base, "/api/v1/org/units", &me).await;
            assert_eq!(units.as_array().unwrap().len(), org.units().len(), "{role}");
            for path in [
                "/".to_owned(),
                "/overview".to_owned(),
                "/topics?grain=week".to_owned(),
                format!("/units/CO?period={month}"),
                format!("/people/{}", cases_any_agent(org)),
            ] {
                let (status, html) = page(base, &path, Some(&cookie)).await;
                assert_eq!(status, StatusCode::OK, "{role} {path}: {html}");
            }
            continue;
        }

        let c = cases(org, who);
        let in_scope_unit = |unit: &str| match role {
            "agent" => unit == c.own_unit,
            _ => org.within(unit, &c.own_unit),
        };
        let in_scope_person = |person: &str| match role {
            "agent" => person == c.own_person,
            _ => org
                .units_of(person)
                .iter()
                .any(|u| org.within(u, &c.own_unit)),
        };

        // Scorecards: own unit and person yes, others no.
        for (path, allowed) in [
            (
                format!("/api/v1/org/units/{}/scorecard?period={month}", c.own_unit),
                true,
            ),
            (
                format!(
                    "/api/v1/org/units/{}/scorecard?period={month}",
                    c.other_unit
                ),
                false,
            ),
            (
                format!("/api/v1/people/{}/scorecard?period={month}", c.own_person),
                true,
            ),
            (
                format!("/api/v1/people/{}/scorecard?period={month}", c.other_person),
                false,
            ),
            ("/api/v1/org/units/CO/scorecard".to_owned(), false),
        ] {
            let (status, body) = get(base, &path, &me).await;
            let expected = if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{role} {path}: {body}");
        }

        // Metric queries: the default is narrowed to the scope; others are refused.
        let (status, body) = get(
            base,
            "/api/v1/metrics?metric=contacts&by=team&grain=all",
            &me,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
        let teams: Vec<&str> = body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["group"]["team"].as_str())
            .collect();
        assert!(!teams.is_empty(), "{role}");
        for team in &teams {
            assert!(in_scope_unit(team), "{role} sees team {team}");
        }
        for (path, allowed) in [
            (
                format!("/api/v1/metrics?metric=contacts&unit={}", c.other_unit),
                false,
            ),
            (
                format!("/api/v1/metrics?metric=contacts&person={}", c.other_person),
                false,
            ),
            (
                format!("/api/v1/metrics?metric=contacts&person={}", c.own_person),
                true,
            ),
            (
                format!("/api/v1/metrics?metric=contacts&unit={}", c.own_unit),
                true,
            ),
            ("/api/v1/metrics?metric=contacts&unit=CO".to_owned(), false),
            (
                "/api/v1/metrics?metric=csat&by=agent".to_owned(),
                role != "agent",
            ),
        ] {
            let (status, body) = get(base, &path, &me).await;
            let expected = if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{role} {path}: {body}");
            if allowed {
                for row in body["rows"].as_array().unwrap() {
                    if let Some(agent) = row["group"]["agent"].as_str() {
                        assert!(in_scope_person(agent), "{role} sees agent {agent}");
                    }
                }
            }
        }

        // Records: every row on every page lies in the scope, whatever the filters.
        for set in ["contacts", "answers"] {
            for filter in [
                String::new(),
                format!("&unit={}", c.own_unit),
                format!("&person={}", c.own_person),
                "&order=worst".to_owned(),
            ] {
                let path = format!("/api/v1/records/{set}?limit=200{filter}");
                let (status, page) = get(base, &path, &me).await;
                assert_eq!(status, StatusCode::OK, "{role} {path}: {page}");
                let rows = page["rows"].as_array().unwrap();
                assert!(page["total"].as_u64().unwrap() >= rows.len() as u64);
                assert!(!rows.is_empty(), "{role} {path}: nothing in scope to check");
                for row in rows {
                    match role {
                        "agent" => {
                            assert_eq!(row["agent_id"], c.own_person.as_str(), "{role} {path}")
                        }
                        _ => assert!(
                            in_scope_unit(row["team_id"].as_str().unwrap_or("")),
                            "{role} {path} sees {row}"
                        ),
                    }
                }
            }
            for filter in [
                format!("unit={}", c.other_unit),
                format!("person={}", c.other_person),
            ] {
                let path = format!("/api/v1/records/{set}?{filter}");
                let (status, page) = get(base, &path, &me).await;
                // Either refused outright or empty: never another's records.
                match status {
                    StatusCode::FORBIDDEN => {}
                    StatusCode::OK => assert_eq!(page["total"], 0, "{role} {path}"),
                    other => panic!("{role} {path}: {other} {page}"),
                }
            }
        }

        // Paging walks the same scoped set without overlap.
        let (_, first) = get(base, "/api/v1/records/contacts?limit=7&offset=0", &me).await;
        let (_, second) = get(base, "/api/v1/records/contacts?limit=7&offset=7", &me).await;
        let ids = |page: &Value| -> BTreeSet<String> {
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["interaction_id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(first["total"], second["total"]);
        assert!(ids(&first).is_disjoint(&ids(&second)), "{role}");
        let beyond = format!(
            "/api/v1/records/contacts?limit=7&offset={}",
            first["total"].as_u64().unwrap()
        );
        let (_, past_end) = get(base, &beyond, &me).await;
        assert!(past_end["rows"].as_array().unwrap().is_empty());

        // Pages: in scope they answer and link only to units and people in scope; outside
        // it they are refused.
        for (path, allowed) in [
            ("/".to_owned(), true),
            ("/overview".to_owned(), true),
            ("/topics".to_owned(), true),
            (format!("/overview?unit={}", c.own_unit), true),
            (format!("/topics?unit={}&channel=phone", c.own_unit), true),
            (format!("/units/{}?period={month}", c.own_unit), true),
            (format!("/people/{}?period={month}", c.own_person), true),
            (format!("/overview?unit={}", c.other_unit), false),
            (format!("/topics?unit={}", c.other_unit), false),
            (format!("/units/{}", c.other_unit), false),
            (format!("/people/{}", c.other_person), false),
            ("/units/CO".to_owned(), false),
        ] {
            let (status, html) = page(base, &path, Some(&cookie)).await;
            if !allowed {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {path}");
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{role} {path}: {html}");
            for (prefix, seen) in [
                ("href=\"/units/", &in_scope_unit as &dyn Fn(&str) -> bool),
                ("href=\"/people/", &in_scope_person),
            ] {
                for linked in html.split(prefix).skip(1) {
                    let id = linked.split(['"', '?']).next().unwrap();
                    assert!(seen(id), "{role} {path} links to {prefix}{id}");
                }
            }
        }

        // The org tree and people are those of the scope.
        let (_, units) = get(base, "/api/v1/org/units", &me).await;
        for unit in units.as_array().unwrap() {
            assert!(
                in_scope_unit(unit["id"].as_str().unwrap()),
                "{role} sees {unit}"
            );
        }
        let (_, people) = get(base, "/api/v1/people", &me).await;
        let people = people.as_array().unwrap();
        assert!(!people.is_empty());
        for person in people {
            assert!(
                in_scope_person(person["id"].as_str().unwrap()),
                "{role} sees {person}"
            );
        }
    }
}

fn cases_any_agent(org: &Organisation) -> String {
    org.people()
        .find(|(_, _, role)| *role == "agent")
        .map(|(id, _, _)| id.to_owned())
        .unwrap()
}

async fn post_json(
    base: &str,
    path: &str,
    who: &As<'_>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let request = client()
        .post(format!("{base}{path}"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    send_as(request, who).await
}

/// Contacts over all years, as the metrics API counts them.
async fn contacts_total(base: &str, token: &str) -> f64 {
    let (_, metrics) = get(
        base,
        "/api/v1/metrics?metric=contacts&grain=year",
        &As::Bearer(token),
    )
    .await;
    metrics["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["value"].as_f64())
        .sum()
}

/// An interaction with the given id, agent and handle time.
fn interaction(id: &str, agent: &str, handle: u32) -> Value {
    serde_json::json!({
        "interaction_id": id, "customer_id": "C-API-1", "agent_id": agent, "channel": "phone",
        "started_at": "2025-06-03T09:30:00Z", "talk_seconds": handle - 10, "hold_seconds": 10,
        "handle_seconds": handle, "topics": ["billing"], "resolved": true
    })
}

fn statuses(answer: &Value) -> Vec<&str> {
    answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

async fn an_agent(base: &str, token: &str) -> String {
    let (_, people) = get(base, "/api/v1/people", &As::Bearer(token)).await;
    people
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "agent")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn ingest_batches_report_every_record_and_are_idempotent() {
    let w = ingest_world();
    let server = server_on(w, ServerConfig::default()).await;
    let base = &server.base;
    let agent = an_agent(base, &w.read_token).await;
    let stored =
        |id: &str| format!("SELECT count(*) FROM interactions WHERE interaction_id LIKE '{id}%'");
    let before = stored_count_in(w, "SELECT count(*) FROM interactions").await;
    let contacts_before = contacts_total(base, &w.read_token).await;

    let mut bad = interaction("API-3", &agent, 300);
    bad["started_at"] = "2025-13-01".into();
    bad["hold_seconds"] = (-5).into();
    let batch = Value::Array(vec![
        interaction("API-1", &agent, 300),
        interaction("API-2", &agent, 420),
        bad,
        Value::String("not a record".into()),
    ]);
    let path = "/api/v1/ingest/interactions?wait=true";
    let (status, answer) =
        post_json(base, path, &As::Bearer(&w.ingest_token), batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        statuses(&answer),
        ["inserted", "inserted", "rejected", "rejected"]
    );
    assert_eq!(
        (
            answer["read"].as_u64(),
            answer["accepted"].as_u64(),
            answer["rejected"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    assert_eq!(answer["visible"], true);
    assert!(answer["version"].is_u64());
    let reasons: Vec<&str> = answer["records"][2]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("started_at") && r.contains("2025-13-01")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("hold_seconds")),
        "{reasons:?}"
    );
    assert_eq!(answer["records"][2]["id"], "API-3");
    assert!(
        answer["quarantine"]
            .as_str()
            .unwrap()
            .contains("quarantine")
    );
    assert_eq!(stored_count_in(w, &stored("API-")).await, 2);
    assert_eq!(
        stored_count_in(w, "SELECT count(*) FROM interactions").await,
        before + 2
    );
    // With wait=true the metrics already count them.
    let contacts_after = contacts_total(base, &w.read_token).await;
    assert_eq!(contacts_after, contacts_before + 2.0);

    // The same batch again changes nothing.
    let (status, again) =
        post_json(base, path, &As::Bearer(&w.ingest_token), batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        statuses(&again),
        ["unchanged", "unchanged", "rejected", "rejected"]
    );
    assert!(again["version"].is_null());
    assert_eq!(stored_count_in(w, &stored("API-")).await, 2);

    // A changed record replaces; a repeated id within a batch: the last one wins.
    let batch = Value::Array(vec![
        interaction("API-1", &agent, 360),
        interaction("API-4", &agent, 100),
        interaction("API-4", &agent, 200),
        interaction("API-4", &agent, 200),
    ]);
    let (status, answer) =
        post_json(base, path, &As::Bearer(&w.ingest_token), batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        statuses(&answer),
        ["replaced", "inserted", "replaced", "unchanged"]
    );
    assert_eq!(stored_count_in(w, &stored("API-")).await, 3);
    assert_eq!(stored_count_in(w, "SELECT count(*) FROM interactions WHERE interaction_id = 'API-4' AND handle_seconds = 200").await, 1);
    assert_eq!(stored_count_in(w, "SELECT count(*) FROM interactions WHERE interaction_id = 'API-1' AND handle_seconds = 360").await, 1);

    // Every batch is in the audit log under the token.
    let store = DataDir::open(&w.path).unwrap().reference().await.unwrap();
    let log = store.audit_log(50).await.unwrap();
    store.close().await;
    let ingests = log
        .iter()
        .filter(|e| e.action == "ingest" && e.actor.starts_with("token:"))
        .count();
    assert!(ingests >= 3, "{log:?}");
}

#[tokio::test]
async fn ingest_refuses_readers_bad_bodies_and_oversized_batches() {
    let w = ingest_world();
    let server = server_on(
        w,
        ServerConfig {
            body_limit: 4096,
            ..ServerConfig::default()
        },
    )
    .await;
    let base = &server.base;
    let path = "/api/v1/ingest/surveys";
    let (status, _) = post_json(base, path, &As::Anonymous, "[]").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = post_json(base, path, &As::Bearer(&w.read_token), "[]").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let agent = sign_in(
        base,
        w.users.iter().find(|u| u.role.as_str() == "agent").unwrap(),
    )
    .await;
    let (status, _) = post_json(base, path, &As::Cookie(&agent), "[]").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = sign_in(
        base,
        w.users.iter().find(|u| u.role.as_str() == "admin").unwrap(),
    )
    .await;
    let (status, answer) = post_json(base, path, &As::Cookie(&admin), "[]").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["read"], 0);
    let token = As::Bearer(&w.ingest_token);
    for (body, expected) in [
        ("{\"response_id\": \"R1\"}", "JSON array"),
        ("[{\"response_id\": ", "not JSON"),
    ] {
        let (status, answer) = post_json(base, path, &token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer["message"].as_str().unwrap().contains(expected),
            "{answer}"
        );
    }
    let (status, answer) = post_json(base, "/api/v1/ingest/people", &token, "[]").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let big = format!("[{}]", vec!["{\"response_id\": \"R1\"}"; 400].join(","));
    let (status, answer) = post_json(base, path, &token, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "payload_too_large");
}

/// The `href` of the first link inside `<td … data-metric="metric">`.
fn metric_link(html: &str, metric: &str) -> String {
    let at = html.find(&format!("data-metric=\"{metric}\"")).unwrap();
    let rest = &html[at..];
    let href = rest.find("href=\"").unwrap() + "href=\"".len();
    rest[href..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}

fn csv_records(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn numbers_lead_to_their_records_and_exports_stay_in_scope() {
    let server = server().await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let manager = user("manager");
    let site = org
        .current_unit_of(manager.person.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let cookie = sign_in(base, manager).await;
    let (status, html) = page(base, &format!("/units/{site}"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    // The contacts number links to exactly the contacts it counted.
    let href = metric_link(&html, "contacts");
    assert!(href.starts_with("/records/contacts?"), "{href}");
    let period = cxm_metrics::scorecard::default_period(&engine);
    let (_, card) = get(
        base,
        &format!("/api/v1/org/units/{site}/scorecard"),
        &As::Cookie(&cookie),
    )
    .await;
    let contacts = line_of(&card, "contacts")["actual"].as_f64().unwrap();
    let (status, listing) = page(base, &href, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    let total_at =
        listing.find("<strong class=\"total\">").unwrap() + "<strong class=\"total\">".len();
    let total: f64 = listing[total_at..]
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, contacts, "{href}");
    assert!(listing.contains(&format!("value=\"{}\"", period.start)));
    // CSAT leads to the answers, lowest rated first.
    let answers = metric_link(&html, "csat");
    assert!(
        answers.starts_with("/records/answers?") && answers.contains("order=worst"),
        "{answers}"
    );

    // The export holds every listed record, and only the unit's.
    let export = href.replacen("/records/contacts?", "/records/contacts.csv?", 1);
    let response = client()
        .get(format!("{base}{export}"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        response.headers()[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = response.text().await.unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("interaction_id,started_at,customer_id,agent_id,team_id"),
        "{header}"
    );
    let rows = csv_records(&text);
    assert_eq!(rows.len() as f64, contacts);
    let teams: BTreeSet<String> = org.subtree(&site).map(|u| u.id.clone()).collect();
    assert!(
        rows.iter().all(|r| teams.contains(&r[4])),
        "a contact outside {site}"
    );

    // An agent's export of everything holds only their own contacts.
    let agent = user("agent");
    let agent_cookie = sign_in(base, agent).await;
    let response = client()
        .get(format!("{base}/records/contacts.csv"))
        .header(reqwest::header::COOKIE, &agent_cookie)
        .send()
        .await
        .unwrap();
    let rows = csv_records(&response.text().await.unwrap());
    assert!(!rows.is_empty());
    let me = agent.person.as_deref().unwrap();
    assert!(rows.iter().all(|r| &r[3] == me));
    let (_, all) = get(
        base,
        "/api/v1/records/contacts?limit=1",
        &As::Cookie(&agent_cookie),
    )
    .await;
    assert_eq!(all["total"].as_u64().unwrap(), rows.len() as u64);
    // … also when asking for someone else's unit.
    let other = org
        .units()
        .iter()
        .find(|u| u.level == "site" && !teams.contains(&u.id))
        .unwrap();
    let response = client()
        .get(format!("{base}/records/contacts.csv?unit={}", other.id))
        .header(reqwest::header::COOKIE, &agent_cookie)
        .send()
        .await
        .unwrap();
    assert!(
        response.status() == StatusCode::FORBIDDEN
            || csv_records(&response.text().await.unwrap())
                .iter()
                .all(|r| &r[3] == me)
    );

    // Paging through the listing keeps the filters.
    let (_, first) = page(base, &format!("{href}&limit=10"), Some(&cookie)).await;
    let next_at = first.find("rel=\"next\" href=\"").unwrap() + "rel=\"next\" href=\"".len();
    let next = first[next_at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        next.contains("offset=10") && next.contains(&format!("unit={site}")),
        "{next}"
    );

    // Exports are audited; records pages want a signed-in person.
    let store = DataDir::open(&world().path)
        .unwrap()
        .reference()
        .await
        .unwrap();
    let log = store.audit_log(200).await.unwrap();
    store.close().await;
    assert!(
        log.iter().any(|e| e.action == "export"
            && e.actor == manager.username
            && e.detail.contains(&site))
    );
    let (status, location) = page(base, "/records/answers?order=worst", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/login?next=%2Frecords%2Fanswers%3Forder%3Dworst");
}

/// The line of `metric` in a scorecard from the API.
fn line_of<'a>(card: &'a Value, metric: &str) -> &'a Value {
    card["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} line"))
}

/// The text of the element carrying `marker` (up to its first tag), e.g. a card's value.
fn text_after(html: &str, marker: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} missing"));
    let rest = &html[at + marker.len()..];
    let mut text = String::new();
    let mut in_tag = false;
    for c in rest.chars() {
        match c {
            '<' => {
                if !text.trim().is_empty() && !in_tag {
                    break;
                }
                in_tag = true
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_owned()
}

#[tokio::test]
async fn dashboards_show_the_engines_numbers_and_keep_their_filters() {
    let server = server().await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let cookie = sign_in(base, user("executive")).await;
    let me = As::Cookie(&cookie);
    let period = cxm_metrics::scorecard::default_period(&engine);
    let (from, to) = (period.start, period.end.pred_opt().unwrap());
    let root = org.root().unwrap().id.clone();

    // The overview's cards are the company's scorecard.
    let (status, html) = page(base, "/overview", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, card) = get(base, &format!("/api/v1/org/units/{root}/scorecard"), &me).await;
    let csat = line_of(&card, "csat")["actual"].as_f64().unwrap();
    let shown = text_after(&html, "data-metric=\"csat\"><h3>CSAT (top-2-box)</h3>");
    assert_eq!(shown, format!("{:.1}%", csat * 100.0), "overview CSAT");
    for metric in cxm_server::overview::OVERVIEW_METRICS {
        assert!(
            html.contains(&format!("data-metric=\"{metric}\"")),
            "{metric} card"
        );
    }
    assert!(html.contains("Biggest movers among teams"));
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        8,
        "a trend per card"
    );

    // A unit's handle-time histogram counts every contact of the unit in the period.
    let site = org.children(&root)[0].id.clone();
    let (status, html) = page(base, &format!("/units/{site}"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, site_card) = get(base, &format!("/api/v1/org/units/{site}/scorecard"), &me).await;
    let contacts = line_of(&site_card, "contacts")["actual"].as_f64().unwrap();
    assert!(
        html.contains(&format!("Handle time (contacts: {contacts:.0})")),
        "handle histogram of {contacts} contacts"
    );
    // Every bin holds the contacts the exported records put there (binned here anew).
    let handle_chart = &html
        [html.find("Handle time (contacts:").unwrap()..html.find("Hold time (contacts:").unwrap()];
    let export = client()
        .get(format!(
            "{base}/records/contacts.csv?unit={site}&from={from}&to={to}"
        ))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = csv_records(&export);
    let header = csv::Reader::from_reader(export.as_bytes())
        .headers()
        .unwrap()
        .clone();
    let handle_at = header.iter().position(|h| h == "handle_seconds").unwrap();
    let handles: Vec<u64> = exported
        .iter()
        .filter_map(|r| r[handle_at].parse().ok())
        .collect();
    assert_eq!(handles.len() as f64, contacts);
    let mut bins = 0;
    for title in handle_chart.split("<title>").skip(1) {
        let title = title.split("</title>").next().unwrap();
        // "{axis label}: {range} s: {n} contacts"
        let Some((range, count)) = title
            .split_once(": ")
            .and_then(|(_, note)| note.split_once(" s: "))
        else {
            continue;
        };
        let count: usize = count.trim_end_matches(" contacts").parse().unwrap();
        let expected = match range.strip_prefix("≥ ") {
            Some(low) => {
                let low: u64 = low.parse().unwrap();
                handles.iter().filter(|h| **h >= low).count()
            }
            None => {
                let (low, high) = range.split_once('–').unwrap();
                let parse =
                    |v: &str| -> u64 { v.parse().unwrap_or_else(|_| panic!("bin {range:?}")) };
                let (low, high) = (parse(low), parse(high));
                handles.iter().filter(|h| (low..=high).contains(*h)).count()
            }
        };
        assert_eq!(count, expected, "contacts in {range} s");
        bins += 1;
    }
    assert!(bins > 3, "only {bins} bins");

    // Hold time only where the channel has a hold (its mean's sample).
    let held = line_of(&site_card, "hold_seconds")["n"].as_u64().unwrap();
    assert!(held > 0 && (held as f64) < contacts);
    assert!(html.contains(&format!("Hold time (contacts: {held})")));
    assert!(html.contains("Topic mix"));

    // The topics page: contacts per topic as the API counts them.
    let (status, html) = page(base, "/topics", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, by_topic) = get(
        base,
        &format!("/api/v1/metrics?metric=contacts&by=topic&from={from}&to={to}&grain=month"),
        &me,
    )
    .await;
    let rows = by_topic["rows"].as_array().unwrap();
    assert!(rows.len() > 5);
    let topics_table = &html[..html.find("data-by=\"category\"").unwrap()];
    for row in rows {
        let topic = row["group"]["topic"].as_str().unwrap();
        let expected = format!("{:.0}", row["value"].as_f64().unwrap());
        let at = topics_table
            .find(&format!("data-group=\"{topic}\""))
            .unwrap_or_else(|| panic!("topic {topic} missing"));
        let shown = text_after(&topics_table[at..], "data-metric=\"contacts\"");
        assert_eq!(shown, expected, "contacts of {topic}");
    }
    assert!(html.contains("data-by=\"category\""));
    assert!(
        !html.contains("topic=%28none%29"),
        "contacts without a topic link nowhere"
    );

    // An agent's team page: the spread of the whole team's handle time (an aggregate),
    // not only the agent's own contacts.
    let agent_user = user("agent");
    let agent_cookie = sign_in(base, agent_user).await;
    let team = org
        .current_unit_of(agent_user.person.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let (status, html) = page(base, &format!("/units/{team}"), Some(&agent_cookie)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (_, team_card) = get(
        base,
        &format!("/api/v1/org/units/{team}/scorecard"),
        &As::Cookie(&agent_cookie),
    )
    .await;
    let team_contacts = line_of(&team_card, "contacts")["actual"].as_f64().unwrap();
    assert!(
        html.contains(&format!("Handle time (contacts: {team_contacts:.0})")),
        "the team's {team_contacts} contacts"
    );

    // Filters combine and stay in every link: a channel and a period.
    let previous = period.previous().to_string();
    let (status, html) = page(
        base,
        &format!("/units/{site}?channel=chat&period={previous}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("· {previous}</h1>")),
        "period in the heading"
    );
    let child = org.children(&site)[0].id.clone();
    assert!(
        html.contains(&format!(
            "href=\"/units/{child}?period={previous}&amp;channel=chat\""
        )),
        "child links keep the filters"
    );
    let href = metric_link(&html, "contacts");
    assert!(href.contains("channel=chat"), "{href}");
    let (_, records) = get(base, &format!("/api/v1{href}"), &me).await;
    let chat_contacts = records["total"].as_u64().unwrap();
    let shown: u64 = text_after(&html, "data-metric=\"contacts\">")
        .parse()
        .unwrap();
    assert_eq!(
        shown, chat_contacts,
        "the number is the chat contacts it links to"
    );
    let (_, all) = get(
        base,
        &format!(
            "/api/v1/records/contacts?unit={site}&from={}&to={}&limit=1",
            period.previous().start,
            period.start.pred_opt().unwrap()
        ),
        &me,
    )
    .await;
    assert!(chat_contacts > 0 && chat_contacts < all["total"].as_u64().unwrap());

    // Bad filters are 400s and 404s in our error format.
    for (path, expected) in [
        ("/overview?period=2025-13", StatusCode::BAD_REQUEST),
        ("/overview?grain=all", StatusCode::BAD_REQUEST),
        ("/overview?grain=fortnight", StatusCode::BAD_REQUEST),
        ("/topics?unit=NOWHERE", StatusCode::NOT_FOUND),
        ("/people/NOBODY", StatusCode::NOT_FOUND),
    ] {
        let (status, body) = page(base, path, Some(&cookie)).await;
        assert_eq!(status, expected, "{path}: {body}");
    }

    // An agent's page over a year: comments lowest rated first, all theirs.
    let agent = user("agent").person.clone().unwrap();
    let year = period.start.format("%Y").to_string();
    let (status, html) = page(
        base,
        &format!("/people/{agent}?period={year}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, answers) = get(
        base,
        &format!("/api/v1/records/answers?person={agent}&from={year}-01-01&to={year}-12-31&order=worst&limit=1000"),
        &me,
    )
    .await;
    let commented: Vec<&str> = answers["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["comment"].as_str().is_some_and(|c| !c.trim().is_empty()))
        .filter_map(|r| r["response_id"].as_str())
        .take(10)
        .collect();
    let shown: Vec<&str> = html
        .split("data-response=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert!(!commented.is_empty(), "no comments to check");
    assert_eq!(shown, commented, "the lowest-rated comments, in order");
    assert!(html.contains("Recent contacts"));
}

/// The analyses (API and pages) answer every role within its scope, refuse units outside
/// it, and agree with the metric engine where they count the same things.
#[tokio::test]
async fn analyses_answer_within_each_scope() {
    let server = server().await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let token = As::Bearer(&world().read_token);

    // Root causes count the contacts the engine counts.
    let (status, causes) = get(base, "/api/v1/insight/root-causes", &token).await;
    assert_eq!(status, StatusCode::OK, "{causes}");
    let (_, contacts) = get(base, "/api/v1/metrics?metric=contacts&grain=all", &token).await;
    assert_eq!(
        causes["totals"]["contacts"].as_f64(),
        contacts["rows"][0]["value"].as_f64()
    );
    let topics = causes["topics"].as_array().unwrap();
    assert!(!topics.is_empty());
    let scores: Vec<f64> = topics
        .iter()
        .map(|t| t["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ranked by score");

    // Drivers: every driver's weight within its interval, weights adding up to R².
    let (status, drivers) = get(base, "/api/v1/insight/drivers?resamples=50", &token).await;
    assert_eq!(status, StatusCode::OK, "{drivers}");
    let list = drivers["drivers"].as_array().unwrap();
    assert!(list.len() >= 5, "{drivers}");
    let total: f64 = list
        .iter()
        .map(|d| d["relative_weight"]["value"].as_f64().unwrap())
        .sum();
    let r_squared = drivers["r_squared"]["value"].as_f64().unwrap();
    assert!((total - r_squared).abs() < 1e-9);
    // Each interval is ordered and non-negative (weights are sums of squares). It holds the
    // weight itself unless the weight is next to zero (under 1% of R²): a percentile
    // interval of a statistic bounded at zero can lie wholly above such an estimate, as
    // resampling noise only adds weight there (seen: 0.00013 against 0.000133–0.0014).
    for d in list {
        let w = &d["relative_weight"];
        let [low, value, high] = ["low", "value", "high"].map(|k| w[k].as_f64().unwrap());
        assert!(-1e-12 <= low && low <= high + 1e-12, "{d}");
        if value >= 0.01 * r_squared {
            assert!(low <= value + 1e-12 && value <= high + 1e-12, "{d}");
        }
    }
    let (status, body) = get(base, "/api/v1/insight/drivers?outcome=loyalty", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // an attribute nobody rated: nothing to analyse
    let (status, body) = get(base, "/api/v1/insight/drivers?outcome=rating:smell", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // CLV: converged fits; the customer list in value order.
    let (status, clv) = get(base, "/api/v1/insight/clv?limit=10", &token).await;
    assert_eq!(status, StatusCode::OK, "{clv}");
    assert_eq!(
        clv["purchases"]["convergence"]["converged"], true,
        "{}",
        clv["purchases"]
    );
    assert_eq!(
        clv["spend"]["convergence"]["converged"], true,
        "{}",
        clv["spend"]
    );
    let values: Vec<f64> = clv["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 10);
    assert!(values.windows(2).all(|w| w[0] >= w[1]));
    let (status, _) = get(base, "/api/v1/insight/clv?months=0", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, attrition) = get(base, "/api/v1/insight/attrition", &token).await;
    assert_eq!(status, StatusCode::OK, "{attrition}");
    for curve in attrition["curves"].as_array().unwrap() {
        let points = curve["points"].as_array().unwrap();
        let retained: Vec<f64> = points
            .iter()
            .map(|p| p["retained"].as_f64().unwrap())
            .collect();
        assert!(
            retained.windows(2).all(|w| w[0] >= w[1]),
            "a retention curve only falls"
        );
    }

    // Experience → money: each grouping's groups add up to its customers, the repeat
    // grouping covers every customer followed, revenue at risk is churn × prior revenue.
    let (status, worth) = get(base, "/api/v1/insight/experience?follow_days=60", &token).await;
    assert_eq!(status, StatusCode::OK, "{worth}");
    assert_eq!(worth["follow_days"], 60);
    let everyone = worth["customers"].as_u64().unwrap();
    for d in worth["dimensions"].as_array().unwrap() {
        let groups = d["comparison"]["groups"].as_array().unwrap();
        let n: u64 = groups
            .iter()
            .map(|g| g["customers"].as_u64().unwrap())
            .sum();
        assert_eq!(n, d["customers"].as_u64().unwrap(), "{d}");
        if d["dimension"] == "repeat_contact" {
            assert_eq!(n, everyone);
        }
        for g in groups {
            let at_risk =
                g["churn_rate"]["value"].as_f64().unwrap() * g["prior_revenue"].as_f64().unwrap();
            assert!((at_risk - g["revenue_at_risk"]["value"].as_f64().unwrap()).abs() < 1e-6);
        }
    }
    let (status, _) = get(base, "/api/v1/insight/experience?follow_days=0", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = get(base, "/api/v1/insight/experience?cut=1990-01-01", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = get(base, "/api/v1/insight/experience?cut=someday", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // a range without days: nothing to analyse, for every analysis
    for analysis in ["drivers", "clv", "attrition", "experience", "root-causes"] {
        let path = format!("/api/v1/insight/{analysis}?to=2000-01-01");
        let (status, body) = get(base, &path, &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    for who in &world().users {
        let cookie = sign_in(base, who).await;
        let me = As::Cookie(&cookie);
        let role = who.role.as_str();
        for path in ["/drivers", "/value", "/retention", "/root-causes"] {
            let (status, html) = page(base, path, Some(&cookie)).await;
            assert_eq!(status, StatusCode::OK, "{role} {path}: {html}");
            assert!(html.contains("<h1>"), "{role} {path}");
        }
        if matches!(role, "executive" | "analyst" | "admin") {
            continue;
        }
        let c = cases(org, who);
        for path in [
            format!("/api/v1/insight/drivers?resamples=10&unit={}", c.other_unit),
            format!("/api/v1/insight/clv?unit={}", c.other_unit),
            format!("/api/v1/insight/attrition?unit={}", c.other_unit),
            format!("/api/v1/insight/experience?unit={}", c.other_unit),
            format!("/api/v1/insight/root-causes?unit={}", c.other_unit),
        ] {
            let (status, body) = get(base, &path, &me).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} {path}: {body}");
        }
        let (status, html) = page(
            base,
            &format!("/drivers?unit={}", c.other_unit),
            Some(&cookie),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {html}");
        // Their own area: root causes count their area's contacts; the customer list holds
        // only customers of their subtree, and nobody's for an agent.
        let (status, causes) = get(base, "/api/v1/insight/root-causes", &me).await;
        assert_eq!(status, StatusCode::OK, "{role}: {causes}");
        let (_, contacts) = get(base, "/api/v1/metrics?metric=contacts&grain=all", &me).await;
        assert_eq!(
            causes["totals"]["contacts"].as_f64(),
            contacts["rows"][0]["value"].as_f64(),
            "{role}"
        );
        let (status, clv) = get(base, "/api/v1/insight/clv?limit=1000", &me).await;
        if status == StatusCode::OK {
            for customer in clv["values"].as_array().unwrap() {
                assert_ne!(role, "agent", "an agent sees no customer list");
                let team = customer["team_id"].as_str().unwrap();
                assert!(org.within(team, &c.own_unit), "{role}: {customer}");
            }
        } else {
            // a small area may hold too few repeat buyers to fit
            assert_eq!(status, StatusCode::NOT_FOUND, "{role}: {clv}");
        }
        // What experience is worth, among the customers of their area only.
        let (status, worth) = get(base, "/api/v1/insight/experience", &me).await;
        if status == StatusCode::OK {
            assert!(
                worth["customers"].as_u64().unwrap() <= everyone,
                "{role}: {worth}"
            );
        } else {
            assert_eq!(status, StatusCode::NOT_FOUND, "{role}: {worth}");
        }
    }
}

/// A case request as a signed-in browser sends it (session cookie and CSRF header).
async fn patch_case(
    base: &str,
    cookie: &str,
    csrf: Option<&str>,
    id: i64,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client()
        .patch(format!("{base}/api/v1/cases/{id}"))
        .header(reqwest::header::COOKIE, cookie)
        .json(&body);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    send_as(request, &As::Anonymous).await
}

/// The session's CSRF token, as its pages carry it.
async fn session_csrf(base: &str, cookie: &str) -> String {
    let (_, html) = page(base, "/cases", Some(cookie)).await;
    hidden_csrf(&html)
}

#[tokio::test]
async fn cases_are_scoped_and_worked_through_their_workflow() {
    let server = server().await;
    let base = &server.base;
    let dir = DataDir::open(&world().path).unwrap();
    let store = dir.reference().await.unwrap();
    let org = Organisation::load_structure(&store).await.unwrap();
    let all = cxm_sql::CaseStore::cases(
        &store,
        &cxm_sql::CaseFilter {
            limit: 1_000_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ids = |answer: &Value| -> BTreeSet<i64> {
        answer["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case_id"].as_i64().unwrap())
            .collect()
    };
    let statuses = "status=open,in_progress,resolved,closed&limit=1000";

    // Each role sees exactly the cases of its scope.
    let lead = user("lead");
    let lead_unit = org
        .current_unit_of(lead.person.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let agent = user("agent");
    let agent_person = agent.person.clone().unwrap();
    for who in [lead, agent, user("executive"), user("analyst")] {
        let cookie = sign_in(base, who).await;
        let (status, answer) = get(
            base,
            &format!("/api/v1/cases?{statuses}"),
            &As::Cookie(&cookie),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let expected: BTreeSet<i64> = all
            .iter()
            .filter(|c| match who.role.as_str() {
                "lead" => c
                    .unit_id
                    .as_deref()
                    .is_some_and(|u| org.within(u, &lead_unit)),
                "agent" => c.agent_id.as_deref() == Some(agent_person.as_str()),
                _ => true,
            })
            .map(|c| c.case_id)
            .collect();
        if who.role.as_str() == "lead" {
            assert!(!expected.is_empty(), "the lead's team has no cases");
        }
        assert_eq!(
            answer["total"].as_u64(),
            Some(expected.len() as u64),
            "{}",
            who.username
        );
        let listed = ids(&answer);
        assert_eq!(listed.len(), expected.len().min(1000));
        assert!(
            listed.is_subset(&expected),
            "{} sees cases outside their scope",
            who.username
        );
    }

    // A lead works a case of their team: start, a stale copy refused, a skipped step
    // refused, resolve with root cause and outcome; the timeline holds every step.
    let cookie = sign_in(base, lead).await;
    let csrf = session_csrf(base, &cookie).await;
    let mine = all
        .iter()
        .find(|c| {
            c.status.as_str() == "open"
                && c.unit_id
                    .as_deref()
                    .is_some_and(|u| org.within(u, &lead_unit))
        })
        .unwrap();
    let id = mine.case_id;
    let (status, _) = patch_case(
        base,
        &cookie,
        None,
        id,
        serde_json::json!({"version": 1, "status": "in_progress"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a session's change needs its CSRF token"
    );
    let (status, started) = patch_case(
        base,
        &cookie,
        Some(&csrf),
        id,
        serde_json::json!({"version": 1, "status": "in_progress", "note": "calling the customer"}),
    )
    .await;
    assert_eq!(
        (status, started["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{started}"
    );
    let (status, stale) = patch_case(
        base,
        &cookie,
        Some(&csrf),
        id,
        serde_json::json!({"version": 1, "status": "resolved"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    let (status, skipped) = patch_case(
        base,
        &cookie,
        Some(&csrf),
        id,
        serde_json::json!({"version": 2, "status": "closed"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        skipped["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot become closed")
            || skipped.to_string().contains("cannot become closed"),
        "{skipped}"
    );
    let (status, bad_cause) = patch_case(
        base,
        &cookie,
        Some(&csrf),
        id,
        serde_json::json!({"version": 2, "root_cause": "no-such-topic"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad_cause}");
    let code = org_topic(&org);
    let (status, resolved) = patch_case(base, &cookie, Some(&csrf), id, serde_json::json!({
        "version": 2, "status": "resolved", "root_cause": code, "customer_reached": true, "issue_fixed": true
    })).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(
        (resolved["status"].as_str(), resolved["root_cause"].as_str()),
        (Some("resolved"), Some(code.as_str()))
    );
    let (_, detail) = get(base, &format!("/api/v1/cases/{id}"), &As::Cookie(&cookie)).await;
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "status",
            "note",
            "status",
            "root_cause",
            "outcome"
        ]
    );

    // Outside the lead's scope a case does not exist for them, to read or to change.
    if let Some(other) = all.iter().find(|c| {
        !c.unit_id
            .as_deref()
            .is_some_and(|u| org.within(u, &lead_unit))
    }) {
        let (status, _) = get(
            base,
            &format!("/api/v1/cases/{}", other.case_id),
            &As::Cookie(&cookie),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = patch_case(
            base,
            &cookie,
            Some(&csrf),
            other.case_id,
            serde_json::json!({"version": other.version, "note": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let unchanged = cxm_sql::CaseStore::case(&store, other.case_id)
            .await
            .unwrap()
            .unwrap()
            .0;
        assert_eq!(unchanged.version, other.version);
    }
    // An agent reads their cases but does not work them; a read token neither changes.
    let agent_cookie = sign_in(base, agent).await;
    let agent_csrf = session_csrf(base, &agent_cookie).await;
    if let Some(own) = all.iter().find(|c| {
        c.agent_id.as_deref() == Some(agent_person.as_str())
            && c.owner_id.as_deref() != Some(agent_person.as_str())
    }) {
        let (status, _) = patch_case(
            base,
            &agent_cookie,
            Some(&agent_csrf),
            own.case_id,
            serde_json::json!({"version": own.version, "note": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let request = client()
        .patch(format!("{base}/api/v1/cases/{id}"))
        .json(&serde_json::json!({"version": 3, "note": "x"}));
    let (status, _) = send_as(request, &As::Bearer(&world().read_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    store.close().await;
}

fn org_topic(org: &Organisation) -> String {
    let mut codes: Vec<&str> = org.topics().map(|(code, _)| code).collect();
    codes.sort_unstable();
    codes[0].to_owned()
}

#[tokio::test]
async fn analysts_edit_alert_rules_and_nobody_else_does() {
    let server = server().await;
    let base = &server.base;
    let (status, rules) = get(
        base,
        "/api/v1/alert-rules",
        &As::Bearer(&world().read_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"detractor") && ids.contains(&"repeat-contacts"),
        "{rules}"
    );
    let rule = serde_json::json!({
        "rule_id": "low-effort", "name": "Hard to deal with: CES 1 or 2",
        "condition": {"type": "low_score", "measure": "ces", "at_most": 2},
        "priority": "normal", "cooldown_days": 30, "enabled": false
    });
    let put = |cookie: String, csrf: String, body: Value, path: &'static str| async move {
        let request = client()
            .put(format!("{base}/api/v1/alert-rules/{path}"))
            .header(reqwest::header::COOKIE, cookie)
            .header("x-csrf-token", csrf)
            .json(&body);
        send_as(request, &As::Anonymous).await
    };
    let lead = sign_in(base, user("lead")).await;
    let lead_csrf = session_csrf(base, &lead).await;
    let (status, _) = put(lead, lead_csrf, rule.clone(), "low-effort").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let analyst = sign_in(base, user("analyst")).await;
    let csrf = session_csrf(base, &analyst).await;
    let mut invalid = rule.clone();
    invalid["condition"]["at_most"] = serde_json::json!(9);
    let (status, answer) = put(analyst.clone(), csrf.clone(), invalid, "low-effort").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = put(analyst.clone(), csrf.clone(), rule.clone(), "other-id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, saved) = put(analyst.clone(), csrf, rule, "low-effort").await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (saved["updated_by"].as_str(), saved["sla_hours"].as_u64()),
        (Some(user("analyst").username.as_str()), Some(72))
    );
}

/// What the test's webhook receiver saw: every request's idempotency key and answer, and
/// the events it acted on (once per key). It refuses the first attempt at every event, as
/// a receiver that is briefly down would, and checks every signature itself.
#[derive(Default)]
struct Received {
    requests: Vec<(String, StatusCode)>,
    events: Vec<(String, Value)>,
}

const HOOK_SECRET: &str = "integration-test-secret";

async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Received>>) {
    use hmac::Mac;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Received::default()));
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let key = header("idempotency-key");
                    let mut mac =
                        hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
                    mac.update(format!("{}.", header("cxm-timestamp")).as_bytes());
                    mac.update(&body);
                    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
                    let mut seen = seen.lock().unwrap();
                    let tried = seen.requests.iter().any(|(k, _)| *k == key);
                    let status = if header("cxm-signature") != expected {
                        StatusCode::UNAUTHORIZED
                    } else if !tried {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        if !seen.events.iter().any(|(k, _)| *k == key) {
                            let event: Value = serde_json::from_slice(&body).unwrap();
                            seen.events.push((key.clone(), event));
                        }
                        StatusCode::NO_CONTENT
                    };
                    seen.requests.push((key, status));
                    axum::http::StatusCode::from_u16(status.as_u16()).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn send_json(
    method: reqwest::Method,
    base: &str,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, format!("{base}{path}"))
        .header(reqwest::header::COOKIE, cookie)
        .json(&body);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    send_as(request, &As::Anonymous).await
}

/// Waits until the receiver has acted on the event with this key.
async fn acted_on(received: &std::sync::Mutex<Received>, key: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        if let Some((_, event)) = received
            .lock()
            .unwrap()
            .events
            .iter()
            .find(|(k, _)| k == key)
        {
            return event.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the receiver never took {key}: {:?}",
            received.lock().unwrap().requests
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_events_reach_webhooks_and_the_owners_inbox() {
    let w = common::build_world(600).await;
    let (url, received) = receiver().await;
    let config = ServerConfig {
        webhook_interval: std::time::Duration::from_millis(200),
        webhook_retry: cxm_domain::notify::RetrySchedule {
            first_delay_seconds: 1,
            max_attempts: 5,
        },
        ..ServerConfig::default()
    };
    let server = server_on(&w, config).await;
    let base = &server.base;
    let by_role = |role: &str| w.users.iter().find(|u| u.role.as_str() == role).unwrap();

    // Admins, and only admins, subscribe webhooks; the secret is never shown again.
    let admin = sign_in(base, by_role("admin")).await;
    let csrf = session_csrf(base, &admin).await;
    let hook = serde_json::json!({"url": url, "events": ["case.opened", "case.updated"], "secret": HOOK_SECRET});
    let put = |cookie: String, csrf: Option<String>, body: Value| async move {
        send_json(
            reqwest::Method::PUT,
            base,
            "/api/v1/webhooks/crm",
            &cookie,
            csrf.as_deref(),
            body,
        )
        .await
    };
    let (status, _) = put(admin.clone(), None, hook.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF header");
    let lead = by_role("lead");
    let lead_cookie = sign_in(base, lead).await;
    let lead_csrf = session_csrf(base, &lead_cookie).await;
    let (status, _) = put(lead_cookie.clone(), Some(lead_csrf.clone()), hook.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "leads do not manage webhooks"
    );
    let (status, answer) = put(
        admin.clone(),
        Some(csrf.clone()),
        serde_json::json!({"url": "ftp://x", "events": ["case.opened"], "secret": HOOK_SECRET}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = put(
        admin.clone(),
        Some(csrf.clone()),
        serde_json::json!({"url": url, "events": ["case.opened"]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a new webhook needs a secret: {answer}"
    );
    let (status, saved) = put(admin.clone(), Some(csrf.clone()), hook).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(saved.get("secret").is_none(), "{saved}");
    let (status, listed) = get(base, "/api/v1/webhooks", &As::Cookie(&admin)).await;
    assert_eq!(
        (status, listed[0]["webhook_id"].as_str()),
        (StatusCode::OK, Some("crm"))
    );
    let (status, _) = get(base, "/api/v1/webhooks", &As::Bearer(&w.read_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A detractor answer about a contact of the lead's team opens a case: the webhook
    // gets it (after one refused attempt) and the lead finds it in their inbox.
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let lead_person = lead.person.clone().unwrap();
    let team = org.current_unit_of(&lead_person).unwrap().to_owned();
    let agent = org
        .people()
        .filter(|(id, _, role)| *role == "agent" && org.current_unit_of(id) == Some(team.as_str()))
        .map(|(id, _, _)| id.to_owned())
        .min()
        .unwrap();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (kind, record) in [
        (
            "interactions",
            serde_json::json!({"interaction_id": "I-HOOK-1", "customer_id": "C-HOOK-1",
            "agent_id": agent, "channel": "phone", "started_at": now, "talk_seconds": 300}),
        ),
        (
            "surveys",
            serde_json::json!({"response_id": "R-HOOK-1", "survey": "nps", "answered_at": now,
            "customer_id": "C-HOOK-1", "interaction_id": "I-HOOK-1", "nps": 1}),
        ),
    ] {
        let (status, answer) = post_json(
            base,
            &format!("/api/v1/ingest/{kind}?wait=true"),
            &As::Bearer(&w.ingest_token),
            Value::Array(vec![record]).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (_, cases) = get(
        base,
        "/api/v1/cases?customer=C-HOOK-1&rule=detractor",
        &As::Cookie(&lead_cookie),
    )
    .await;
    let id = cases["cases"][0]["case_id"]
        .as_i64()
        .expect("a detractor case");
    let opened = acted_on(&received, &format!("case-{id}-opened")).await;
    assert_eq!(opened["event"], "case.opened");
    assert_eq!(opened["case"]["owner_id"], lead_person.as_str());
    assert_eq!(opened["case"]["customer_id"], "C-HOOK-1");

    let (status, inbox) = get(
        base,
        "/api/v1/notifications?unread=true",
        &As::Cookie(&lead_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    let entry = inbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["case_id"] == id)
        .unwrap_or_else(|| panic!("case {id} not in the lead's inbox: {inbox}"))
        .clone();
    assert!(
        entry["message"].as_str().unwrap().contains("NPS 1"),
        "{entry}"
    );
    let (_, html) = page(base, "/inbox", Some(&lead_cookie)).await;
    assert!(
        html.contains(&format!("href=\"/cases/{id}\"")),
        "the inbox page links the case"
    );
    let (status, _) = post_json(
        base,
        "/api/v1/notifications/read",
        &As::Cookie(&lead_cookie),
        "{}",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a session's change needs its CSRF token"
    );
    let (status, marked) = send_json(
        reqwest::Method::POST,
        base,
        "/api/v1/notifications/read",
        &lead_cookie,
        Some(&lead_csrf),
        serde_json::json!({"ids": [entry["notification_id"]]}),
    )
    .await;
    assert_eq!(
        (status, marked["marked"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{marked}"
    );
    let (_, inbox) = get(base, "/api/v1/notifications", &As::Cookie(&lead_cookie)).await;
    let entry = inbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["case_id"] == id)
        .unwrap();
    assert!(entry["read_at"].is_string(), "{entry}");
    let (status, _) = get(base, "/api/v1/notifications", &As::Bearer(&w.read_token)).await;
    assert!(
        matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
        "tokens have no inbox: {status}"
    );

    // The lead works the case: the webhook gets the update.
    let (status, worked) = patch_case(
        base,
        &lead_cookie,
        Some(&lead_csrf),
        id,
        serde_json::json!({"version": 1, "status": "in_progress", "note": "calling back"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{worked}");
    let updated = acted_on(&received, &format!("case-{id}-v2")).await;
    assert_eq!(
        (
            updated["event"].as_str(),
            updated["case"]["status"].as_str()
        ),
        (Some("case.updated"), Some("in_progress"))
    );
    assert_eq!(updated["actor"], lead.username.as_str());

    // Every event was tried twice under one key: refused, then taken; no signature failed.
    // (The sender records a batch's attempts once the batch is done: wait for it.)
    let started = std::time::Instant::now();
    let deliveries = loop {
        let (_, deliveries) =
            get(base, "/api/v1/webhooks/crm/deliveries", &As::Cookie(&admin)).await;
        let settled = deliveries
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["case_id"] == id && d["status"] == "delivered")
            .count();
        if settled == 2 || started.elapsed() > std::time::Duration::from_secs(30) {
            break deliveries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let ours: Vec<&Value> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["case_id"] == id)
        .collect();
    assert_eq!(ours.len(), 2, "{deliveries}");
    for delivery in ours {
        assert_eq!(
            (delivery["status"].as_str(), delivery["attempts"].as_i64()),
            (Some("delivered"), Some(2)),
            "{delivery}"
        );
    }
    let refused = received
        .lock()
        .unwrap()
        .requests
        .iter()
        .any(|(_, s)| *s == StatusCode::UNAUTHORIZED);
    assert!(!refused, "every signature checks out");

    let (status, _) = send_json(
        reqwest::Method::DELETE,
        base,
        "/api/v1/webhooks/crm",
        &admin,
        Some(&csrf),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = get(base, "/api/v1/webhooks/crm/deliveries", &As::Cookie(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ideas_are_scoped_and_move_from_submission_to_measured_initiative() {
    let server = server().await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let (agent, lead, manager) = (user("agent"), user("lead"), user("manager"));
    let agent_team = org
        .current_unit_of(agent.person.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let site = org.unit(&agent_team).unwrap().parent.clone().unwrap();
    assert_eq!(
        org.current_unit_of(lead.person.as_deref().unwrap()),
        Some(agent_team.as_str()),
        "the demo agent works in the demo lead's team"
    );
    let session = |who: &'static DemoSignIn| async move {
        let cookie = sign_in(base, who).await;
        let csrf = session_csrf(base, &cookie).await;
        (cookie, csrf)
    };
    let (agent_cookie, agent_csrf) = session(agent).await;
    let (lead_cookie, lead_csrf) = session(lead).await;
    let (manager_cookie, manager_csrf) = session(manager).await;
    let (exec_cookie, _) = session(user("executive")).await;
    let send = |method: reqwest::Method, path: String, cookie: &str, csrf: &str, body: Value| {
        let (cookie, csrf) = (cookie.to_owned(), csrf.to_owned());
        async move { send_json(method, base, &path, &cookie, Some(&csrf), body).await }
    };

    // An agent submits an idea: it belongs to their team.
    let idea = serde_json::json!({"title": "Call back instead of holding", "problem": "Customers hold for minutes at peak",
        "proposal": "Offer a callback after a minute on hold", "topics": [], "metrics": ["handle_seconds"]});
    let (status, _) = send_json(
        reqwest::Method::POST,
        base,
        "/api/v1/ideas",
        &agent_cookie,
        None,
        idea.clone(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a session needs its CSRF header"
    );
    let mut unknown = idea.clone();
    unknown["metrics"] = serde_json::json!(["happiness"]);
    let (status, _) = send(
        reqwest::Method::POST,
        "/api/v1/ideas".into(),
        &agent_cookie,
        &agent_csrf,
        unknown,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "metrics come from the catalogue"
    );
    let (status, created) = send(
        reqwest::Method::POST,
        "/api/v1/ideas".into(),
        &agent_cookie,
        &agent_csrf,
        idea,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["idea_id"].as_i64().unwrap();
    assert_eq!(created["unit_id"], agent_team.as_str());
    assert_eq!(
        (created["status"].as_str(), created["version"].as_i64()),
        (Some("new"), Some(1))
    );

    // An idea from another site: outside the agent's, lead's and manager's scope.
    let other_site = org
        .units()
        .iter()
        .find(|u| u.level == "team" && !org.within(&u.id, &site))
        .unwrap()
        .id
        .clone();
    let store = DataDir::open(&world().path)
        .unwrap()
        .reference()
        .await
        .unwrap();
    let elsewhere = cxm_sql::IdeaStore::submit_idea(
        &store,
        &cxm_domain::ideas::NewIdea {
            title: "Elsewhere".into(),
            problem: "p".into(),
            proposal: "q".into(),
            topics: vec![],
            metrics: vec![],
        },
        "P-ELSEWHERE",
        Some(&other_site),
        "2025-01-01T00:00:00Z",
    )
    .await
    .unwrap()
    .idea_id;
    for (cookie, sees_elsewhere) in [
        (&agent_cookie, false),
        (&lead_cookie, false),
        (&manager_cookie, false),
        (&exec_cookie, true),
    ] {
        let (status, listed) = get(base, "/api/v1/ideas?limit=1000", &As::Cookie(cookie)).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<i64> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["idea_id"].as_i64().unwrap())
            .collect();
        assert!(ids.contains(&id));
        assert_eq!(ids.contains(&elsewhere), sees_elsewhere, "{ids:?}");
        let (status, _) = get(
            base,
            &format!("/api/v1/ideas/{elsewhere}"),
            &As::Cookie(cookie),
        )
        .await;
        assert_eq!(status == StatusCode::OK, sees_elsewhere);
    }
    let (status, _) = send(
        reqwest::Method::PATCH,
        format!("/api/v1/ideas/{elsewhere}"),
        &manager_cookie,
        &manager_csrf,
        serde_json::json!({"version": 1, "status": "under_review"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nobody edits an idea outside their scope"
    );

    // Votes: once per person, visible who voted; comments.
    let vote = |cookie: String, csrf: String, method: reqwest::Method| {
        send(
            method,
            format!("/api/v1/ideas/{id}/vote"),
            &cookie,
            &csrf,
            Value::Null,
        )
    };
    let (_, first) = vote(
        agent_cookie.clone(),
        agent_csrf.clone(),
        reqwest::Method::POST,
    )
    .await;
    let (_, again) = vote(
        agent_cookie.clone(),
        agent_csrf.clone(),
        reqwest::Method::POST,
    )
    .await;
    assert_eq!(
        (
            first["changed"].as_bool(),
            again["changed"].as_bool(),
            again["votes"].as_u64()
        ),
        (Some(true), Some(false), Some(1))
    );
    vote(
        lead_cookie.clone(),
        lead_csrf.clone(),
        reqwest::Method::POST,
    )
    .await;
    let (status, comment) = send(
        reqwest::Method::POST,
        format!("/api/v1/ideas/{id}/comments"),
        &lead_cookie,
        &lead_csrf,
        serde_json::json!({"text": "We tried a pilot in 2023: worth a proper go"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{comment}");

    // Triage: not the agent's to do; the lead reviews, estimates and proposes it.
    let patch = |cookie: &str, csrf: &str, body: Value| {
        send(
            reqwest::Method::PATCH,
            format!("/api/v1/ideas/{id}"),
            cookie,
            csrf,
            body,
        )
    };
    let (status, _) = patch(
        &agent_cookie,
        &agent_csrf,
        serde_json::json!({"version": 1, "status": "under_review"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, skipped) = patch(
        &lead_cookie,
        &lead_csrf,
        serde_json::json!({"version": 1, "status": "approved", "reason": "x"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no skipping triage: {skipped}"
    );
    // two triagers on one version: one wins, the other is told to reload
    let (a, b) = tokio::join!(
        patch(
            &lead_cookie,
            &lead_csrf,
            serde_json::json!({"version": 1, "status": "under_review"})
        ),
        patch(
            &manager_cookie,
            &manager_csrf,
            serde_json::json!({"version": 1, "status": "declined", "reason": "not now"})
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let (_, detail) = get(
        base,
        &format!("/api/v1/ideas/{id}"),
        &As::Cookie(&lead_cookie),
    )
    .await;
    let version = detail["idea"]["version"].as_i64().unwrap();
    if detail["idea"]["status"] == "declined" {
        // the manager won: the lead takes it up again
        let (status, _) = patch(
            &lead_cookie,
            &lead_csrf,
            serde_json::json!({"version": version, "status": "under_review"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, detail) = get(
        base,
        &format!("/api/v1/ideas/{id}"),
        &As::Cookie(&lead_cookie),
    )
    .await;
    assert_eq!(detail["idea"]["status"], "under_review");
    let version = detail["idea"]["version"].as_i64().unwrap();
    let (status, scored) = patch(
        &lead_cookie,
        &lead_csrf,
        serde_json::json!({"version": version,
        "priority": {"impact": 4, "reach": 5, "effort": 2}, "status": "proposed"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{scored}");
    assert_eq!(
        (scored["score"].as_f64(), scored["status"].as_str()),
        (Some(10.0), Some("proposed"))
    );
    let version = scored["version"].as_i64().unwrap();

    // Management decides: not the lead; a reason and the initiative are required.
    let plan = serde_json::json!({"name": "Callbacks at peak", "owner_id": lead.person.as_deref().unwrap(),
        "scope": [site], "target_metric": "handle_seconds", "start": "2025-07-07"});
    let (status, _) = patch(
        &lead_cookie,
        &lead_csrf,
        serde_json::json!({"version": version, "status": "approved",
        "reason": "yes", "initiative": plan}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "leads do not decide");
    let (status, _) = patch(
        &manager_cookie,
        &manager_csrf,
        serde_json::json!({"version": version, "status": "approved", "initiative": plan}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a decision needs its reason");
    let mut nowhere = plan.clone();
    nowhere["scope"] = serde_json::json!(["NO-SUCH-UNIT"]);
    let (status, _) = patch(
        &manager_cookie,
        &manager_csrf,
        serde_json::json!({"version": version, "status": "approved",
        "reason": "yes", "initiative": nowhere}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, approved) = patch(
        &manager_cookie,
        &manager_csrf,
        serde_json::json!({"version": version, "status": "approved",
        "reason": "Hold time is our customers' top complaint", "initiative": plan}),
    )
    .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{approved}"
    );

    let (_, detail) = get(
        base,
        &format!("/api/v1/ideas/{id}"),
        &As::Cookie(&agent_cookie),
    )
    .await;
    let voters: Vec<&str> = detail["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["person_id"].as_str().unwrap())
        .collect();
    assert_eq!(voters.len(), 2);
    assert!(voters.contains(&agent.person.as_deref().unwrap()));
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"comment") && kinds.contains(&"priority"),
        "{kinds:?}"
    );
    let decision = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_status"] == "approved")
        .unwrap();
    assert_eq!(
        decision["note"],
        "Hold time is our customers' top complaint"
    );
    let initiative = detail["initiative"]["initiative_id"].as_i64().unwrap();
    assert!(
        detail["may_move_to"].as_array().unwrap().is_empty(),
        "the agent moves nothing"
    );

    // The initiative's impact: the site's teams against the others.
    let (status, impact) = get(
        base,
        &format!("/api/v1/initiatives/{initiative}/impact"),
        &As::Cookie(&manager_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{impact}");
    let effect = &impact["impact"];
    assert!(effect["low"].as_f64().unwrap() <= effect["effect"].as_f64().unwrap());
    assert!(effect["effect"].as_f64().unwrap() <= effect["high"].as_f64().unwrap());
    let treated = effect["treated"]["units"].as_u64().unwrap();
    let in_site = org.subtree(&site).filter(|u| u.level == "team").count() as u64;
    assert!(treated >= 2 && treated <= in_site, "{treated} of {in_site}");
    let (_, listed) = get(base, "/api/v1/initiatives", &As::Cookie(&agent_cookie)).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["initiative_id"] == initiative)
    );

    // The owner carries it out.
    let version = approved["version"].as_i64().unwrap();
    let (status, _) = patch(
        &agent_cookie,
        &agent_csrf,
        serde_json::json!({"version": version, "status": "in_progress"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only its owner or management"
    );
    let (status, going) = patch(
        &lead_cookie,
        &lead_csrf,
        serde_json::json!({"version": version, "status": "in_progress"}),
    )
    .await;
    assert_eq!(
        (status, going["status"].as_str()),
        (StatusCode::OK, Some("in_progress")),
        "{going}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kudos_praise_and_stories_stay_in_scope() {
    let w = common::build_world(8_000).await;
    let server = server_on(&w, ServerConfig::default()).await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let by_role = |role: &str| w.users.iter().find(|u| u.role.as_str() == role).unwrap();
    let (agent, lead, manager) = (by_role("agent"), by_role("lead"), by_role("manager"));
    let team = org
        .current_unit_of(agent.person.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let session = |who: &DemoSignIn| {
        let who = who.clone();
        async move {
            let cookie = sign_in(base, &who).await;
            let csrf = session_csrf(base, &cookie).await;
            (cookie, csrf)
        }
    };
    let (agent_cookie, agent_csrf) = session(agent).await;
    let (lead_cookie, lead_csrf) = session(lead).await;
    let (manager_cookie, manager_csrf) = session(manager).await;
    let post = |path: &str, cookie: &str, csrf: &str, body: Value| {
        let (path, cookie, csrf) = (path.to_owned(), cookie.to_owned(), csrf.to_owned());
        async move {
            send_json(
                reqwest::Method::POST,
                base,
                &path,
                &cookie,
                Some(&csrf),
                body,
            )
            .await
        }
    };

    // An agent thanks their lead; self-kudos and unknown people are refused.
    let lead_person = lead.person.clone().unwrap();
    let (status, given) = post(
        "/api/v1/kudos",
        &agent_cookie,
        &agent_csrf,
        serde_json::json!({"to_person": lead_person, "message": "Thanks for the coaching"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    assert_eq!(
        (given["source"].as_str(), given["unit_id"].as_str()),
        (Some("colleague"), Some(team.as_str()))
    );
    let (status, _) = post(
        "/api/v1/kudos",
        &agent_cookie,
        &agent_csrf,
        serde_json::json!({"to_person": agent.person.as_deref().unwrap(), "message": "me"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(
        "/api/v1/kudos",
        &agent_cookie,
        &agent_csrf,
        serde_json::json!({"to_person": "NOBODY", "message": "hi"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Kudos to someone in another site: the lead and manager do not see it; executives do.
    let elsewhere = org
        .people()
        .find(|(id, _, role)| {
            *role == "agent"
                && org.current_unit_of(id).is_some_and(|u| {
                    !org.within(u, org.unit(&team).unwrap().parent.as_deref().unwrap())
                })
        })
        .map(|(id, _, _)| id.to_owned())
        .unwrap();
    let (status, far) = post(
        "/api/v1/kudos",
        &manager_cookie,
        &manager_csrf,
        serde_json::json!({"to_person": elsewhere, "message": "Great handover"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{far}");
    let ids = |answer: &Value| -> Vec<i64> {
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kudos_id"].as_i64().unwrap())
            .collect()
    };
    let (_, seen) = get(base, "/api/v1/kudos", &As::Cookie(&lead_cookie)).await;
    assert!(ids(&seen).contains(&given["kudos_id"].as_i64().unwrap()));
    assert!(
        !ids(&seen).contains(&far["kudos_id"].as_i64().unwrap()),
        "outside the lead's team"
    );
    let (exec_cookie, _) = session(by_role("executive")).await;
    let (_, all) = get(base, "/api/v1/kudos", &As::Cookie(&exec_cookie)).await;
    assert!(ids(&all).contains(&far["kudos_id"].as_i64().unwrap()));

    // Customers' praise: leads see their team's candidates and recognise one, once.
    let (status, _) = get(base, "/api/v1/kudos/candidates", &As::Cookie(&agent_cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, candidates) = get(
        base,
        "/api/v1/kudos/candidates?limit=500",
        &As::Cookie(&lead_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{candidates}");
    let candidates = candidates.as_array().unwrap().clone();
    assert!(!candidates.is_empty(), "the generated comments hold praise");
    for candidate in &candidates {
        let unit = candidate["unit_id"].as_str().unwrap_or_default();
        let agent_now = org.current_unit_of(candidate["agent_id"].as_str().unwrap());
        assert!(
            org.within(unit, &team) || agent_now.is_some_and(|u| org.within(u, &team)),
            "{candidate}"
        );
        assert!(cxm_domain::recognition::praise(candidate["comment"].as_str().unwrap()).is_some());
    }
    let response = candidates[0]["response_id"].as_str().unwrap();
    let path = format!("/api/v1/kudos/candidates/{response}");
    let (status, accepted) = post(&path, &lead_cookie, &lead_csrf, Value::Null).await;
    assert_eq!(
        (status, accepted["source"].as_str()),
        (StatusCode::CREATED, Some("customer")),
        "{accepted}"
    );
    assert_eq!(accepted["to_person"], candidates[0]["agent_id"]);
    let (status, _) = post(&path, &lead_cookie, &lead_csrf, Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer a candidate");

    // Stories: an agent's draft is theirs until a leader publishes it; other sites never
    // see it.
    let story = serde_json::json!({"title": "Billing queue turned around", "narrative": "We split the queue by bill type.",
        "evidence": [{"kind": "metric", "reference": "repeat_contact_rate", "note": "down a third"}]});
    let (status, draft) = post("/api/v1/stories", &agent_cookie, &agent_csrf, story).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let id = draft["story_id"].as_i64().unwrap();
    assert_eq!(draft["unit_id"], team.as_str());
    let story_path = format!("/api/v1/stories/{id}");
    let patch = |cookie: &str, csrf: &str, body: Value| {
        let (path, cookie, csrf) = (story_path.clone(), cookie.to_owned(), csrf.to_owned());
        async move {
            send_json(
                reqwest::Method::PATCH,
                base,
                &path,
                &cookie,
                Some(&csrf),
                body,
            )
            .await
        }
    };
    let (status, _) = patch(
        &agent_cookie,
        &agent_csrf,
        serde_json::json!({"version": 1, "published": true}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "leaders publish");
    let (status, published) = patch(
        &lead_cookie,
        &lead_csrf,
        serde_json::json!({"version": 1, "published": true}),
    )
    .await;
    assert_eq!(
        (status, published["published"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{published}"
    );
    let (status, _) = patch(
        &manager_cookie,
        &manager_csrf,
        serde_json::json!({"version": 1, "published": false}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale copy");
    let (_, found) = get(
        base,
        "/api/v1/stories?q=billing%20QUEUE",
        &As::Cookie(&manager_cookie),
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    // a story in another site is invisible to the agent, even by id
    let other_team = org
        .units()
        .iter()
        .find(|u| {
            u.level == "team"
                && u.id != team
                && !org.within(&u.id, org.unit(&team).unwrap().parent.as_deref().unwrap())
        })
        .unwrap()
        .id
        .clone();
    let (status, remote) = send_json(
        reqwest::Method::POST,
        base,
        "/api/v1/stories",
        &exec_cookie,
        Some(&session_csrf(base, &exec_cookie).await),
        serde_json::json!({"title": "Elsewhere", "narrative": "n", "unit_id": other_team}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{remote}");
    let remote_path = format!("/api/v1/stories/{}", remote["story_id"]);
    let (status, _) = get(base, &remote_path, &As::Cookie(&agent_cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(base, &remote_path, &As::Cookie(&lead_cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        "/api/v1/stories",
        &lead_cookie,
        &lead_csrf,
        serde_json::json!({"title": "t", "narrative": "n", "unit_id": other_team}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a story belongs to a unit in scope"
    );

    // Most improved: teams for everyone in scope, agents not for agents.
    let (status, improved) = get(
        base,
        "/api/v1/most-improved?metric=csat",
        &As::Cookie(&agent_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{improved}");
    assert!(improved["agents"].as_array().unwrap().is_empty());
    let (status, _) = get(
        base,
        "/api/v1/most-improved?metric=handle_seconds_p90x",
        &As::Cookie(&lead_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such metric");
    for page_path in ["/recognition", "/stories", &format!("/stories/{id}")] {
        let (status, html) = page(base, page_path, Some(&lead_cookie)).await;
        assert_eq!(status, StatusCode::OK, "{page_path}: {html}");
    }
}
