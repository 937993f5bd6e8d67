//! Case metrics on a hand-built data directory: re-contacts after closure are read from
//! the stored contacts, only for cases whose window has passed.

use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_domain::cases::{CaseStatus, Priority};
use cxm_ingest::IngestRequest;
use cxm_loop::case_metrics::{CaseGrouping, CaseMetricsRequest, case_metrics};
use cxm_sql::{CaseChange, CaseFilter, CaseStore, NewCase};

fn new_case(customer: &str, owner: &str, opened: &str, due: &str) -> NewCase {
    NewCase {
        rule_id: "detractor".into(),
        customer_id: customer.into(),
        trigger_id: format!("R-{customer}"),
        triggered_at: opened.into(),
        triggered_micros: 0,
        summary: format!("NPS 2 from {customer}"),
        agent_id: Some("A1".into()),
        unit_id: Some("T1".into()),
        owner_id: Some(owner.into()),
        priority: Priority::High,
        opened_at: opened.into(),
        due_at: due.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recontacts_after_closure_come_from_the_contacts() {
    let temp = tempfile::tempdir().unwrap();
    let dir = DataDir::init(&temp.path().join("data"), None)
        .await
        .unwrap();
    // C1 comes back two days after its case closed, C2 after fourteen; C3's case closed
    // two days before the latest contact, so its week has not passed.
    let contacts = temp.path().join("contacts.csv");
    std::fs::write(
        &contacts,
        "interaction_id,customer_id,agent_id,channel,started_at\n\
         I1,C1,A1,phone,2025-03-01T08:00:00Z\nI2,C1,A1,phone,2025-03-03T10:00:00Z\n\
         I3,C2,A1,phone,2025-03-01T08:00:00Z\nI4,C2,A1,phone,2025-03-15T10:00:00Z\n\
         I5,C3,A1,phone,2025-03-18T08:00:00Z\nI6,C9,A1,phone,2025-03-22T10:00:00Z\n",
    )
    .unwrap();
    let request = IngestRequest::new(RecordKind::Interactions, vec![contacts]);
    cxm_ingest::ingest(&dir, &request).await.unwrap();

    let store = dir.reference().await.unwrap();
    let opened = store
        .open_cases(&[
            new_case("C1", "L1", "2025-03-01T09:00:00Z", "2025-03-02T09:00:00Z"),
            new_case("C2", "L1", "2025-03-01T09:00:00Z", "2025-03-02T09:00:00Z"),
            new_case("C3", "L2", "2025-03-18T09:00:00Z", "2025-03-19T09:00:00Z"),
        ])
        .await
        .unwrap();
    assert_eq!(opened, 3);
    let all = store
        .cases(&CaseFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let closings = [
        ("C1", "2025-03-01T12:00:00Z", "2025-03-01T13:00:00Z"),
        ("C2", "2025-03-02T12:00:00Z", "2025-03-02T21:00:00Z"),
        ("C3", "2025-03-19T12:00:00Z", "2025-03-20T09:00:00Z"),
    ];
    for (customer, resolved, closed) in closings {
        let case = all.iter().find(|c| c.customer_id == customer).unwrap();
        let resolve = CaseChange {
            version: 1,
            status: Some(CaseStatus::Resolved),
            ..Default::default()
        };
        store
            .update_case(case.case_id, &resolve, "lead", resolved)
            .await
            .unwrap();
        let close = CaseChange {
            version: 2,
            status: Some(CaseStatus::Closed),
            ..Default::default()
        };
        store
            .update_case(case.case_id, &close, "lead", closed)
            .await
            .unwrap();
    }
    store.close().await;

    let request = CaseMetricsRequest {
        filter: CaseFilter::default(),
        by: CaseGrouping::Owner,
        from: None,
        to: None,
        recontact_days: 7,
        now: "2025-04-01T00:00:00Z".parse().unwrap(),
    };
    let rows = case_metrics(&dir, &request).await.unwrap();
    let l1 = rows.iter().find(|r| r.group == "L1").unwrap();
    let l2 = rows.iter().find(|r| r.group == "L2").unwrap();
    assert_eq!((l1.opened, l1.closed, l2.opened), (2, 2, 1));
    // C1: came back within 7 days; C2: not; C3: its window has not passed
    let back = l1.recontacted.unwrap();
    assert_eq!((back.n, back.value), (2, 0.5));
    assert!(l2.recontacted.is_none(), "{l2:?}");
    // first action = the resolution: 3 h (C1) and 27 h (C2); C1 met its SLA, C2 not
    assert_eq!(l1.first_action_hours_mean, Some(15.0));
    let sla = l1.sla_met.unwrap();
    assert_eq!((sla.n, sla.value), (2, 0.5));
    // closing took 4 h and 36 h
    assert_eq!(l1.close_hours_median, Some(20.0));

    // Only cases opened in the range count.
    let march_18 = chrono::NaiveDate::from_ymd_opt(2025, 3, 18).unwrap();
    let late = CaseMetricsRequest {
        by: CaseGrouping::All,
        from: Some(march_18),
        ..request
    };
    let rows = case_metrics(&dir, &late).await.unwrap();
    assert_eq!(
        (rows.len(), rows[0].group.as_str(), rows[0].opened),
        (1, "all", 1)
    );
}
