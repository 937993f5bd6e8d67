//! Webhook delivery against a real receiver on a real socket: the receiver checks every
//! signature itself, fails for a while and recovers; deliveries are retried on schedule
//! with the same idempotency key, and given up after the last attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use cxm_domain::cases::Priority;
use cxm_domain::notify::{EventKind, RetrySchedule, Webhook};
use cxm_loop::{SendOptions, SendReport, send_due};
use cxm_sql::{CaseChange, CaseStore, NewCase, NotifyStore, SqlStore};
use hmac::{Hmac, Mac};

const SECRET: &str = "receiver-shared-secret";

/// What the receiver saw: every request, whether it accepted it, and the events it acted
/// on (once per idempotency key).
#[derive(Default)]
struct Receiver {
    failing: bool,
    requests: Vec<(String, StatusCode)>,
    acted_on: Vec<(String, serde_json::Value)>,
}

async fn receive(
    State(receiver): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = header("idempotency-key");
    let mut receiver = receiver.lock().unwrap();
    // the receiver's own check: HMAC-SHA256 of "timestamp.body", recent timestamps only
    let timestamp: i64 = header("cxm-timestamp").parse().unwrap_or(0);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    let fresh = (Utc::now().timestamp() - timestamp).abs() < 300;
    let status = if header("cxm-signature") != expected || !fresh {
        StatusCode::UNAUTHORIZED
    } else if receiver.failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        if !receiver.acted_on.iter().any(|(k, _)| *k == key) {
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(event["event"].as_str(), Some(header("cxm-event").as_str()));
            receiver.acted_on.push((key.clone(), event));
        }
        StatusCode::OK
    };
    receiver.requests.push((key, status));
    status
}

async fn start_receiver() -> (String, Arc<Mutex<Receiver>>) {
    let receiver = Arc::new(Mutex::new(Receiver {
        failing: true,
        ..Default::default()
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, receiver)
}

fn case(customer: &str, trigger: &str) -> NewCase {
    NewCase {
        rule_id: "detractor".into(),
        customer_id: customer.into(),
        trigger_id: trigger.into(),
        triggered_at: "2025-03-01T10:00:00Z".into(),
        triggered_micros: 1_740_823_200_000_000,
        summary: format!("NPS 2 from {customer}"),
        agent_id: Some("A-1".into()),
        unit_id: Some("T-1".into()),
        owner_id: Some("L-1".into()),
        priority: Priority::High,
        opened_at: "2025-03-01T10:05:00Z".into(),
        due_at: "2025-03-02T10:05:00Z".into(),
    }
}

fn options() -> SendOptions {
    SendOptions {
        schedule: RetrySchedule {
            first_delay_seconds: 30,
            max_attempts: 3,
        },
        timeout: Duration::from_secs(5),
        batch: 2,
        concurrency: 2,
    }
}

async fn round(store: &SqlStore, at: DateTime<Utc>) -> SendReport {
    let options = options();
    let client = cxm_loop::webhooks::client(&options).unwrap();
    send_due(store, &client, &options, at).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_a_receiver_that_fails_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("store.sqlite"))
        .await
        .unwrap();
    let (url, receiver) = start_receiver().await;
    let hook = Webhook {
        webhook_id: "crm".into(),
        url: url.clone(),
        events: vec![EventKind::CaseOpened, EventKind::CaseUpdated],
        enabled: true,
    };
    store
        .set_webhook(&hook, Some(SECRET), "test", "2025-03-01T00:00:00Z")
        .await
        .unwrap();
    // a second subscriber that signs with another secret: the receiver refuses it
    let impostor = Webhook {
        webhook_id: "wrong-secret".into(),
        events: vec![EventKind::CaseOpened],
        ..hook.clone()
    };
    store
        .set_webhook(
            &impostor,
            Some("not-the-shared-secret"),
            "test",
            "2025-03-01T00:00:00Z",
        )
        .await
        .unwrap();
    // three cases open (across two claim batches), one is then worked
    let opened = store
        .open_cases(&[case("C-1", "R-1"), case("C-2", "R-2"), case("C-3", "R-3")])
        .await
        .unwrap();
    assert_eq!(opened, 3);
    let first = store
        .cases(&cxm_sql::CaseFilter {
            customer_id: Some("C-1".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    let change = CaseChange {
        version: 1,
        status: Some(cxm_domain::cases::CaseStatus::InProgress),
        ..Default::default()
    };
    store
        .update_case(first.case_id, &change, "lead", "2025-03-01T11:00:00Z")
        .await
        .unwrap();

    // The receiver is down: every delivery fails and waits 30 s.
    let t0 = Utc::now();
    let report = round(&store, t0).await;
    assert_eq!(
        report,
        SendReport {
            delivered: 0,
            retrying: 7,
            given_up: 0
        },
        "4 events for crm, 3 for the impostor"
    );
    assert_eq!(
        round(&store, t0 + TimeDelta::seconds(29)).await,
        SendReport::default(),
        "not due yet"
    );

    // It recovers: crm's deliveries go through on their second attempt; the impostor's
    // signature is refused again.
    receiver.lock().unwrap().failing = false;
    let report = round(&store, t0 + TimeDelta::seconds(30)).await;
    assert_eq!(
        (report.delivered, report.retrying, report.given_up),
        (4, 3, 0)
    );
    // The third attempt is the last (max 3): the impostor is given up after 30 + 60 s.
    let report = round(&store, t0 + TimeDelta::seconds(90)).await;
    assert_eq!(
        (report.delivered, report.retrying, report.given_up),
        (0, 0, 3)
    );
    assert_eq!(
        round(&store, t0 + TimeDelta::days(2)).await,
        SendReport::default()
    );

    let id = first.case_id;
    let mut expected: Vec<String> = store
        .cases(&cxm_sql::CaseFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|c| format!("case-{}-opened", c.case_id))
        .chain([format!("case-{id}-v2")])
        .collect();
    expected.sort();
    {
        let receiver = receiver.lock().unwrap();
        let mut keys: Vec<&str> = receiver.acted_on.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, expected, "each event acted on once");
        // every crm event was tried twice under the same idempotency key: refused, then taken
        for key in &expected {
            let statuses: Vec<StatusCode> = receiver
                .requests
                .iter()
                .filter(|(k, s)| k == key && *s != StatusCode::UNAUTHORIZED)
                .map(|(_, s)| *s)
                .collect();
            assert_eq!(
                statuses,
                [StatusCode::SERVICE_UNAVAILABLE, StatusCode::OK],
                "{key}"
            );
        }
        let refused = receiver
            .requests
            .iter()
            .filter(|(_, s)| *s == StatusCode::UNAUTHORIZED)
            .count();
        assert_eq!(
            refused, 9,
            "three attempts for each of the impostor's three events"
        );
        let update = &receiver
            .acted_on
            .iter()
            .find(|(k, _)| *k == format!("case-{id}-v2"))
            .unwrap()
            .1;
        assert_eq!(update["event"], "case.updated");
        assert_eq!(update["actor"], "lead");
        assert_eq!(update["case"]["status"], "in_progress");
        assert_eq!(update["case"]["case_id"], id);
    }
    let history = store.deliveries("wrong-secret", 10).await.unwrap();
    assert!(
        history
            .iter()
            .all(|d| d.status == "failed" && d.attempts == 3)
    );
    assert!(
        history[0].last_error.as_deref().unwrap().contains("401"),
        "{history:?}"
    );
    let crm = store.webhooks().await.unwrap();
    assert_eq!((crm[0].delivered, crm[0].pending, crm[0].failed), (4, 0, 0));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_retried_then_given_up_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("store.sqlite"))
        .await
        .unwrap();
    // a port nobody listens on
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let hook = Webhook {
        webhook_id: "gone".into(),
        url: format!("http://{closed}/hook"),
        events: vec![EventKind::CaseOpened],
        enabled: true,
    };
    store
        .set_webhook(&hook, Some(SECRET), "test", "2025-03-01T00:00:00Z")
        .await
        .unwrap();
    store.open_cases(&[case("C-1", "R-1")]).await.unwrap();
    let t0 = Utc::now();
    let reports = [
        round(&store, t0).await,
        round(&store, t0 + TimeDelta::seconds(30)).await,
        round(&store, t0 + TimeDelta::seconds(90)).await,
    ];
    let retrying: Vec<u64> = reports.iter().map(|r| r.retrying).collect();
    let given_up: Vec<u64> = reports.iter().map(|r| r.given_up).collect();
    assert_eq!((retrying, given_up), (vec![1, 1, 0], vec![0, 0, 1]));
    let history = store.deliveries("gone", 10).await.unwrap();
    assert_eq!(
        (history[0].status.as_str(), history[0].attempts),
        ("failed", 3)
    );
    let error = history[0].last_error.as_deref().unwrap();
    assert!(error.contains("could not connect"), "{error}");
    assert!(
        !error.contains(&closed.to_string()),
        "no URL in the reason: {error}"
    );
    store.close().await;
}
