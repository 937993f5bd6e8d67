//! Ideas, initiatives and webhooks through the real binary: an idea goes from submission
//! to an approved initiative whose impact is computed on a hand-built organisation with a
//! hand-computed difference in differences; a webhook queues case events and records a
//! failed delivery; customers' praise becomes kudos and stories are published.

mod common;

use common::{Workspace, stderr};

fn ok(workspace: &Workspace, args: &[&str]) -> String {
    let output = workspace.cxm(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap()
}

fn json(workspace: &Workspace, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(workspace, args)).unwrap()
}

/// Four teams in two sites, one agent each; one contact per team before and after Monday
/// 3 March 2025, with handle times whose difference in differences is known.
fn organisation(workspace: &Workspace) {
    let units = workspace.file(
        "units.csv",
        "unit_id,name,parent_id,level\nCO,Acme,,company\nS1,North,CO,site\nS2,South,CO,site\n\
         T1,Team 1,S1,team\nT2,Team 2,S1,team\nT3,Team 3,S2,team\nT4,Team 4,S2,team\n",
    );
    let people = workspace.file(
        "people.csv",
        "person_id,name,email,role\nA1,Ann,,agent\nA2,Ben,,agent\nA3,Cat,,agent\nA4,Dan,,agent\nL1,Lee,,lead\n",
    );
    let memberships = workspace.file(
        "memberships.csv",
        "person_id,unit_id,valid_from,valid_to\nA1,T1,2025-01-01T00:00:00Z,\nA2,T2,2025-01-01T00:00:00Z,\n\
         A3,T3,2025-01-01T00:00:00Z,\nA4,T4,2025-01-01T00:00:00Z,\nL1,T1,2025-01-01T00:00:00Z,\n",
    );
    // before → after: T1 300 → 260 (−40), T2 400 → 370 (−30); T3 300 → 310 (+10), T4 500 → 500
    let contacts = workspace.file(
        "contacts.csv",
        "interaction_id,customer_id,agent_id,channel,started_at,handle_seconds\n\
         B1,C1,A1,phone,2025-02-10T10:00:00Z,300\nB2,C2,A2,phone,2025-02-10T10:00:00Z,400\n\
         B3,C3,A3,phone,2025-02-10T10:00:00Z,300\nB4,C4,A4,phone,2025-02-10T10:00:00Z,500\n\
         F1,C1,A1,phone,2025-03-10T10:00:00Z,260\nF2,C2,A2,phone,2025-03-10T10:00:00Z,370\n\
         F3,C3,A3,phone,2025-03-10T10:00:00Z,310\nF4,C4,A4,phone,2025-03-10T10:00:00Z,500\n",
    );
    for (kind, file) in [
        ("org-units", &units),
        ("people", &people),
        ("memberships", &memberships),
        ("interactions", &contacts),
    ] {
        assert_eq!(workspace.ingest(kind, &[file], &[]).0, 0, "{kind}");
    }
}

#[test]
fn an_idea_becomes_an_initiative_whose_impact_is_measured() {
    let workspace = Workspace::new();
    organisation(&workspace);
    let out = ok(
        &workspace,
        &[
            "ideas",
            "submit",
            "--author",
            "A1",
            "--title",
            "Callbacks",
            "--problem",
            "Long holds",
            "--proposal",
            "Call back",
            "--metrics",
            "handle_seconds",
        ],
    );
    assert!(out.contains("idea 1 submitted"), "{out}");
    let unknown = workspace.cxm(&[
        "ideas",
        "submit",
        "--author",
        "NOBODY",
        "--title",
        "t",
        "--problem",
        "p",
        "--proposal",
        "q",
    ]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("NOBODY"));
    ok(&workspace, &["ideas", "vote", "1", "--person", "A1"]);
    let again = ok(&workspace, &["ideas", "vote", "1", "--person", "A1"]);
    assert!(again.contains("already voted"), "{again}");
    ok(
        &workspace,
        &[
            "ideas", "comment", "1", "--text", "Good one", "--actor", "L1",
        ],
    );

    // Skipping triage is refused with what is allowed.
    let skip = workspace.cxm(&[
        "ideas",
        "move",
        "1",
        "--version",
        "1",
        "--status",
        "proposed",
    ]);
    assert!(!skip.status.success());
    assert!(
        stderr(&skip).contains("it can become under_review or declined"),
        "{}",
        stderr(&skip)
    );
    ok(
        &workspace,
        &[
            "ideas",
            "move",
            "1",
            "--version",
            "1",
            "--status",
            "under_review",
        ],
    );
    ok(
        &workspace,
        &[
            "ideas",
            "move",
            "1",
            "--version",
            "2",
            "--status",
            "proposed",
            "--priority",
            "4",
            "5",
            "2",
        ],
    );
    let stale = workspace.cxm(&[
        "ideas",
        "move",
        "1",
        "--version",
        "2",
        "--status",
        "declined",
        "--reason",
        "no",
    ]);
    assert!(!stale.status.success());
    assert!(stderr(&stale).contains("reload"), "{}", stderr(&stale));
    let plan = workspace.file(
        "plan.json",
        r#"{"name":"Callbacks in the north","owner_id":"L1","scope":["S1"],"target_metric":"handle_seconds","start":"2025-03-03"}"#,
    );
    let plan = plan.to_str().unwrap();
    let no_reason = workspace.cxm(&[
        "ideas",
        "move",
        "1",
        "--version",
        "3",
        "--status",
        "approved",
        "--initiative",
        plan,
    ]);
    assert!(
        stderr(&no_reason).contains("say why"),
        "{}",
        stderr(&no_reason)
    );
    ok(
        &workspace,
        &[
            "ideas",
            "move",
            "1",
            "--version",
            "3",
            "--status",
            "approved",
            "--reason",
            "Holds are our top complaint",
            "--initiative",
            plan,
        ],
    );
    let detail = json(&workspace, &["ideas", "show", "1", "--json"]);
    assert_eq!(detail["idea"]["status"], "approved");
    assert_eq!(detail["idea"]["score"], 10.0);
    assert_eq!(detail["votes"].as_array().unwrap().len(), 1);
    assert_eq!(detail["initiative"]["scope"], serde_json::json!(["S1"]));
    let listed = ok(&workspace, &["initiatives", "list", "--format", "csv"]);
    assert!(listed.contains("Callbacks in the north"), "{listed}");

    // The impact, by hand: treated changes −40 and −30 (mean −35), controls +10 and 0
    // (mean +5): effect −40. Each side's changes have variance 50, so the standard error
    // is √(50/2 + 50/2) = 7.0711 with 2 degrees of freedom (t 4.302653): [−70.43, −9.57].
    let impact = json(
        &workspace,
        &["initiatives", "impact", "1", "--min-n", "1", "--json"],
    );
    let effect = &impact["impact"];
    let close = |value: &serde_json::Value, expected: f64| {
        let value = value.as_f64().unwrap();
        assert!((value - expected).abs() < 1e-3, "{value} vs {expected}");
    };
    close(&effect["effect"], -40.0);
    close(&effect["std_error"], 7.071_068);
    close(&effect["df"], 2.0);
    close(&effect["low"], -40.0 - 4.302_653 * 7.071_068);
    close(&effect["high"], -40.0 + 4.302_653 * 7.071_068);
    close(&effect["treated"]["before"], 350.0);
    close(&effect["control"]["after"], 405.0);
    assert_eq!(effect["treated"]["units"], 2);
    let text = ok(&workspace, &["initiatives", "impact", "1", "--min-n", "1"]);
    assert!(
        text.contains("effect (difference in differences): -40.00"),
        "{text}"
    );
    // too few observations per team: said plainly
    let thin = workspace.cxm(&["initiatives", "impact", "1"]);
    assert!(!thin.status.success());
    assert!(
        stderr(&thin).contains("at least 2 units"),
        "{}",
        stderr(&thin)
    );
}

#[test]
fn webhooks_are_stored_queue_case_events_and_record_failed_deliveries() {
    let workspace = Workspace::new();
    // a port nobody listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let no_secret = workspace.cxm(&["webhooks", "set", "crm", "--url", &url]);
    assert!(!no_secret.status.success());
    assert!(
        stderr(&no_secret).contains("give it a secret"),
        "{}",
        stderr(&no_secret)
    );
    let output = workspace
        .command()
        .args([
            "webhooks",
            "set",
            "crm",
            "--url",
            &url,
            "--events",
            "case.opened",
        ])
        .env("CXM_WEBHOOK_SECRET", "a-secret-of-16-chars")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let bad = workspace.cxm(&[
        "webhooks",
        "set",
        "x",
        "--url",
        "ftp://nowhere",
        "--secret",
        "a-secret-of-16-chars",
    ]);
    assert!(
        stderr(&bad).contains("must start with https:// or http://"),
        "{}",
        stderr(&bad)
    );

    // A detractor answer of yesterday (the default rules act on the last 14 days).
    let yesterday = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let answers = workspace.file(
        "answers.csv",
        &format!(
            "response_id,survey,answered_at,customer_id,nps\nR1,nps,{},C1,2\n",
            yesterday.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    );
    assert_eq!(workspace.ingest("surveys", &[&answers], &[]).0, 0);
    let hooks = json(&workspace, &["webhooks", "list", "--format", "json"]);
    assert_eq!(hooks[0]["pending"], 1, "{hooks}");
    assert!(hooks[0].get("secret").is_none());
    let sent = json(&workspace, &["webhooks", "send", "--json"]);
    assert_eq!(
        (sent["delivered"].as_u64(), sent["retrying"].as_u64()),
        (Some(0), Some(1)),
        "{sent}"
    );
    let deliveries = json(
        &workspace,
        &["webhooks", "deliveries", "crm", "--format", "json"],
    );
    assert_eq!(deliveries[0]["attempts"], 1);
    assert_eq!(deliveries[0]["event"], "case.opened");
    assert!(
        deliveries[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{deliveries}"
    );
    ok(&workspace, &["webhooks", "remove", "crm"]);
    let gone = workspace.cxm(&["webhooks", "remove", "crm"]);
    assert!(!gone.status.success());
}

#[test]
fn customers_praise_becomes_kudos_once_and_stories_are_published() {
    let workspace = Workspace::new();
    organisation(&workspace);
    // R1 praises A1 (its contact's agent); R2 praises with a low score; R3 scores high but
    // complains; R4 praises A3 through the customer's latest contact before it.
    let answers = workspace.file(
        "answers.csv",
        "response_id,survey,answered_at,customer_id,interaction_id,csat,comment\n\
         R1,csat,2025-03-10T12:00:00Z,C1,F1,5,Thank you - Ann was really helpful!\n\
         R2,csat,2025-03-10T12:00:00Z,C2,F2,2,Thanks anyway.\n\
         R3,csat,2025-03-10T12:00:00Z,C4,F4,4,\"Great, another hour on hold. Never again\"\n\
         R4,csat,2025-03-11T12:00:00Z,C3,,5,Brilliant and friendly\n",
    );
    assert_eq!(
        workspace.ingest("surveys", &[&answers], &["--no-alerts"]).0,
        0
    );
    let candidates = json(&workspace, &["kudos", "candidates", "--format", "json"]);
    let found: Vec<(&str, &str)> = candidates
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["response_id"].as_str().unwrap(),
                c["agent_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, [("R4", "A3"), ("R1", "A1")], "newest first");
    let out = ok(&workspace, &["kudos", "accept", "R1"]);
    assert!(out.contains("to A1"), "{out}");
    let again = workspace.cxm(&["kudos", "accept", "R1"]);
    assert!(!again.status.success(), "an answer gives its kudos once");
    let left = json(&workspace, &["kudos", "candidates", "--format", "json"]);
    assert_eq!(left.as_array().unwrap().len(), 1);
    ok(
        &workspace,
        &[
            "kudos",
            "give",
            "--from",
            "A2",
            "--to",
            "A1",
            "--message",
            "Covered my queue",
        ],
    );
    let me = workspace.cxm(&[
        "kudos",
        "give",
        "--from",
        "A2",
        "--to",
        "A2",
        "--message",
        "x",
    ]);
    assert!(stderr(&me).contains("someone else"));
    let kudos = json(&workspace, &["kudos", "list", "--format", "json"]);
    let sources: Vec<&str> = kudos
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["colleague", "customer"]);

    let story = workspace.file(
        "story.json",
        r#"{"title":"North cut hold times","narrative":"Callbacks at peak.","unit_id":"S1","people":["L1"],"evidence":[{"kind":"metric","reference":"handle_seconds","note":"-35 s"}]}"#,
    );
    let out = ok(
        &workspace,
        &["stories", "add", story.to_str().unwrap(), "--author", "L1"],
    );
    assert!(out.contains("story 1 saved as a draft"), "{out}");
    ok(&workspace, &["stories", "publish", "1", "--version", "1"]);
    let stale = workspace.cxm(&["stories", "publish", "1", "--version", "1", "--withdraw"]);
    assert!(stderr(&stale).contains("reload"), "{}", stderr(&stale));
    let listed = json(
        &workspace,
        &[
            "stories",
            "list",
            "--search",
            "hold CALLBACKS",
            "--format",
            "json",
        ],
    );
    assert_eq!(listed[0]["published"], true);
    assert_eq!(listed[0]["evidence"][0]["note"], "-35 s");
    let none = json(
        &workspace,
        &["stories", "list", "--search", "chat", "--format", "json"],
    );
    assert!(none.as_array().unwrap().is_empty());
}
