//! One suite every SQL backend must pass: SQLite always, PostgreSQL when
//! `CXM_TEST_POSTGRES_URL` names a server (CI sets it). Each test gets a fresh database.

use cxm_domain::AccessRole;
use cxm_domain::cases::{AlertRule, CaseStatus, Priority};
use cxm_sql::{
    AccountStore, ApiToken, AuditEntry, CaseChange, CaseFilter, CaseStore, NewCase, ReferenceRow,
    ReferenceStore, ReferenceTable, ScopeKind, SqlError, SqlStore, Target, TargetStore, TokenScope,
    UpsertCounts, User,
};

fn row(values: &[Option<&str>], hash: i64) -> ReferenceRow {
    ReferenceRow {
        values: values.iter().map(|v| v.map(str::to_owned)).collect(),
        row_hash: hash,
    }
}

fn person(id: &str, name: &str, hash: i64) -> ReferenceRow {
    row(&[Some(id), Some(name), None, Some("agent")], hash)
}

async fn upsert_classifies_and_is_idempotent(store: &SqlStore) {
    let first = vec![person("A-1", "Ana", 1), person("A-2", "Bo", 2)];
    let counts = store
        .upsert(ReferenceTable::People, &first, false)
        .await
        .unwrap();
    assert_eq!(
        counts,
        UpsertCounts {
            inserted: 2,
            replaced: 0,
            unchanged: 0
        }
    );
    let again = store
        .upsert(ReferenceTable::People, &first, false)
        .await
        .unwrap();
    assert_eq!(
        again,
        UpsertCounts {
            inserted: 0,
            replaced: 0,
            unchanged: 2
        }
    );
    let changed = vec![person("A-1", "Ana Lima", 3), person("A-3", "Cy", 4)];
    let counts = store
        .upsert(ReferenceTable::People, &changed, false)
        .await
        .unwrap();
    assert_eq!(
        counts,
        UpsertCounts {
            inserted: 1,
            replaced: 1,
            unchanged: 0
        }
    );
    let rows = store.rows(ReferenceTable::People).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], person("A-1", "Ana Lima", 3));
    assert_eq!(rows[0].values[2], None, "missing values stay NULL");
}

async fn last_row_of_a_key_wins_within_a_batch(store: &SqlStore) {
    let batch = vec![
        person("A-9", "First", 10),
        person("A-9", "Second", 11),
        person("A-9", "Second", 11),
    ];
    let counts = store
        .upsert(ReferenceTable::People, &batch, false)
        .await
        .unwrap();
    assert_eq!(
        counts,
        UpsertCounts {
            inserted: 1,
            replaced: 1,
            unchanged: 1
        }
    );
    let rows = store.rows(ReferenceTable::People).await.unwrap();
    assert_eq!(rows, vec![person("A-9", "Second", 11)]);
}

async fn dry_run_stores_nothing(store: &SqlStore) {
    let counts = store
        .upsert(ReferenceTable::People, &[person("A-1", "Ana", 1)], true)
        .await
        .unwrap();
    assert_eq!(counts.inserted, 1);
    assert!(store.rows(ReferenceTable::People).await.unwrap().is_empty());
}

async fn every_table_round_trips(store: &SqlStore) {
    let samples = [
        (
            ReferenceTable::Customers,
            row(
                &[
                    Some("C-1"),
                    Some("premium"),
                    None,
                    Some("2020-01-01T00:00:00.000000Z"),
                    Some("{\"plan\":\"gold\"}"),
                ],
                5,
            ),
        ),
        (
            ReferenceTable::OrgUnits,
            row(&[Some("T-1"), Some("Team 1"), Some("S-1"), Some("team")], 6),
        ),
        (ReferenceTable::People, person("A-1", "Ana", 7)),
        (
            ReferenceTable::Memberships,
            row(
                &[
                    Some("A-1;T-1;0"),
                    Some("A-1"),
                    Some("T-1"),
                    Some("2024-01-01T00:00:00.000000Z"),
                    None,
                ],
                8,
            ),
        ),
        (
            ReferenceTable::Topics,
            row(
                &[
                    Some("billing.refund"),
                    Some("Refund"),
                    Some("billing"),
                    Some("request"),
                    Some("[\"refund\"]"),
                ],
                i64::MIN,
            ),
        ),
    ];
    for (table, sample) in samples {
        store
            .upsert(table, std::slice::from_ref(&sample), false)
            .await
            .unwrap();
        assert_eq!(
            store.rows(table).await.unwrap(),
            vec![sample.clone()],
            "{}",
            table.name()
        );
        assert_eq!(
            store.keys(table).await.unwrap(),
            vec![sample.key().to_owned()]
        );
    }
}

async fn large_batches_cross_lookup_chunks(store: &SqlStore) {
    let batch: Vec<ReferenceRow> = (0..1_234)
        .map(|i| person(&format!("P-{i:05}"), "N", i))
        .collect();
    assert_eq!(
        store
            .upsert(ReferenceTable::People, &batch, false)
            .await
            .unwrap()
            .inserted,
        1_234
    );
    let mut changed = batch.clone();
    changed[1_200].row_hash = -1;
    let counts = store
        .upsert(ReferenceTable::People, &changed, false)
        .await
        .unwrap();
    assert_eq!(
        counts,
        UpsertCounts {
            inserted: 0,
            replaced: 1,
            unchanged: 1_233
        }
    );
}

async fn chunked_upserts_are_one_transaction(store: &SqlStore) {
    let table = ReferenceTable::People;
    // Chunks see each other's rows; nothing is visible before the commit.
    let mut session = store.begin_upsert(table, false).await.unwrap();
    let first = session
        .write(&[person("A-1", "Ana", 1), person("A-2", "Bo", 2)])
        .await
        .unwrap();
    let second = session
        .write(&[person("A-2", "Bea", 3), person("A-3", "Cy", 4)])
        .await
        .unwrap();
    assert_eq!(
        (first.inserted, second.inserted, second.replaced),
        (2, 1, 1)
    );
    assert!(store.keys(table).await.unwrap().is_empty());
    session.commit().await.unwrap();
    assert_eq!(store.keys(table).await.unwrap().len(), 3);
    assert_eq!(store.rows(table).await.unwrap()[1], person("A-2", "Bea", 3));

    // A session dropped without a commit (a failed ingest) leaves the table as it was.
    let mut session = store.begin_upsert(table, false).await.unwrap();
    session.write(&[person("A-4", "Di", 5)]).await.unwrap();
    drop(session);
    assert_eq!(store.keys(table).await.unwrap().len(), 3);

    // A dry run counts across chunks and stores nothing.
    let mut session = store.begin_upsert(table, true).await.unwrap();
    let counts = session.write(&[person("A-5", "Ed", 6)]).await.unwrap();
    let again = session.write(&[person("A-5", "Ed", 6)]).await.unwrap();
    assert_eq!((counts.inserted, again.unchanged), (1, 1));
    session.commit().await.unwrap();
    assert_eq!(store.keys(table).await.unwrap().len(), 3);
}

async fn targets_are_set_replaced_listed_and_removed(store: &SqlStore) {
    let target = |metric: &str, period: &str, value: f64| Target {
        metric: metric.to_owned(),
        scope_kind: ScopeKind::Unit,
        scope_id: "S01-T01".to_owned(),
        period: period.to_owned(),
        value,
        set_at: "2025-01-01T00:00:00Z".to_owned(),
    };
    store
        .set_target(&target("csat", "2025", 0.8))
        .await
        .unwrap();
    store.set_target(&target("csat", "*", 1.0)).await.unwrap();
    store
        .set_target(&target("csat", "2025", 0.85))
        .await
        .unwrap();
    store
        .set_target(&target("complaint_rate", "2025-03", 0.0))
        .await
        .unwrap();
    let all = store.targets().await.unwrap();
    assert_eq!(
        all,
        vec![
            target("complaint_rate", "2025-03", 0.0),
            target("csat", "*", 1.0),
            target("csat", "2025", 0.85),
        ],
        "setting a target again replaces its value"
    );
    assert!(
        store
            .remove_target("csat", ScopeKind::Unit, "S01-T01", "*")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_target("csat", ScopeKind::Unit, "S01-T01", "*")
            .await
            .unwrap()
    );
    assert_eq!(store.targets().await.unwrap().len(), 2);
}

fn account(username: &str, role: AccessRole, person: Option<&str>) -> User {
    User {
        username: username.into(),
        display_name: username.to_uppercase(),
        role,
        person_id: person.map(str::to_owned),
        unit_id: None,
        disabled: false,
        created_at: "2026-01-01T00:00:00.000000Z".into(),
    }
}

async fn accounts_sessions_tokens_and_the_audit_log(store: &SqlStore) {
    let ana = account("ana", AccessRole::Agent, Some("A-1"));
    store.add_user(&ana, "hash-1").await.unwrap();
    store
        .add_user(&account("bo", AccessRole::Manager, None), "hash-2")
        .await
        .unwrap();
    assert!(matches!(
        store.add_user(&ana, "other").await,
        Err(SqlError::Conflict(_))
    ));
    let users = store.users().await.unwrap();
    assert_eq!(
        users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["ana", "bo"]
    );
    assert_eq!(users[0], ana);
    let credentials = store.credentials("ana").await.unwrap().unwrap();
    assert_eq!(credentials.password_hash, "hash-1");
    assert!(store.credentials("cy").await.unwrap().is_none());

    assert!(
        store
            .set_role("bo", AccessRole::Lead, Some("T1"))
            .await
            .unwrap()
    );
    assert!(!store.set_role("cy", AccessRole::Lead, None).await.unwrap());
    let bo = store.credentials("bo").await.unwrap().unwrap().user;
    assert_eq!(
        (bo.role, bo.unit_id.as_deref()),
        (AccessRole::Lead, Some("T1"))
    );
    assert!(store.set_password("bo", "hash-3").await.unwrap());
    assert_eq!(
        store
            .credentials("bo")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "hash-3"
    );

    // Sessions: live until they expire or their user is disabled.
    let (at, until, now) = (
        "2026-01-01T10:00:00.000000Z",
        "2026-01-01T22:00:00.000000Z",
        "2026-01-01T12:00:00.000000Z",
    );
    store
        .create_session("s1", "ana", "c1", at, until)
        .await
        .unwrap();
    store
        .create_session("s2", "bo", "c2", at, until)
        .await
        .unwrap();
    let session = store.session("s1", now).await.unwrap().unwrap();
    assert_eq!(
        (session.user.username.as_str(), session.csrf.as_str()),
        ("ana", "c1")
    );
    assert!(
        store
            .session("s1", "2026-01-02T00:00:00.000000Z")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session("nope", now).await.unwrap().is_none());
    assert!(store.set_disabled("ana", true).await.unwrap());
    assert!(store.session("s1", now).await.unwrap().is_none());
    assert!(store.set_disabled("ana", false).await.unwrap());
    assert!(
        store.session("s1", now).await.unwrap().is_none(),
        "disabling ended it"
    );
    store.delete_session("s2").await.unwrap();
    assert!(store.session("s2", now).await.unwrap().is_none());
    store
        .create_session("s3", "bo", "c3", at, now)
        .await
        .unwrap();
    assert_eq!(store.purge_sessions(until).await.unwrap(), 1);

    // Tokens: found while not revoked, listed without secrets.
    let token = ApiToken {
        id: "t1".into(),
        name: "telephony".into(),
        scope: TokenScope::Ingest,
        created_by: "cli".into(),
        created_at: at.into(),
        revoked: false,
    };
    store.create_token(&token, "secret-hash").await.unwrap();
    assert!(matches!(
        store.create_token(&token, "x").await,
        Err(SqlError::Conflict(_))
    ));
    assert_eq!(
        store.live_token("t1").await.unwrap(),
        Some((token.clone(), "secret-hash".to_owned()))
    );
    assert!(store.revoke_token("t1").await.unwrap());
    assert!(!store.revoke_token("t1").await.unwrap());
    assert!(store.live_token("t1").await.unwrap().is_none());
    let listed = store.tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked);

    for (i, action) in ["sign-in", "ingest", "role-change"].iter().enumerate() {
        store
            .audit(&AuditEntry {
                at: format!("2026-01-01T10:00:0{i}.000000Z"),
                actor: "ana".into(),
                action: (*action).into(),
                detail: format!("#{i}"),
            })
            .await
            .unwrap();
    }
    let log = store.audit_log(2).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["role-change", "ingest"]
    );
}

fn new_case(rule: &str, customer: &str, trigger: &str, unit: &str, due: &str) -> NewCase {
    NewCase {
        rule_id: rule.into(),
        customer_id: customer.into(),
        trigger_id: trigger.into(),
        triggered_at: "2025-03-01T10:00:00Z".into(),
        triggered_micros: 1_740_823_200_000_000,
        summary: format!("{rule} fired for {customer}"),
        agent_id: Some("A-1".into()),
        unit_id: Some(unit.into()),
        owner_id: Some("L-1".into()),
        priority: Priority::High,
        opened_at: "2025-03-01T10:05:00Z".into(),
        due_at: due.into(),
    }
}

async fn rules_are_seeded_once_and_edited(store: &SqlStore) {
    let defaults = AlertRule::defaults();
    assert_eq!(
        store
            .seed_rules(&defaults, "2025-01-01T00:00:00Z")
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .seed_rules(&defaults, "2025-01-02T00:00:00Z")
            .await
            .unwrap(),
        0
    );
    let mut rule = defaults[0].clone();
    rule.enabled = false;
    rule.cooldown_days = 30;
    store
        .set_rule(&rule, "ana", "2025-01-03T00:00:00Z")
        .await
        .unwrap();
    let rules = store.rules().await.unwrap();
    assert_eq!(rules.len(), 4);
    let stored = rules
        .iter()
        .find(|r| r.rule.rule_id == "detractor")
        .unwrap();
    assert_eq!(
        (stored.rule.clone(), stored.updated_by.as_str()),
        (rule, "ana")
    );
}

async fn cases_open_once_per_trigger(store: &SqlStore) {
    let cases = vec![
        new_case("detractor", "C-1", "R-1", "T-1", "2025-03-02T10:05:00Z"),
        new_case("detractor", "C-2", "R-2", "T-2", "2025-03-01T14:05:00Z"),
    ];
    assert_eq!(store.open_cases(&cases).await.unwrap(), 2);
    // the same triggers again, and one new: only the new one opens
    let mut again = cases.clone();
    again.push(new_case(
        "detractor",
        "C-1",
        "R-3",
        "T-1",
        "2025-03-03T10:05:00Z",
    ));
    assert_eq!(store.open_cases(&again).await.unwrap(), 1);
    let all = CaseFilter {
        limit: 100,
        ..Default::default()
    };
    let listed = store.cases(&all).await.unwrap();
    // most urgent first
    let triggers: Vec<_> = listed.iter().map(|c| c.trigger_id.as_str()).collect();
    assert_eq!(triggers, ["R-2", "R-1", "R-3"]);
    assert!(
        listed
            .iter()
            .all(|c| c.status == CaseStatus::Open && c.version == 1)
    );
    let team_one = CaseFilter {
        units: Some(vec!["T-1".into()]),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.count_cases(&team_one).await.unwrap(), 2);
    let nobody = CaseFilter {
        units: Some(vec![]),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.count_cases(&nobody).await.unwrap(), 0);
    let triggers = store.case_triggers().await.unwrap();
    let mut c1 = triggers[&("detractor".to_owned(), "C-1".to_owned())].clone();
    c1.sort();
    assert_eq!(
        c1.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ["R-1", "R-3"]
    );
    let (case, events) = store.case(listed[0].case_id).await.unwrap().unwrap();
    assert_eq!(case, listed[0]);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind.as_str(), events[0].actor.as_str()),
        ("opened", "rule:detractor")
    );
    assert!(store.case(999_999).await.unwrap().is_none());
}

async fn case_workflow_refuses_bad_moves_and_stale_edits(store: &SqlStore) {
    store
        .open_cases(&[new_case(
            "complaint",
            "C-1",
            "I-1",
            "T-1",
            "2025-03-02T10:05:00Z",
        )])
        .await
        .unwrap();
    let id = store
        .cases(&CaseFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .case_id;
    let at = |minute: u32| format!("2025-03-01T11:{minute:02}:00Z");
    let change = |version, status| CaseChange {
        version,
        status: Some(status),
        ..Default::default()
    };

    // open → closed skips resolving: refused, nothing changes
    let refused = store
        .update_case(id, &change(1, CaseStatus::Closed), "lea", &at(1))
        .await;
    assert!(
        matches!(&refused, Err(SqlError::Refused(m)) if m.contains("cannot become closed")),
        "{refused:?}"
    );
    let started = store
        .update_case(id, &change(1, CaseStatus::InProgress), "lea", &at(2))
        .await
        .unwrap();
    assert_eq!(
        (started.status, started.version),
        (CaseStatus::InProgress, 2)
    );
    assert_eq!(started.first_action_at.as_deref(), Some(at(2).as_str()));
    // an editor still holding version 1 is refused
    let stale = store
        .update_case(id, &change(1, CaseStatus::Resolved), "max", &at(3))
        .await;
    assert!(matches!(stale, Err(SqlError::Stale(_))), "{stale:?}");
    let resolved = store
        .update_case(
            id,
            &CaseChange {
                version: 2,
                status: Some(CaseStatus::Resolved),
                root_cause: Some("billing.a".into()),
                customer_reached: Some(true),
                issue_fixed: Some(true),
                note: Some("called back, refund issued".into()),
                ..Default::default()
            },
            "lea",
            &at(4),
        )
        .await
        .unwrap();
    assert_eq!(resolved.resolved_at.as_deref(), Some(at(4).as_str()));
    assert_eq!(
        (resolved.customer_reached, resolved.issue_fixed),
        (Some(true), Some(true))
    );
    let closed = store
        .update_case(id, &change(3, CaseStatus::Closed), "lea", &at(5))
        .await
        .unwrap();
    assert_eq!(closed.closed_at.as_deref(), Some(at(5).as_str()));
    let reopened = store
        .update_case(id, &change(4, CaseStatus::Open), "lea", &at(6))
        .await
        .unwrap();
    assert_eq!(
        (reopened.resolved_at.clone(), reopened.closed_at.clone()),
        (None, None)
    );
    // first action stays the first
    assert_eq!(reopened.first_action_at.as_deref(), Some(at(2).as_str()));
    let empty = store
        .update_case(
            id,
            &CaseChange {
                version: 5,
                ..Default::default()
            },
            "lea",
            &at(7),
        )
        .await;
    assert!(matches!(empty, Err(SqlError::Refused(_))));
    let missing = store
        .update_case(424_242, &change(1, CaseStatus::Resolved), "lea", &at(7))
        .await;
    assert!(matches!(missing, Err(SqlError::NotFound(_))));

    let (case, events) = store.case(id).await.unwrap().unwrap();
    assert_eq!(case, reopened);
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "status",
            "status",
            "root_cause",
            "outcome",
            "note",
            "status",
            "status"
        ]
    );
    let moves: Vec<_> = events
        .iter()
        .filter_map(|e| Some((e.from_status.as_deref()?, e.to_status.as_deref()?)))
        .collect();
    assert_eq!(
        moves,
        [
            ("open", "in_progress"),
            ("in_progress", "resolved"),
            ("resolved", "closed"),
            ("closed", "open")
        ]
    );
}

async fn concurrent_case_edits_lose_no_update(store: &SqlStore) {
    store
        .open_cases(&[new_case(
            "complaint",
            "C-9",
            "I-9",
            "T-1",
            "2025-03-02T10:05:00Z",
        )])
        .await
        .unwrap();
    let id = store
        .cases(&CaseFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .case_id;
    // Eight editors read version 1 and each adds a note at once: exactly one wins, the
    // others are told to reload, and the timeline holds exactly the winner's note.
    let edits = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let change = CaseChange {
                version: 1,
                note: Some(format!("note {i}")),
                ..Default::default()
            };
            store
                .update_case(id, &change, &format!("editor{i}"), "2025-03-01T12:00:00Z")
                .await
        })
    });
    let results = futures::future::join_all(edits).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let stale = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(SqlError::Stale(_)))))
        .count();
    assert_eq!((won, stale), (1, 7), "{results:?}");
    let (case, events) = store.case(id).await.unwrap().unwrap();
    assert_eq!(case.version, 2);
    assert_eq!(events.iter().filter(|e| e.kind == "note").count(), 1);
}

/// What to clean up after a test: a temporary directory or a PostgreSQL database.
enum Fresh {
    Directory(#[allow(dead_code)] tempfile::TempDir),
    Database(String),
}

impl Fresh {
    async fn drop_database(self) {
        use sqlx::Connection;
        if let Fresh::Database(url) = self {
            let (server, name) = url.rsplit_once('/').unwrap();
            let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres"))
                .await
                .unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

macro_rules! store_suite {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;

            async fn fresh() -> Option<(SqlStore, Fresh)> {
                $open.await
            }

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        let Some((store, fresh)) = fresh().await else {
                            eprintln!("skipped: CXM_TEST_POSTGRES_URL is not set");
                            return;
                        };
                        super::$name(&store).await;
                        store.close().await;
                        fresh.drop_database().await;
                    }
                };
            }

            case!(upsert_classifies_and_is_idempotent);
            case!(last_row_of_a_key_wins_within_a_batch);
            case!(dry_run_stores_nothing);
            case!(every_table_round_trips);
            case!(large_batches_cross_lookup_chunks);
            case!(chunked_upserts_are_one_transaction);
            case!(targets_are_set_replaced_listed_and_removed);
            case!(accounts_sessions_tokens_and_the_audit_log);
            case!(rules_are_seeded_once_and_edited);
            case!(cases_open_once_per_trigger);
            case!(case_workflow_refuses_bad_moves_and_stale_edits);
            case!(concurrent_case_edits_lose_no_update);
        }
    };
}

store_suite!(sqlite, async {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("test.sqlite"))
        .await
        .unwrap();
    Some((store, Fresh::Directory(dir)))
});

store_suite!(postgres, async {
    let base = std::env::var("CXM_TEST_POSTGRES_URL").ok()?;
    // A fresh database per test, next to the one the URL names.
    let name = format!("cxm_test_{}", uuid::Uuid::new_v4().simple());
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("CXM_TEST_POSTGRES_URL {base:?} has no database part"),
    };
    let store = SqlStore::connect(&url).await.unwrap();
    Some((store, Fresh::Database(url)))
});
