//! Alert rules and cases through the real binary on a hand-built organisation whose
//! matches are known: ingest opens them, `cxm cases` works them, `cxm rules` edits rules.

mod common;

use common::{Workspace, stderr};

/// `days_ago` days before today (UTC) at `time`, as RFC 3339: the default rules act only on
/// records at most 14 days old.
fn day(days_ago: i64, time: &str) -> String {
    let date = chrono::Utc::now().date_naive() - chrono::Days::new(days_ago as u64);
    format!("{date}T{time}Z")
}

/// The (rule, triggering record) of each case of a `cxm cases list --format json`.
fn rules_and_triggers(cases: &serde_json::Value) -> Vec<(String, String)> {
    cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["rule_id"].as_str().unwrap().to_owned(),
                c["trigger_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn json(workspace: &Workspace, args: &[&str]) -> serde_json::Value {
    let output = workspace.cxm(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn ingest_opens_the_cases_the_rules_call_for_and_cases_are_worked() {
    let workspace = Workspace::new();
    let topics = workspace.file(
        "topics.csv",
        "code,name,category,kind\nbill.wrong,Wrong bill,billing,complaint\nbill.ask,Billing question,billing,request\n",
    );
    // C1: three contacts within five days (the third is a repeat contact), one of them
    // about a complaint topic; C2: one contact, eleven days after C1's first.
    let contacts = workspace.file(
        "contacts.csv",
        &format!(
            "interaction_id,customer_id,agent_id,channel,started_at,topics\n\
             I1,C1,A1,phone,{},bill.ask\n\
             I2,C1,A1,phone,{},bill.wrong\n\
             I3,C1,A2,chat,{},bill.ask\n\
             I4,C2,A2,chat,{},bill.ask\n",
            day(13, "09:00:00"),
            day(11, "09:00:00"),
            day(8, "08:59:59"),
            day(2, "09:00:00"),
        ),
    );
    let answers = workspace.file(
        "answers.csv",
        &format!(
            "response_id,survey,answered_at,customer_id,interaction_id,nps,csat\n\
             R1,nps,{},C1,I1,3,\n\
             R2,csat,{},C2,I4,,5\n\
             R3,nps,{},C2,,7,\n",
            day(12, "10:00:00"),
            day(2, "10:00:00"),
            day(1, "10:00:00"),
        ),
    );
    assert_eq!(workspace.ingest("topics", &[&topics], &[]).0, 0);
    assert_eq!(workspace.ingest("interactions", &[&contacts], &[]).0, 0);
    assert_eq!(workspace.ingest("surveys", &[&answers], &[]).0, 0);

    let statuses = "open,in_progress,resolved,closed";
    let cases = json(
        &workspace,
        &["cases", "list", "--status", statuses, "--format", "json"],
    );
    let mut opened = rules_and_triggers(&cases);
    opened.sort();
    let expected: Vec<(String, String)> = [
        ("complaint", "I2"),
        ("detractor", "R1"),
        ("repeat-contacts", "I3"),
    ]
    .iter()
    .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
    .collect();
    assert_eq!(opened, expected);
    let detractor = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule_id"] == "detractor")
        .unwrap();
    // the answer's agent is that of its contact
    assert_eq!(detractor["agent_id"], "A1");
    let id = detractor["case_id"].as_i64().unwrap().to_string();

    // Evaluating again opens nothing.
    let run = json(&workspace, &["alerts", "run", "--json"]);
    assert_eq!(run["opened"], 0, "{run}");

    // Working the case: a skipped step and a stale copy are refused.
    let output = workspace.cxm(&[
        "cases",
        "update",
        &id,
        "--version",
        "1",
        "--status",
        "closed",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot become closed"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&[
        "cases",
        "update",
        &id,
        "--version",
        "1",
        "--status",
        "in_progress",
        "--note",
        "calling back",
        "--actor",
        "lea",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = workspace.cxm(&["cases", "update", &id, "--version", "1", "--note", "late"]);
    assert!(
        stderr(&output).contains("changed since you read it"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&[
        "cases",
        "update",
        &id,
        "--version",
        "2",
        "--root-cause",
        "nope",
    ]);
    assert!(
        stderr(&output).contains("not a topic"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&[
        "cases",
        "update",
        &id,
        "--version",
        "2",
        "--status",
        "resolved",
        "--root-cause",
        "bill.wrong",
        "--reached",
        "true",
        "--fixed",
        "true",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = json(&workspace, &["cases", "show", &id, "--json"]);
    assert_eq!(shown["case"]["status"], "resolved");
    assert_eq!(shown["case"]["root_cause"], "bill.wrong");
    let kinds: Vec<&str> = shown["timeline"]
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
    assert_eq!(shown["timeline"][1]["actor"], "lea");

    // A disabled rule opens nothing for new matches; enabled again, it catches up.
    let output = workspace.cxm(&["rules", "disable", "complaint"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rules = json(&workspace, &["rules", "list", "--format", "json"]);
    let complaint = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule_id"] == "complaint")
        .unwrap();
    assert_eq!(complaint["enabled"], false);
    let more = workspace.file(
        "more.csv",
        &format!(
            "interaction_id,customer_id,agent_id,channel,started_at,topics\n\
             I5,C3,A1,phone,{},bill.wrong\n",
            day(1, "09:00:00")
        ),
    );
    assert_eq!(workspace.ingest("interactions", &[&more], &[]).0, 0);
    let open = json(
        &workspace,
        &["cases", "list", "--rule", "complaint", "--format", "json"],
    );
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert!(
        workspace
            .cxm(&["rules", "enable", "complaint"])
            .status
            .success()
    );
    let run = json(&workspace, &["alerts", "run", "--json"]);
    assert_eq!(run["opened"], 1, "{run}");

    // A complaint of last year is history: stored, but no case, and the ingest says why.
    let old = workspace.file(
        "old.csv",
        "interaction_id,customer_id,agent_id,channel,started_at,topics\n\
         I6,C4,A1,phone,2025-04-01T09:00:00Z,bill.wrong\n",
    );
    let output = workspace.cxm(&["ingest", "interactions", old.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("alerts: 0 cases opened")
            && printed.contains("rule complaint: records before 20")
            && printed.contains("are more than 14 days old: history, not followed up"),
        "{printed}"
    );
    let listed = json(
        &workspace,
        &[
            "cases",
            "list",
            "--rule",
            "complaint",
            "--status",
            statuses,
            "--format",
            "json",
        ],
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["trigger_id"] != "I6"),
        "{listed}"
    );

    // A rule file: validated before it is stored.
    let bad = workspace.file(
        "bad.json",
        r#"{"rule_id":"Bad Id","name":"x","condition":{"type":"low_score","measure":"csat","at_most":2},"priority":"high","cooldown_days":7,"enabled":true}"#,
    );
    let output = workspace.cxm(&["rules", "set", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("lowercase"), "{}", stderr(&output));
}

/// A taxonomy stored after the contacts that name its topics: `cxm ingest topics` runs the
/// complaint rule over the stored contacts (it depends on the taxonomy), and says so; an
/// ingest no rule watches says nothing about alerts.
#[test]
fn a_taxonomy_stored_after_the_contacts_opens_their_complaint_cases() {
    let workspace = Workspace::new();
    let contacts = workspace.file(
        "contacts.csv",
        &format!(
            "interaction_id,customer_id,agent_id,channel,started_at,topics\n\
             I1,C1,A1,phone,{},bill.ask\n\
             I2,C2,A1,phone,{},bill.wrong\n",
            day(3, "09:00:00"),
            day(2, "09:00:00"),
        ),
    );
    assert_eq!(workspace.ingest("interactions", &[&contacts], &[]).0, 0);
    let open = |workspace: &Workspace| {
        rules_and_triggers(&json(workspace, &["cases", "list", "--format", "json"]))
    };
    assert_eq!(open(&workspace), []);

    let topics = workspace.file(
        "topics.csv",
        "code,name,category,kind\nbill.wrong,Wrong bill,billing,complaint\nbill.ask,Billing question,billing,request\n",
    );
    let output = workspace.cxm(&["ingest", "topics", &topics.display().to_string()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("alerts: 1 cases opened"), "{said}");
    assert_eq!(
        open(&workspace),
        [("complaint".to_owned(), "I2".to_owned())]
    );

    // customers: no rule watches them, so nothing is evaluated or said
    let customers = workspace.file("customers.csv", "customer_id,segment\nC1,retail\n");
    let output = workspace.cxm(&["ingest", "customers", &customers.display().to_string()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(!said.contains("alerts:"), "{said}");
}
