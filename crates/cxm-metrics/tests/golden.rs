//! Golden tests: a small organisation built by hand, loaded through the real ingest path,
//! and every metric checked against values computed by hand (in the comments).
//!
//! The organisation: company CO → sites S1 (teams T1, T2) and S2 (teams T3, T4 — T4 has
//! nobody). Agent A2 moves from T1 to T2 on 15 March. The latest contact starts at
//! 2025-04-02T08:00Z (the data horizon).

mod common;

use common::{Fixture, close, find, query};
use cxm_domain::metrics::Grain;
use cxm_metrics::Filters;

const ORG_UNITS: &str = "unit_id,name,parent_id,level
CO,Company,,company
S1,North site,CO,site
S2,South site,CO,site
T1,Team one,S1,team
T2,Team two,S1,team
T3,Team three,S2,team
T4,Team four,S2,team
";

const PEOPLE: &str = "person_id,name,email,role
A1,Ana,,agent
A2,Bo,,agent
A3,Cy,,agent
A4,Di,,agent
";

const MEMBERSHIPS: &str = "person_id,unit_id,valid_from,valid_to
A1,T1,2025-01-01T00:00:00Z,
A2,T1,2025-01-01T00:00:00Z,2025-03-15T00:00:00Z
A2,T2,2025-03-15T00:00:00Z,
A3,T2,2025-01-01T00:00:00Z,
A4,T3,2025-01-01T00:00:00Z,
";

const CUSTOMERS: &str = "customer_id,segment,region,joined_at
C1,consumer,north,2025-01-01T00:00:00Z
C2,premium,south,2025-02-01T00:00:00Z
C3,consumer,south,2025-01-01T00:00:00Z
C4,,,2025-01-15T00:00:00Z
";

const TOPICS: &str = "code,name,category,kind,keywords
BILL,Billing question,billing,problem,
COMP,Complaint,complaints,complaint,
SALE,Upgrade,sales,sales,
INFO,Information,general,request,
";

const HEADER: &str = "interaction_id,customer_id,agent_id,channel,started_at,queue_seconds,talk_seconds,hold_seconds,after_work_seconds,handle_seconds,topics,resolved,transfers\n";

/// First batch: everything but C2's contact of 12 March, and C4's contact with hold 100.
const CONTACTS_FIRST: &str = "\
I1,C1,A1,phone,2025-03-01T10:00:00Z,30,300,60,30,390,BILL,true,0
I2,C1,A2,phone,2025-03-08T10:00:00Z,30,200,0,20,220,BILL;INFO,true,0
I3,C1,A2,chat,2025-03-15T10:00:01Z,10,400,,0,400,BILL,true,0
I4,C2,A3,phone,2025-03-10T09:00:00Z,60,500,120,60,680,BILL;COMP,false,1
I6,C4,A4,phone,2025-03-28T12:00:00Z,20,250,100,50,400,INFO,true,0
I7,C3,A1,email,2025-03-31T23:30:00Z,0,60,0,0,60,COMP,true,0
I8,C2,A3,phone,2025-04-02T08:00:00Z,30,300,30,30,360,BILL,true,0
";

/// Second batch: C2's contact of 12 March arrives late; C4's contact is replaced (hold 40).
const CONTACTS_SECOND: &str = "\
I5,C2,A4,chat,2025-03-12T09:00:00Z,5,100,0,10,110,SALE,true,0
I6,C4,A4,phone,2025-03-28T12:00:00Z,20,250,40,50,340,INFO,true,0
";

const SURVEYS: &str =
    "response_id,survey,answered_at,customer_id,interaction_id,csat,nps,ces,comment
R1,csat,2025-03-01T11:00:00Z,C1,I1,5,,,Great
R2,csat,2025-03-10T10:00:00Z,C2,I4,2,,,Bad
R3,csat,2025-03-12T10:00:00Z,C2,I5,4,,,
R4,ces,2025-03-08T11:00:00Z,C1,I2,,,6,
R5,relationship,2025-03-20T09:00:00Z,C1,,,10,,
R6,relationship,2025-03-13T09:00:00Z,C2,,,3,,
R7,relationship,2025-03-25T09:00:00Z,C3,,,8,,
";

const TRANSACTIONS: &str = "transaction_id,customer_id,occurred_at,amount,kind
X1,C1,2025-03-02T10:00:00Z,100.00,purchase
X2,C1,2025-03-09T10:00:00Z,20.00,refund
X3,C2,2025-03-11T10:00:00Z,50.50,purchase
X4,C4,2025-02-01T10:00:00Z,10.00,purchase
";

const EVENTS: &str = "customer_id,occurred_at,kind,reason
C2,2025-03-20T00:00:00Z,churned,price
";

async fn organisation(fixture: &Fixture) {
    fixture.ingest("org-units", ORG_UNITS).await;
    fixture.ingest("people", PEOPLE).await;
    fixture.ingest("memberships", MEMBERSHIPS).await;
    fixture.ingest("customers", CUSTOMERS).await;
    fixture.ingest("topics", TOPICS).await;
}

async fn loaded(settings: &str) -> Fixture {
    let fixture = Fixture::new().await;
    fixture.settings(settings);
    organisation(&fixture).await;
    fixture
        .ingest("interactions", &format!("{HEADER}{CONTACTS_FIRST}"))
        .await;
    fixture
        .ingest("interactions", &format!("{HEADER}{CONTACTS_SECOND}"))
        .await;
    fixture.ingest("surveys", SURVEYS).await;
    fixture.ingest("transactions", TRANSACTIONS).await;
    fixture.ingest("customer-events", EVENTS).await;
    fixture.refresh().await;
    fixture
}

fn march() -> Filters {
    Filters {
        from: Some("2025-03-01".parse().unwrap()),
        to: Some("2025-03-31".parse().unwrap()),
        ..Filters::default()
    }
}

#[tokio::test]
async fn every_metric_of_the_company_matches_hand_computation() {
    let fixture = loaded("").await;
    let engine = fixture.engine().await;
    let result = engine
        .query(&query(&[], &[], Grain::Month, march()))
        .await
        .unwrap();
    assert_eq!(result.answered_from, "rollup");
    let m = |metric: &str| find(&result, metric, "2025-03", &[]);

    // Seven contacts start in March (UTC): I1–I7.
    assert_eq!(m("contacts").value, Some(7.0));
    // Repeats: I2 (exactly 7 days after I1: inside the window) and I5 (2 days after I4).
    // I3 comes 7 days and 1 second after I2: not a repeat.
    close(m("repeat_contact_rate").value, 2.0 / 7.0, "repeat rate");
    assert_eq!(m("repeat_contact_rate").n, 7);
    // FCR: windows still open at the horizon (I6, I7) are left out; of I1–I5, I1 and I4
    // were followed by a repeat: 3 / 5.
    close(m("fcr_rate").value, 0.6, "fcr");
    assert_eq!(m("fcr_rate").n, 5);
    // Topics: 1 + 2 + 1 + 2 + 1 + 1 + 1 = 9 over 7 contacts.
    close(
        m("topics_per_contact").value,
        9.0 / 7.0,
        "topics per contact",
    );
    // Hold: I3's is missing; 60, 0, 120, 0, 40 (replaced), 0 → mean 220 / 6; p90 of
    // [0, 0, 0, 40, 60, 120] = 60 + 0.5 × 60 = 90.
    close(m("hold_seconds").value, 220.0 / 6.0, "hold mean");
    assert_eq!(m("hold_seconds").n, 6);
    close(m("hold_seconds_p90").value, 90.0, "hold p90");
    // Handle: 390, 220, 400, 680, 110, 340, 60 → mean 2200 / 7; p90 of the sorted values
    // at rank 5.4 = 400 + 0.4 × 280 = 512.
    close(m("handle_seconds").value, 2200.0 / 7.0, "handle mean");
    close(m("handle_seconds_p90").value, 512.0, "handle p90");
    // Complaints: I4 and I7.
    close(m("complaint_rate").value, 2.0 / 7.0, "complaint rate");
    // CSAT: R1 5, R2 2, R3 4; R4 has no csat (missing, not zero): top-2-box 2/3, mean 11/3.
    close(m("csat").value, 2.0 / 3.0, "csat");
    assert_eq!(m("csat").n, 3);
    close(m("csat_mean").value, 11.0 / 3.0, "csat mean");
    // CES: R4 only.
    close(m("ces").value, 6.0, "ces");
    assert_eq!(m("ces").n, 1);
    close(m("ces_easy_rate").value, 1.0, "ces easy");
    // NPS: 10 (promoter), 3 (detractor), 8 (passive) → 0.
    close(m("nps").value, 0.0, "nps");
    assert_eq!(m("nps").n, 3);
    // Purchases X1, X3; revenue 100 − 20 + 50.50.
    assert_eq!(m("purchases").value, Some(2.0));
    close(m("revenue").value, 130.5, "revenue");
    // Attrition: C1–C4 active on 1 March, C2 churned on 20 March.
    close(m("attrition_rate").value, 0.25, "attrition");
    assert_eq!(m("attrition_rate").n, 4);

    // Intervals: Wilson for shares (2/3: 0.2077–0.9385), t for means.
    let csat = m("csat");
    assert!(
        (csat.low.unwrap() - 0.207_66).abs() < 1e-4,
        "{:?}",
        csat.low
    );
    assert!(
        (csat.high.unwrap() - 0.938_50).abs() < 1e-4,
        "{:?}",
        csat.high
    );
    let hold = m("hold_seconds");
    assert!(hold.low.unwrap() < 220.0 / 6.0 && hold.high.unwrap() > 220.0 / 6.0);

    // February: X4 only; no contacts.
    let result = engine
        .query(&query(
            &["purchases", "revenue", "contacts"],
            &[],
            Grain::Month,
            Filters::default(),
        ))
        .await
        .unwrap();
    assert_eq!(find(&result, "purchases", "2025-02", &[]).value, Some(1.0));
    close(
        find(&result, "revenue", "2025-02", &[]).value,
        10.0,
        "revenue feb",
    );
    assert_eq!(find(&result, "contacts", "2025-04", &[]).value, Some(1.0));
    // March against February: 7 contacts against none.
    assert_eq!(
        find(&result, "contacts", "2025-03", &[]).previous,
        Some(0.0)
    );
}

#[tokio::test]
async fn contacts_belong_to_the_team_of_the_agent_at_the_time() {
    let fixture = loaded("").await;
    let engine = fixture.engine().await;
    let result = engine
        .query(&query(
            &["contacts", "repeat_contact_rate", "fcr_rate"],
            &["team"],
            Grain::Month,
            march(),
        ))
        .await
        .unwrap();
    // A2 was in T1 for I2 (8 March) and in T2 for I3 (15 March).
    let contacts = |team: &str| find(&result, "contacts", "2025-03", &[("team", team)]).value;
    assert_eq!(contacts("T1"), Some(3.0), "I1, I2, I7");
    assert_eq!(contacts("T2"), Some(2.0), "I3, I4");
    assert_eq!(contacts("T3"), Some(2.0), "I5, I6");
    // C2's contacts span two agents and two teams: the repeat I5 counts for T3; the failed
    // first contact I4 is charged to T2, whose agent owned its resolution.
    let repeat =
        |team: &str| find(&result, "repeat_contact_rate", "2025-03", &[("team", team)]).value;
    close(repeat("T1"), 1.0 / 3.0, "T1 repeats (I2)");
    close(repeat("T2"), 0.0, "T2 repeats");
    close(repeat("T3"), 0.5, "T3 repeats (I5)");
    let fcr = |team: &str| find(&result, "fcr_rate", "2025-03", &[("team", team)]);
    close(fcr("T1").value, 0.5, "T1: I1 failed, I2 resolved");
    close(fcr("T2").value, 0.5, "T2: I3 resolved, I4 failed");
    close(fcr("T3").value, 1.0, "T3: I5 resolved, I6 still open");
    assert_eq!(fcr("T3").n, 1);
    // The team with nobody has no rows; asking for it gives empty values, not an error.
    assert!(result.rows.iter().all(|r| r.group["team"] != "T4"));
    let empty = engine
        .query(&query(
            &["contacts", "csat"],
            &[],
            Grain::Month,
            Filters {
                unit: Some("T4".into()),
                ..march()
            },
        ))
        .await
        .unwrap();
    assert_eq!(find(&empty, "contacts", "2025-03", &[]).value, Some(0.0));
    assert_eq!(find(&empty, "csat", "2025-03", &[]).value, None);
    assert_eq!(find(&empty, "csat", "2025-03", &[]).n, 0);

    // Sites and the agent who moved.
    let result = engine
        .query(&query(&["contacts"], &["site"], Grain::Month, march()))
        .await
        .unwrap();
    assert_eq!(
        find(&result, "contacts", "2025-03", &[("site", "S1")]).value,
        Some(5.0)
    );
    assert_eq!(
        find(&result, "contacts", "2025-03", &[("site", "S2")]).value,
        Some(2.0)
    );
    let result = engine
        .query(&query(
            &["contacts"],
            &["agent", "team"],
            Grain::Month,
            march(),
        ))
        .await
        .unwrap();
    let a2 = |team: &str| {
        find(
            &result,
            "contacts",
            "2025-03",
            &[("agent", "A2"), ("team", team)],
        )
        .value
    };
    assert_eq!((a2("T1"), a2("T2")), (Some(1.0), Some(1.0)));
    // The subtree filter: S1 holds T1 and T2.
    let result = engine
        .query(&query(
            &["contacts"],
            &[],
            Grain::Month,
            Filters {
                unit: Some("S1".into()),
                ..march()
            },
        ))
        .await
        .unwrap();
    assert_eq!(find(&result, "contacts", "2025-03", &[]).value, Some(5.0));
}

#[tokio::test]
async fn surveys_transactions_and_churn_follow_their_contacts() {
    let fixture = loaded("").await;
    let engine = fixture.engine().await;
    let result = engine
        .query(&query(
            &["csat", "nps", "revenue", "attrition_rate"],
            &["team"],
            Grain::Month,
            Filters {
                from: Some("2025-03-01".parse().unwrap()),
                to: Some("2025-04-30".parse().unwrap()),
                ..Filters::default()
            },
        ))
        .await
        .unwrap();
    let get =
        |metric: &str, period: &str, team: &str| find(&result, metric, period, &[("team", team)]);
    // R1 (I1, T1) 5; R2 (I4, T2) 2; R3 (I5, T3) 4.
    close(get("csat", "2025-03", "T1").value, 1.0, "T1 csat");
    close(get("csat", "2025-03", "T2").value, 0.0, "T2 csat");
    close(get("csat", "2025-03", "T3").value, 1.0, "T3 csat");
    // Relationship answers go to the customer's last contact before answering: R5 (C1,
    // 20 March) → I3 (A2 in T2); R6 (C2, 13 March) → I5 (T3); R7 (C3, 25 March) → none yet.
    close(get("nps", "2025-03", "T2").value, 100.0, "T2 nps");
    close(get("nps", "2025-03", "T3").value, -100.0, "T3 nps");
    // Revenue follows the last contact: X1 (after I1, T1) 100, X2 (after I2, T1) −20,
    // X3 (after I4, T2) 50.50.
    close(get("revenue", "2025-03", "T1").value, 80.0, "T1 revenue");
    close(get("revenue", "2025-03", "T2").value, 50.5, "T2 revenue");
    // On 1 April: C1 (last contact I3, T2), C3 (I7, T1), C4 (I6, T3) active; C2 churned.
    let april = |team: &str| get("attrition_rate", "2025-04", team);
    assert_eq!((april("T1").n, april("T2").n, april("T3").n), (1, 1, 1));
    close(april("T1").value, 0.0, "T1 attrition April");
    // Unattributed customers (no contact yet) count at company level.
    let company = engine
        .query(&query(
            &["attrition_rate"],
            &["company"],
            Grain::Month,
            march(),
        ))
        .await
        .unwrap();
    let row = find(&company, "attrition_rate", "2025-03", &[("company", "CO")]);
    assert_eq!(row.n, 4);
    close(row.value, 0.25, "company attrition");
}

#[tokio::test]
async fn local_days_follow_the_reporting_time_zone() {
    // I7 starts 2025-03-31T23:30Z: 1 April 01:30 in Berlin.
    let fixture = loaded("[settings]\ntime_zone = \"Europe/Berlin\"\n").await;
    let engine = fixture.engine().await;
    let result = engine
        .query(&query(
            &["contacts", "complaint_rate"],
            &[],
            Grain::Month,
            Filters::default(),
        ))
        .await
        .unwrap();
    assert_eq!(find(&result, "contacts", "2025-03", &[]).value, Some(6.0));
    assert_eq!(find(&result, "contacts", "2025-04", &[]).value, Some(2.0));
    close(
        find(&result, "complaint_rate", "2025-04", &[]).value,
        0.5,
        "I7 and I8",
    );
    let day = engine
        .query(&query(
            &["contacts"],
            &[],
            Grain::Day,
            Filters {
                from: Some("2025-04-01".parse().unwrap()),
                to: Some("2025-04-01".parse().unwrap()),
                ..Filters::default()
            },
        ))
        .await
        .unwrap();
    assert_eq!(find(&day, "contacts", "2025-04-01", &[]).value, Some(1.0));
}

#[tokio::test]
async fn repeat_window_and_same_topic_are_settings() {
    // A 30-day window: I3 (7 days 1 s after I2) and I8 (21 days after I5) become repeats;
    // with same-topic matching, I5 (SALE after BILL;COMP) is no longer a repeat, and I8
    // (BILL) repeats I4 (BILL), 23 days earlier.
    let fixture = loaded("[settings]\nrepeat_window_days = 30\nsame_topic = true\n").await;
    let engine = fixture.engine().await;
    let result = engine
        .query(&query(
            &["repeat_contact_rate", "fcr_rate"],
            &[],
            Grain::All,
            Filters::default(),
        ))
        .await
        .unwrap();
    let period = &result.rows[0].period;
    // I1–I8 by topic: I2 (BILL after I1), I3 (BILL after I2), I8 (BILL after I4) repeat.
    close(
        find(&result, "repeat_contact_rate", period, &[]).value,
        3.0 / 8.0,
        "same-topic 30-day repeats",
    );
    // A contact already followed by a repeat has failed, window closed or not: I1, I2 and
    // I4. Of the rest, none started 30 days before the horizon (2 April): left out.
    let fcr = find(&result, "fcr_rate", period, &[]);
    assert_eq!(fcr.n, 3);
    close(fcr.value, 0.0, "fcr");
}

#[tokio::test]
async fn late_and_replaced_records_are_reflected_after_each_ingest() {
    let fixture = Fixture::new().await;
    organisation(&fixture).await;
    fixture
        .ingest("interactions", &format!("{HEADER}{CONTACTS_FIRST}"))
        .await;
    fixture.refresh().await;
    let before = fixture
        .engine()
        .await
        .query(&query(
            &["fcr_rate", "hold_seconds"],
            &["team"],
            Grain::Month,
            march(),
        ))
        .await
        .unwrap();
    // Without I5, I4's next contact is I8 three weeks later: resolved.
    close(
        find(&before, "fcr_rate", "2025-03", &[("team", "T2")]).value,
        1.0,
        "T2 before the late contact",
    );
    close(
        find(&before, "hold_seconds", "2025-03", &[("team", "T3")]).value,
        100.0,
        "I6 before replacement",
    );
    fixture
        .ingest("interactions", &format!("{HEADER}{CONTACTS_SECOND}"))
        .await;
    fixture.refresh().await;
    let after = fixture
        .engine()
        .await
        .query(&query(
            &["contacts", "fcr_rate", "hold_seconds"],
            &["team"],
            Grain::Month,
            march(),
        ))
        .await
        .unwrap();
    close(
        find(&after, "fcr_rate", "2025-03", &[("team", "T2")]).value,
        0.5,
        "I4 is now followed by I5",
    );
    // I6 replaced: hold 40, and counted once; T3 now holds I5 (hold 0) and I6.
    close(
        find(&after, "hold_seconds", "2025-03", &[("team", "T3")]).value,
        20.0,
        "I6 after replacement",
    );
    assert_eq!(
        find(&after, "contacts", "2025-03", &[("team", "T3")]).value,
        Some(2.0)
    );
}

#[tokio::test]
async fn the_scan_path_agrees_with_the_rollup_and_breaks_down_by_topic_and_segment() {
    let fixture = loaded("").await;
    let engine = fixture.engine().await;
    let all = query(&[], &["team"], Grain::Month, march());
    let rollup = engine.query(&all).await.unwrap();
    // A segment filter that keeps everyone forces a scan with the same answers.
    let scanned = engine
        .query(&query(
            &[],
            &["team"],
            Grain::Month,
            Filters {
                segments: vec!["consumer".into(), "premium".into()],
                ..march()
            },
        ))
        .await
        .unwrap();
    assert_eq!(scanned.answered_from, "scan");
    // C4 has no segment, so its contact I6 (T3) and purchase drop out; compare T1 and T2.
    for row in rollup
        .rows
        .iter()
        .filter(|r| r.group["team"] != "T3" && r.metric != "attrition_rate")
    {
        let other = find(
            &scanned,
            &row.metric,
            &row.period,
            &[("team", &row.group["team"])],
        );
        assert_eq!((row.value, row.n), (other.value, other.n), "{}", row.metric);
    }
    let by_topic = engine
        .query(&query(
            &["contacts", "csat", "attrition_rate"],
            &["topic"],
            Grain::Month,
            march(),
        ))
        .await
        .unwrap();
    // BILL: I1, I2, I3, I4 in March; COMP: I4, I7.
    assert_eq!(
        find(&by_topic, "contacts", "2025-03", &[("topic", "BILL")]).value,
        Some(4.0)
    );
    assert_eq!(
        find(&by_topic, "contacts", "2025-03", &[("topic", "COMP")]).value,
        Some(2.0)
    );
    // Answers about I4 (2) and I1 (5) carry BILL.
    close(
        find(&by_topic, "csat", "2025-03", &[("topic", "BILL")]).value,
        0.5,
        "csat of billing contacts",
    );
    assert!(
        by_topic
            .notes
            .iter()
            .any(|n| n.starts_with("attrition_rate"))
    );
    let by_segment = engine
        .query(&query(&["contacts"], &["segment"], Grain::Month, march()))
        .await
        .unwrap();
    assert_eq!(
        find(
            &by_segment,
            "contacts",
            "2025-03",
            &[("segment", "consumer")]
        )
        .value,
        Some(4.0)
    );
    assert_eq!(
        find(&by_segment, "contacts", "2025-03", &[("segment", "(none)")]).value,
        Some(1.0)
    );
}

#[tokio::test]
async fn a_scorecard_compares_with_the_whole_previous_period_and_its_targets() {
    use cxm_domain::metrics::Period;
    use cxm_metrics::{Status, Subject, scorecard::scorecard};
    use cxm_sql::{ScopeKind, Target};

    let fixture = loaded("").await;
    let engine = fixture.engine().await;
    let target = |metric: &str, scope: &str, period: &str, value: f64| Target {
        metric: metric.into(),
        scope_kind: ScopeKind::Unit,
        scope_id: scope.into(),
        period: period.into(),
        value,
        set_at: "2025-01-01T00:00:00Z".into(),
    };
    // A site-wide yearly target, and the team's own for March (the more specific wins).
    let targets = [
        target("contacts", "S1", "2025", 100.0),
        target("csat", "S1", "2025", 0.8),
        target("csat", "T1", "2025-03", 0.9),
    ];
    let line = |card: &cxm_metrics::Scorecard, metric: &str| {
        card.lines
            .iter()
            .find(|l| l.metric == metric)
            .cloned()
            .unwrap_or_else(|| panic!("no {metric} line"))
    };

    // April (I8 only) against the whole of March (I1–I7), not the 30 days before 2 April.
    let april = Period::parse("2025-04").unwrap();
    let card = scorecard(&engine, &Subject::Unit("CO".into()), april, &targets)
        .await
        .unwrap();
    let contacts = line(&card, "contacts");
    assert_eq!(contacts.actual, Some(1.0));
    assert_eq!(contacts.previous, Some(7.0));

    // T1 in March: I1 (A1), I2 (A2 before the move), I7 (A1); R1 rated I1 5.
    let march = Period::parse("2025-03").unwrap();
    let card = scorecard(&engine, &Subject::Unit("T1".into()), march, &targets)
        .await
        .unwrap();
    let contacts = line(&card, "contacts");
    assert_eq!(contacts.actual, Some(3.0));
    assert_eq!(contacts.target, Some(100.0), "inherited from the site");
    close(contacts.gap, -97.0, "contacts gap");
    // Counts have no direction: shown against the target, not judged.
    assert_eq!(contacts.status, Status::Info);
    // The parent S1 holds T1's three and T2's I3 and I4.
    assert_eq!(contacts.parent, Some(5.0));
    let csat = line(&card, "csat");
    assert_eq!(csat.actual, Some(1.0));
    assert_eq!(
        csat.target,
        Some(0.9),
        "the team's own target for the month"
    );
    close(csat.gap, 0.1, "csat gap");
    // One answer is below the minimum sample of 30: not judged.
    assert_eq!(csat.status, Status::InsufficientSample);
}
