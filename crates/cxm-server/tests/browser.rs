//! The web UI in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver): every demo role signs in through the form, sees the scorecard of
//! their own scope, follows a number to the records behind it, and exports them as CSV;
//! nothing outside the scope shows. Screenshots of the main pages are saved as artifacts
//! under `$CXM_BROWSER_ARTIFACTS` (default: `<target>/tmp/browser`).
//!
//! Without a chromedriver the test is skipped with a note, except under CI (`CI` set),
//! where `.ci/run` installs one and its absence is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ingest_world, server, server_on, user, world};
use cxm_metrics::Organisation;
use cxm_server::accounts::DemoSignIn;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver child process, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts chromedriver on a free loopback port, or says why not.
async fn start_driver() -> Result<Driver, String> {
    let binary = std::env::var_os("CXM_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_on_path("chromedriver"))
        .ok_or("no chromedriver (Debian: apt-get install chromium chromium-driver)")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(response) = reqwest::get(format!("{}/status", driver.url)).await
            && response.status().is_success()
        {
            return Ok(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("chromedriver did not answer within 20 s".into())
}

/// chromedriver, or `None` (the test is skipped) where Chromium is missing outside CI.
async fn driver_or_skip() -> Option<Driver> {
    match start_driver().await {
        Ok(driver) => Some(driver),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("browser tests need Chromium under CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// A fresh headless Chromium session that downloads into `downloads`.
async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let mut options = json!({
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1280,1800",
        ],
        "prefs": {
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
        },
    });
    let chromium = std::env::var_os("CXM_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| find_on_path("chromium"));
    if let Some(chromium) = chromium {
        options["binary"] = json!(chromium.display().to_string());
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn artifacts() -> PathBuf {
    let dir = std::env::var_os("CXM_BROWSER_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits until the element `css` shows `needle`, across page loads: while the page is being
/// replaced the element may be missing or stale, which counts as "not yet".
async fn wait_for_text(browser: &Client, css: &str, needle: &str) {
    let started = Instant::now();
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
            && text.contains(needle)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{css} never showed {needle:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for a CSV file to be complete in `dir`.
async fn downloaded_csv(dir: &Path) -> PathBuf {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let done: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        if let Some(path) = done.into_iter().next() {
            return path;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no CSV downloaded into {}", dir.display());
}

/// Whether a record's team (and agent) lies in `role`'s scope.
fn in_scope(
    org: &Organisation,
    role: &str,
    own_unit: &str,
    own_person: &str,
    team: &str,
    agent: &str,
) -> bool {
    match role {
        "agent" => agent == own_person,
        "lead" | "manager" => org.within(team, own_unit),
        _ => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_signs_in_sees_its_scope_follows_a_number_and_exports_csv() {
    let Some(driver) = driver_or_skip().await else {
        return;
    };
    let server = server().await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let downloads_root = tempfile::tempdir().unwrap();
    for who in &world().users {
        let role = who.role.as_str();
        let own_person = who.person.clone().unwrap_or_default();
        let own_unit = match role {
            "lead" | "manager" => org.current_unit_of(&own_person).unwrap().to_owned(),
            "agent" => org.current_unit_of(&own_person).unwrap().to_owned(),
            _ => org.root().unwrap().id.clone(),
        };
        let downloads = downloads_root.path().join(role);
        std::fs::create_dir_all(&downloads).unwrap();
        let browser = browser(&driver, &downloads).await;

        // Signed out, a page leads to the sign-in form; signing in comes back to it.
        browser.goto(&format!("{base}/overview")).await.unwrap();
        let form = browser.form(Locator::Css("form.login")).await.unwrap();
        form.set_by_name("username", &who.username).await.unwrap();
        form.set_by_name("password", &who.password).await.unwrap();
        form.submit().await.unwrap();
        browser
            .wait()
            .for_element(Locator::Css("section.cards"))
            .await
            .unwrap_or_else(|e| panic!("{role}: no overview after signing in: {e}"));
        assert_eq!(browser.current_url().await.unwrap().path(), "/overview");
        let heading = text_of(&browser, "h1").await;
        let overview_unit = match role {
            "agent" => org.current_unit_of(&own_person).unwrap(),
            _ => own_unit.as_str(),
        };
        assert!(
            heading.contains(&org.unit(overview_unit).unwrap().name),
            "{role}: overview of {heading:?}, expected {overview_unit}"
        );
        screenshot(&browser, &format!("{role}-overview")).await;

        // Home: the caller's own scorecard.
        browser.goto(&format!("{base}/")).await.unwrap();
        let subject = text_of(&browser, "main h2").await;
        let expected = match role {
            "agent" => org.person(&own_person).unwrap().0.to_owned(),
            _ => org.unit(&own_unit).unwrap().name.clone(),
        };
        assert!(
            subject.starts_with(&expected),
            "{role}: home shows {subject:?}, expected {expected:?}"
        );
        screenshot(&browser, &format!("{role}-home")).await;

        // Follow the contacts number to the records it counted.
        let number = browser
            .find(Locator::Css(
                "table.scorecard td[data-metric=\"contacts\"] a",
            ))
            .await
            .unwrap_or_else(|e| panic!("{role}: the contacts number is not a link: {e}"));
        let counted: u64 = number.text().await.unwrap().trim().parse().unwrap();
        assert!(counted > 0, "{role}");
        number.click().await.unwrap();
        browser
            .wait()
            .for_element(Locator::Css("table.records"))
            .await
            .unwrap();
        assert_eq!(
            browser.current_url().await.unwrap().path(),
            "/records/contacts"
        );
        let total: u64 = text_of(&browser, "strong.total").await.parse().unwrap();
        assert_eq!(total, counted, "{role}: the records behind the number");
        screenshot(&browser, &format!("{role}-records")).await;
        let headers: Vec<String> = {
            let mut names = Vec::new();
            for cell in browser
                .find_all(Locator::Css("table.records th"))
                .await
                .unwrap()
            {
                names.push(cell.text().await.unwrap());
            }
            names
        };
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        for row in browser
            .find_all(Locator::Css("table.records tbody tr"))
            .await
            .unwrap()
        {
            let cells = row.find_all(Locator::Css("td")).await.unwrap();
            let team = cells[column("team_id")].text().await.unwrap();
            let agent = cells[column("agent_id")].text().await.unwrap();
            assert!(
                in_scope(org, role, &own_unit, &own_person, &team, &agent),
                "{role} sees a contact of {agent} in {team}"
            );
        }

        // Export them: the browser downloads every one, and nothing else.
        browser
            .find(Locator::Css("a.export"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let csv_path = downloaded_csv(&downloads).await;
        let mut reader = csv::Reader::from_path(&csv_path).unwrap();
        let header = reader.headers().unwrap().clone();
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (team_at, agent_at) = (at("team_id"), at("agent_id"));
        let mut rows = 0u64;
        for record in reader.records() {
            let record = record.unwrap();
            assert!(
                in_scope(
                    org,
                    role,
                    &own_unit,
                    &own_person,
                    &record[team_at],
                    &record[agent_at]
                ),
                "{role} exported a contact of {} in {}",
                &record[agent_at],
                &record[team_at]
            );
            rows += 1;
        }
        assert_eq!(rows, total, "{role}: exported rows");

        // Outside the scope: refused.
        if matches!(role, "agent" | "lead" | "manager") {
            let elsewhere = org
                .units()
                .iter()
                .find(|u| u.level == "site" && !org.within(&own_unit, &u.id))
                .unwrap();
            browser
                .goto(&format!("{base}/units/{}", elsewhere.id))
                .await
                .unwrap();
            let body = browser.source().await.unwrap();
            assert!(body.contains("outside your scope"), "{role}: {body}");
        }
        if role == "executive" {
            for (path, name) in [
                (format!("/units/{own_unit}"), "unit"),
                ("/topics".to_owned(), "topics"),
                ("/records/answers?order=worst".to_owned(), "answers"),
            ] {
                browser.goto(&format!("{base}{path}")).await.unwrap();
                browser
                    .wait()
                    .for_element(Locator::Css("main h1"))
                    .await
                    .unwrap();
                screenshot(&browser, &format!("{role}-{name}")).await;
            }
            // The analyses: every page draws; the outcome links switch the driver
            // analysis; a root cause's contacts lead to exactly that many records.
            for (path, name) in [
                ("/value", "value"),
                ("/retention", "retention"),
                ("/root-causes", "root-causes"),
                ("/drivers", "drivers"),
            ] {
                browser.goto(&format!("{base}{path}")).await.unwrap();
                browser
                    .wait()
                    .for_element(Locator::Css("main h1"))
                    .await
                    .unwrap();
                let svg = browser.find_all(Locator::Css("svg.chart")).await.unwrap();
                assert!(
                    path == "/root-causes" || !svg.is_empty(),
                    "{path} draws charts"
                );
                screenshot(&browser, &format!("{role}-{name}")).await;
                if path == "/value" {
                    // what experience is worth: a table per grouping, moves between groups
                    let rows = browser
                        .find_all(Locator::Css("table.experience tbody tr"))
                        .await
                        .unwrap();
                    assert!(rows.len() >= 4, "experience groups: {}", rows.len());
                    let moves = browser.find_all(Locator::Css("ul.moves li")).await.unwrap();
                    assert!(!moves.is_empty(), "moves between experience groups");
                }
            }
            let heading = browser
                .find(Locator::Css("main h1"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(heading.starts_with("Drivers of csat"), "{heading}");
            browser
                .find(Locator::LinkText("NPS"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let heading = browser
                .wait()
                .for_element(Locator::Css("main h1"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(heading.starts_with("Drivers of nps"), "{heading}");
            assert!(
                !browser
                    .find_all(Locator::Css("table.drivers tbody tr"))
                    .await
                    .unwrap()
                    .is_empty()
            );
            browser.goto(&format!("{base}/root-causes")).await.unwrap();
            let link = browser
                .wait()
                .for_element(Locator::Css("table.root-causes tbody tr td.num a"))
                .await
                .unwrap();
            let shown: f64 = link.text().await.unwrap().parse().unwrap();
            link.click().await.unwrap();
            browser
                .wait()
                .for_element(Locator::Css("strong.total"))
                .await
                .unwrap();
            let total: f64 = text_of(&browser, "strong.total").await.parse().unwrap();
            assert_eq!(total, shown, "a root cause's contacts are its records");
            let agent = user("agent").person.clone().unwrap();
            browser
                .goto(&format!("{base}/people/{agent}"))
                .await
                .unwrap();
            browser
                .wait()
                .for_element(Locator::Css("table.scorecard"))
                .await
                .unwrap();
            screenshot(&browser, "executive-agent-scorecard").await;
        }
        browser.close().await.unwrap();
    }
}

/// Picks `value` in the select named `name`.
async fn choose(browser: &Client, name: &str, value: &str) {
    browser
        .find(Locator::Css(&format!("select[name={name}]")))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn save(browser: &Client) {
    browser
        .find(Locator::Css("form.case button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn post_batch(base: &str, token: &str, kind: &str, records: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/ingest/{kind}?wait=true"))
        .bearer_auth(token)
        .json(&records)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        status.is_success() && answer["rejected"] == 0,
        "{status}: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detractor_answer_opens_a_case_that_its_owner_closes() {
    let Some(driver) = driver_or_skip().await else {
        return;
    };
    let w = ingest_world();
    let server = server_on(w, cxm_server::ServerConfig::default()).await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let lead = w.users.iter().find(|u| u.role.as_str() == "lead").unwrap();
    let lead_person = lead.person.clone().unwrap();
    let team = org.current_unit_of(&lead_person).unwrap().to_owned();
    let agent = org
        .people()
        .filter(|(id, _, role)| *role == "agent" && org.current_unit_of(id) == Some(team.as_str()))
        .map(|(id, _, _)| id.to_owned())
        .min()
        .unwrap();

    // A contact of an agent of the lead's team, then a detractor answer about it, sent
    // through the ingest API as a survey tool would.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    post_batch(
        base,
        &w.ingest_token,
        "interactions",
        json!([{
            "interaction_id": "I-BROWSER-1", "customer_id": "C-BROWSER-1", "agent_id": agent,
            "channel": "phone", "started_at": now, "talk_seconds": 300
        }]),
    )
    .await;
    post_batch(
        base,
        &w.ingest_token,
        "surveys",
        json!([{
            "response_id": "R-BROWSER-1", "survey": "nps", "answered_at": now,
            "customer_id": "C-BROWSER-1", "interaction_id": "I-BROWSER-1", "nps": 2
        }]),
    )
    .await;
    let dir = cxm_catalog::DataDir::open(&w.path).unwrap();
    let store = dir.reference().await.unwrap();
    let filter = cxm_sql::CaseFilter {
        customer_id: Some("C-BROWSER-1".into()),
        rule_id: Some("detractor".into()),
        limit: 10,
        ..Default::default()
    };
    let opened = cxm_sql::CaseStore::cases(&store, &filter).await.unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let case = &opened[0];
    assert_eq!(
        (
            case.trigger_id.as_str(),
            case.agent_id.as_deref(),
            case.unit_id.as_deref()
        ),
        ("R-BROWSER-1", Some(agent.as_str()), Some(team.as_str()))
    );
    assert_eq!(
        case.owner_id.as_deref(),
        Some(lead_person.as_str()),
        "the team's lead owns it"
    );

    // The owner signs in, finds it in the inbox, resolves it with a note, then closes it.
    let downloads = tempfile::tempdir().unwrap();
    let browser = browser(&driver, downloads.path()).await;
    browser.goto(&format!("{base}/cases?mine=1")).await.unwrap();
    let form = browser.form(Locator::Css("form.login")).await.unwrap();
    form.set_by_name("username", &lead.username).await.unwrap();
    form.set_by_name("password", &lead.password).await.unwrap();
    form.submit().await.unwrap();
    let link = format!("a[href=\"/cases/{}\"]", case.case_id);
    browser
        .wait()
        .for_element(Locator::Css(&link))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("form.case"))
        .await
        .unwrap();
    assert!(text_of(&browser, "p.summary").await.contains("NPS 2"));
    screenshot(&browser, "case-open").await;
    choose(&browser, "status", "resolved").await;
    choose(&browser, "customer_reached", "true").await;
    browser
        .find(Locator::Css("textarea[name=note]"))
        .await
        .unwrap()
        .send_keys("Called back, apologised, credit issued")
        .await
        .unwrap();
    save(&browser).await;
    wait_for_text(&browser, "h1", "resolved").await;
    choose(&browser, "status", "closed").await;
    save(&browser).await;
    wait_for_text(&browser, "h1", "closed").await;
    assert!(
        text_of(&browser, "ol.timeline")
            .await
            .contains("Called back, apologised")
    );
    screenshot(&browser, "case-closed").await;
    let (closed, events) = cxm_sql::CaseStore::case(&store, case.case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.status.as_str(), "closed");
    assert_eq!(closed.customer_reached, Some(true));
    assert!(closed.resolved_at.is_some() && closed.closed_at.is_some());
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors[0], "rule:detractor");
    assert!(actors[1..].iter().all(|a| *a == lead.username));
    browser.close().await.unwrap();
    store.close().await;
}

/// Signs `who` in on a fresh session and lands on `path`.
async fn sign_in_at(browser: &Client, base: &str, who: &DemoSignIn, path: &str) {
    browser.delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}{path}")).await.unwrap();
    let form = browser.form(Locator::Css("form.login")).await.unwrap();
    form.set_by_name("username", &who.username).await.unwrap();
    form.set_by_name("password", &who.password).await.unwrap();
    form.submit().await.unwrap();
    // signed in once the sign-in form is gone and the page asked for has its heading
    let started = Instant::now();
    while browser.find(Locator::Css("form.login")).await.is_ok()
        || browser.find(Locator::Css("main h1")).await.is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} never got past signing in",
            who.username
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn move_idea(browser: &Client) {
    browser
        .find(Locator::Css("form.move button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_idea_is_triaged_approved_and_measured() {
    let Some(driver) = driver_or_skip().await else {
        return;
    };
    let server = server().await;
    let base = &server.base;
    let engine = server.state.engine().await;
    let org = engine.organisation();
    let (agent, lead, manager) = (user("agent"), user("lead"), user("manager"));
    let team = org
        .current_unit_of(agent.person.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let site = org.unit(&team).unwrap().parent.clone().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let browser = browser(&driver, downloads.path()).await;

    // The agent submits an idea and votes for it.
    sign_in_at(&browser, base, agent, "/ideas").await;
    let form = browser.form(Locator::Css("form.idea")).await.unwrap();
    form.set_by_name("title", "Offer a callback at peak")
        .await
        .unwrap();
    form.set_by_name("problem", "Customers hold for minutes when queues peak")
        .await
        .unwrap();
    form.set_by_name("proposal", "Offer a callback after a minute on hold")
        .await
        .unwrap();
    choose(&browser, "metric", "handle_seconds").await;
    form.submit().await.unwrap();
    wait_for_text(&browser, "h1", "Offer a callback at peak · new").await;
    let url = browser.current_url().await.unwrap();
    let id: i64 = url.path().rsplit('/').next().unwrap().parse().unwrap();
    browser
        .find(Locator::Css("form.vote button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "h2", "Votes (1)").await;
    screenshot(&browser, "idea-submitted").await;

    // The lead reviews it, estimates it and proposes it to management.
    sign_in_at(&browser, base, lead, &format!("/ideas/{id}")).await;
    choose(&browser, "status", "under_review").await;
    move_idea(&browser).await;
    wait_for_text(&browser, "h1", "under_review").await;
    choose(&browser, "status", "proposed").await;
    choose(&browser, "impact", "4").await;
    choose(&browser, "reach", "5").await;
    choose(&browser, "effort", "2").await;
    move_idea(&browser).await;
    wait_for_text(&browser, "h1", "proposed").await;
    wait_for_text(&browser, "dd.score", "= 10.0").await;

    // The manager approves it as an initiative in their site, with the reason.
    sign_in_at(&browser, base, manager, &format!("/ideas/{id}")).await;
    choose(&browser, "status", "approved").await;
    let form = browser.form(Locator::Css("form.move")).await.unwrap();
    form.set_by_name("reason", "Hold time drives our complaints")
        .await
        .unwrap();
    form.set_by_name("initiative_name", "Callbacks at peak")
        .await
        .unwrap();
    form.set_by_name("owner_id", lead.person.as_deref().unwrap())
        .await
        .unwrap();
    form.set_by_name("scope", &site).await.unwrap();
    form.set_by_name("start", "2025-07-07").await.unwrap();
    move_idea(&browser).await;
    wait_for_text(&browser, "h1", "approved").await;
    assert!(
        text_of(&browser, "ol.timeline")
            .await
            .contains("Hold time drives our complaints")
    );

    // The initiative page shows its measured impact and the weekly trend.
    browser
        .find(Locator::Css("p.initiative a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "h1", "Callbacks at peak").await;
    let effect = text_of(&browser, "strong.effect").await;
    assert!(effect.parse::<f64>().is_ok(), "{effect:?}");
    assert!(text_of(&browser, "p.impact").await.contains("95% interval"));
    browser
        .find(Locator::Css("figure svg.chart"))
        .await
        .unwrap();
    screenshot(&browser, "initiative-impact").await;
    browser.close().await.unwrap();
}
