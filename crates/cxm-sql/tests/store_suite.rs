//! One suite every SQL backend must pass: SQLite always, PostgreSQL when
//! `CXM_TEST_POSTGRES_URL` names a server (CI sets it). Each test gets a fresh database.

use cxm_domain::AccessRole;
use cxm_domain::cases::{AlertRule, CaseStatus, Priority};
use cxm_domain::ideas::{IdeaStatus, InitiativePlan, NewIdea, PriorityInputs};
use cxm_domain::notify::{EventKind, Webhook};
use cxm_domain::recognition::{Evidence, KudosSource, NewStory};
use cxm_sql::{
    AccountStore, ApiToken, AttemptOutcome, AuditEntry, CaseChange, CaseFilter, CaseStore,
    IdeaChange, IdeaFilter, IdeaStore, NewCase, NewKudos, NotifyStore, RecognitionFilter,
    RecognitionStore, ReferenceRow, ReferenceStore, ReferenceTable, ScopeKind, SqlError, SqlStore,
    Target, TargetStore, TokenScope, UpsertCounts, User,
};
use cxm_sql::{CustomerValueStore, ValueSnapshot};

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
        5
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
    assert_eq!(rules.len(), 5);
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
    // the owner is told of each case opened, once
    assert_eq!(store.unread_count("L-1").await.unwrap(), 3);
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
    let customers = ["C-1", "C-2", "C-9", "C-1"];
    let triggers = store
        .case_triggers("detractor", &customers, None)
        .await
        .unwrap();
    assert_eq!(triggers.len(), 2, "C-9 has no case: {triggers:?}");
    // from a time on: the cases triggered then or later
    let at = 1_740_823_200_000_000;
    let later = |from| store.case_triggers("detractor", &customers, Some(from));
    assert_eq!(later(at).await.unwrap(), triggers);
    assert!(later(at + 1).await.unwrap().is_empty());
    // only the customers and the rule asked for
    let one = store
        .case_triggers("detractor", &["C-2"], None)
        .await
        .unwrap();
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        [&("detractor".to_owned(), "C-2".to_owned())]
    );
    assert!(
        store
            .case_triggers("complaint", &customers, None)
            .await
            .unwrap()
            .is_empty()
    );
    // more customers than one statement holds
    let many: Vec<String> = (0..5_000).map(|n| format!("C-{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        store.case_triggers("detractor", &many, None).await.unwrap(),
        triggers
    );
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
    // a page lists the case as it is stored, every column
    let every = CaseFilter {
        limit: 1_000,
        ..Default::default()
    };
    count(store, &every).await;
    assert!(
        store
            .listed_cases(&every)
            .await
            .unwrap()
            .0
            .contains(&closed)
    );
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

/// Counts that one process keeps follow the changes another process makes: new cases,
/// status moves and hand-overs all change what the first one counts next.
async fn case_counts_follow_changes_made_elsewhere(store: &SqlStore, other: &SqlStore) {
    let due = "2025-03-02T10:05:00Z";
    store
        .open_cases(&[
            new_case("detractor", "C-1", "R-1", "T-1", due),
            new_case("detractor", "C-2", "R-2", "T-1", due),
            new_case("detractor", "C-3", "R-3", "T-2", due),
        ])
        .await
        .unwrap();
    let active = CaseFilter {
        statuses: vec![CaseStatus::Open, CaseStatus::InProgress],
        limit: 100,
        ..Default::default()
    };
    let team_one = CaseFilter {
        units: Some(vec!["T-1".into()]),
        ..active.clone()
    };
    let owned_by = |owner: &str| CaseFilter {
        owner_id: Some(owner.into()),
        ..active.clone()
    };
    let counts = || async {
        (
            count(store, &active).await,
            count(store, &team_one).await,
            count(store, &owned_by("L-1")).await,
            count(store, &owned_by("L-2")).await,
        )
    };
    assert_eq!(counts().await, (3, 2, 3, 0));
    // asked again with nothing changed: the same
    assert_eq!(counts().await, (3, 2, 3, 0));

    // another process opens a case of team one
    let opened = other
        .open_cases(&[new_case("detractor", "C-4", "R-4", "T-1", due)])
        .await
        .unwrap();
    assert_eq!(opened, 1);
    assert_eq!(counts().await, (4, 3, 4, 0));
    // the same trigger again opens nothing and changes no count
    assert_eq!(
        other
            .open_cases(&[new_case("detractor", "C-4", "R-4", "T-1", due)])
            .await
            .unwrap(),
        0
    );
    assert_eq!(counts().await, (4, 3, 4, 0));

    let id_of = |trigger: &'static str| async move {
        let all = other
            .cases(&CaseFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        let case = all.into_iter().find(|c| c.trigger_id == trigger).unwrap();
        (case.case_id, case.version)
    };
    // it resolves one of team one's cases: no longer active
    let (id, version) = id_of("R-1").await;
    let resolve = CaseChange {
        status: Some(CaseStatus::Resolved),
        ..Default::default()
    };
    work(other, id, version, &resolve).await;
    assert_eq!(counts().await, (3, 2, 3, 0));
    // and hands another to a second lead
    let (id, version) = id_of("R-3").await;
    let hand_over = CaseChange {
        owner_id: Some("L-2".into()),
        ..Default::default()
    };
    work(other, id, version, &hand_over).await;
    assert_eq!(counts().await, (3, 2, 2, 1));
    // a note changes no count; the counts stay right
    let note = CaseChange {
        note: Some("called back".into()),
        ..Default::default()
    };
    work(other, id, version + 1, &note).await;
    assert_eq!(counts().await, (3, 2, 2, 1));
    // the first process's own changes count too
    let (id, version) = id_of("R-2").await;
    work(store, id, version, &resolve).await;
    assert_eq!(counts().await, (2, 1, 1, 1));
    assert_eq!(other.count_cases(&team_one).await.unwrap(), 1);
}

/// How many cases match `filter`, as counted alone and as a page of the list shows it
/// (which must agree, with the page's cases those listed alone).
async fn count(store: &SqlStore, filter: &CaseFilter) -> u64 {
    let (listed, total) = store.listed_cases(filter).await.unwrap();
    assert_eq!(
        store.count_cases(filter).await.unwrap(),
        total,
        "{filter:?}"
    );
    assert_eq!(listed, store.cases(filter).await.unwrap(), "{filter:?}");
    assert_eq!(listed.len() as u64, total.min(u64::from(filter.limit)));
    // a list too long to be read as one row says the same
    let long = CaseFilter {
        limit: 5_000,
        ..filter.clone()
    };
    let (all, also) = store.listed_cases(&long).await.unwrap();
    assert_eq!(also, total, "{filter:?}");
    assert_eq!(all, store.cases(&long).await.unwrap(), "{filter:?}");
    total
}

/// Applies `change` to case `id` as read at `version`.
async fn work(store: &SqlStore, id: i64, version: i64, change: &CaseChange) {
    let change = CaseChange {
        version,
        ..change.clone()
    };
    store
        .update_case(id, &change, "lea", "2025-03-01T12:00:00Z")
        .await
        .unwrap();
}

fn hook(id: &str, events: &[EventKind], enabled: bool) -> Webhook {
    Webhook {
        webhook_id: id.into(),
        url: format!("https://{id}.example/in"),
        events: events.to_vec(),
        enabled,
    }
}

async fn case_events_are_queued_for_webhooks_and_owners(store: &SqlStore) {
    let at = "2025-03-01T10:00:00Z";
    // a new webhook needs a secret; an existing one keeps its own
    let refused = store
        .set_webhook(
            &hook("crm", &[EventKind::CaseOpened], true),
            None,
            "admin",
            at,
        )
        .await;
    assert!(matches!(refused, Err(SqlError::Refused(_))), "{refused:?}");
    let all = [EventKind::CaseOpened, EventKind::CaseUpdated];
    store
        .set_webhook(
            &hook("crm", &all, true),
            Some("s3cret-s3cret-s3cret"),
            "admin",
            at,
        )
        .await
        .unwrap();
    store
        .set_webhook(&hook("crm", &all, true), None, "admin", at)
        .await
        .unwrap();
    store
        .set_webhook(
            &hook("opened-only", &[EventKind::CaseOpened], true),
            Some("another-secret-0000"),
            "admin",
            at,
        )
        .await
        .unwrap();
    store
        .set_webhook(
            &hook("off", &all, false),
            Some("disabled-secret-000"),
            "admin",
            at,
        )
        .await
        .unwrap();
    let hooks = store.webhooks().await.unwrap();
    assert_eq!(
        hooks
            .iter()
            .map(|h| h.webhook.webhook_id.as_str())
            .collect::<Vec<_>>(),
        ["crm", "off", "opened-only"]
    );
    assert_eq!(hooks[0].webhook.events, all);

    // two cases open: each is queued for the two enabled webhooks, and its owner is told
    let cases = [
        new_case("detractor", "C-1", "R-1", "T-1", "2025-03-02T10:05:00Z"),
        NewCase {
            owner_id: None,
            ..new_case("detractor", "C-2", "R-2", "T-2", "2025-03-02T11:05:00Z")
        },
    ];
    assert_eq!(store.open_cases(&cases).await.unwrap(), 2);
    assert_eq!(store.open_cases(&cases).await.unwrap(), 0, "nothing twice");
    let hooks = store.webhooks().await.unwrap();
    let pending: Vec<u64> = hooks.iter().map(|h| h.pending).collect();
    assert_eq!(pending, [2, 0, 2], "the disabled webhook gets nothing");
    let inbox = store.notifications("L-1", false, 10).await.unwrap();
    assert_eq!(inbox.len(), 1, "the unowned case tells nobody: {inbox:?}");
    let first = store
        .cases(&CaseFilter {
            customer_id: Some("C-1".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(inbox[0].case_id, first.case_id);
    assert_eq!(inbox[0].event, "case.opened");
    assert!(
        inbox[0].message.contains("detractor fired for C-1"),
        "{}",
        inbox[0].message
    );
    assert_eq!(
        inbox[0].message,
        format!(
            "Case {} is yours: {} (due {})",
            first.case_id, first.summary, first.due_at
        )
    );

    // an update goes only to webhooks that want updates; handing the case over tells the
    // new owner
    let change = CaseChange {
        version: 1,
        owner_id: Some("L-2".into()),
        note: Some("yours now".into()),
        ..Default::default()
    };
    store
        .update_case(first.case_id, &change, "manager", "2025-03-01T12:00:00Z")
        .await
        .unwrap();
    let pending: Vec<u64> = store
        .webhooks()
        .await
        .unwrap()
        .iter()
        .map(|h| h.pending)
        .collect();
    assert_eq!(pending, [3, 0, 2]);
    let handed = store.notifications("L-2", true, 10).await.unwrap();
    assert_eq!(handed.len(), 1);
    assert!(
        handed[0].message.contains("handed to you by manager"),
        "{}",
        handed[0].message
    );
    assert_eq!(store.unread_count("L-1").await.unwrap(), 1);

    // claiming: due deliveries once each, oldest first, until their lease runs out
    let now = 4_000_000_000_000_000;
    let claimed = store
        .claim_deliveries(now, now + 60_000_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    assert!(claimed.iter().all(|d| d.attempts == 0));
    let crm: Vec<&str> = claimed
        .iter()
        .filter(|d| d.webhook_id == "crm")
        .map(|d| d.event_key.as_str())
        .collect();
    let id = first.case_id;
    assert!(
        crm.contains(&format!("case-{id}-opened").as_str()),
        "{crm:?}"
    );
    assert!(crm.contains(&format!("case-{id}-v2").as_str()), "{crm:?}");
    let update = claimed
        .iter()
        .find(|d| d.event_key == format!("case-{id}-v2"))
        .unwrap();
    assert_eq!(update.url, "https://crm.example/in");
    assert_eq!(update.secret, "s3cret-s3cret-s3cret");
    let payload: serde_json::Value = serde_json::from_str(&update.payload).unwrap();
    assert_eq!(payload["event"], "case.updated");
    assert_eq!(payload["case"]["owner_id"], "L-2");
    assert_eq!(payload["case"]["version"], 2);
    assert!(
        store
            .claim_deliveries(now, now + 60_000_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed ones are leased"
    );
    let again = store
        .claim_deliveries(now + 60_000_000, now + 120_000_000, 10)
        .await
        .unwrap();
    assert_eq!(
        again.len(),
        5,
        "a lease that ran out (the sender died) falls due again"
    );

    // the first sender's claim ran out: its late result is not recorded
    let first_claim = claimed[0].lease_micros;
    assert!(
        !store
            .record_attempt(
                claimed[0].delivery_id,
                first_claim,
                "t0",
                &AttemptOutcome::Delivered
            )
            .await
            .unwrap()
    );

    // attempts: delivered, retried later, given up
    let (ok, retry, give_up) = (&again[0], &again[1], &again[2]);
    assert_eq!(ok.lease_micros, now + 120_000_000);
    assert!(
        store
            .record_attempt(
                ok.delivery_id,
                ok.lease_micros,
                "t1",
                &AttemptOutcome::Delivered
            )
            .await
            .unwrap()
    );
    store
        .record_attempt(
            retry.delivery_id,
            retry.lease_micros,
            "t1",
            &AttemptOutcome::Retry {
                error: "HTTP 503".into(),
                next_attempt_micros: now + 500_000_000,
            },
        )
        .await
        .unwrap();
    store
        .record_attempt(
            give_up.delivery_id,
            give_up.lease_micros,
            "t1",
            &AttemptOutcome::GiveUp {
                error: "HTTP 410".into(),
            },
        )
        .await
        .unwrap();
    let later = store
        .claim_deliveries(now + 500_000_000, now + 560_000_000, 10)
        .await
        .unwrap();
    let ids: Vec<i64> = later.iter().map(|d| d.delivery_id).collect();
    assert!(
        ids.contains(&retry.delivery_id)
            && !ids.contains(&ok.delivery_id)
            && !ids.contains(&give_up.delivery_id)
    );
    assert_eq!(
        later
            .iter()
            .find(|d| d.delivery_id == retry.delivery_id)
            .unwrap()
            .attempts,
        1
    );
    let history = store.deliveries(&ok.webhook_id, 10).await.unwrap();
    let delivered = history
        .iter()
        .find(|d| d.delivery_id == ok.delivery_id)
        .unwrap();
    assert_eq!(
        (delivered.status.as_str(), delivered.attempts),
        ("delivered", 1)
    );
    assert_eq!(delivered.delivered_at.as_deref(), Some("t1"));

    // removing a webhook removes its queue
    assert!(store.remove_webhook("opened-only").await.unwrap());
    assert!(!store.remove_webhook("opened-only").await.unwrap());
    assert!(
        store
            .deliveries("opened-only", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // the inbox: read some, then all
    let unread = store.notifications("L-2", true, 10).await.unwrap();
    assert_eq!(
        store
            .mark_read(
                "L-2",
                Some(&[unread[0].notification_id]),
                "2025-03-01T13:00:00Z"
            )
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.mark_read("L-2", None, "t").await.unwrap(),
        0,
        "nothing left unread"
    );
    assert_eq!(
        store
            .mark_read("L-2", Some(&[inbox[0].notification_id]), "t")
            .await
            .unwrap(),
        0,
        "another person's notification is not theirs to mark"
    );
    assert_eq!(store.mark_read("L-1", None, "t").await.unwrap(), 1);
    let read = store.notifications("L-2", false, 10).await.unwrap();
    assert_eq!(read[0].read_at.as_deref(), Some("2025-03-01T13:00:00Z"));
}

async fn closed_cases_count_their_root_causes(store: &SqlStore) {
    let cases: Vec<NewCase> = (0..4)
        .map(|i| {
            new_case(
                "complaint",
                &format!("C-{i}"),
                &format!("I-{i}"),
                if i < 3 { "T-1" } else { "T-2" },
                "2025-03-05T00:00:00Z",
            )
        })
        .collect();
    store.open_cases(&cases).await.unwrap();
    let all = CaseFilter {
        limit: 10,
        ..Default::default()
    };
    let listed = store.cases(&all).await.unwrap();
    // three closed with root causes (one fixed, one closed in April), one left open
    for (case, code, fixed, closed_at) in [
        (&listed[0], "bill.wrong", true, "2025-03-02T00:00:00Z"),
        (&listed[1], "bill.wrong", false, "2025-03-03T00:00:00Z"),
        (&listed[2], "late.delivery", false, "2025-04-02T00:00:00Z"),
    ] {
        let resolve = CaseChange {
            version: 1,
            status: Some(CaseStatus::Resolved),
            root_cause: Some(code.into()),
            issue_fixed: Some(fixed),
            ..Default::default()
        };
        store
            .update_case(case.case_id, &resolve, "lead", "2025-03-01T12:00:00Z")
            .await
            .unwrap();
        let close = CaseChange {
            version: 2,
            status: Some(CaseStatus::Closed),
            ..Default::default()
        };
        store
            .update_case(case.case_id, &close, "lead", closed_at)
            .await
            .unwrap();
    }
    let march = store
        .closed_root_causes(&all, "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(march, [("bill.wrong".to_owned(), 2, 1)]);
    let spring = store
        .closed_root_causes(&all, "2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(spring.len(), 2);
    let team_two = CaseFilter {
        units: Some(vec!["T-2".into()]),
        limit: 10,
        ..Default::default()
    };
    let none = store
        .closed_root_causes(&team_two, "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

/// Repeat-contact cases of team T-1 for customers `C-{i}` and triggers `I-{i}`, due at
/// `due(i)`.
fn numbered_cases(range: std::ops::Range<usize>, due: impl Fn(usize) -> String) -> Vec<NewCase> {
    range
        .map(|i| {
            let (customer, trigger) = (format!("C-{i}"), format!("I-{i}"));
            new_case("repeat-contacts", &customer, &trigger, "T-1", &due(i))
        })
        .collect()
}

fn sorted(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids
}

async fn many_cases_open_in_multi_row_statements(store: &SqlStore) {
    // more than one statement's worth, with a repeated trigger inside the batch
    let mut cases = numbered_cases(0..1_203, |i| {
        format!("2025-04-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60)
    });
    cases.push(cases[700].clone());
    assert_eq!(store.open_cases(&cases).await.unwrap(), 1_203);
    let all = CaseFilter {
        limit: 2_000,
        ..Default::default()
    };
    let listed = store.cases(&all).await.unwrap();
    assert_eq!(listed.len(), 1_203);
    for case in &listed {
        let (_, events) = store.case(case.case_id).await.unwrap().unwrap();
        assert_eq!(events.len(), 1, "case {} has one opening", case.case_id);
        let opening = &events[0];
        assert_eq!(
            (
                opening.kind.as_str(),
                opening.actor.as_str(),
                opening.at.as_str(),
                opening.note.as_str(),
                opening.to_status.as_deref()
            ),
            (
                "opened",
                "rule:repeat-contacts",
                case.opened_at.as_str(),
                case.summary.as_str(),
                Some("open")
            ),
            "case {}'s opening is its own",
            case.case_id
        );
        let i: usize = case.customer_id[2..].parse().unwrap();
        assert_eq!(
            case.trigger_id,
            format!("I-{i}"),
            "ids stay with their cases"
        );
    }
    assert_eq!(store.unread_count("L-1").await.unwrap(), 1_203);
    // Another batch whose third statement holds a trigger that has its case: the
    // statements before it stay, and that one opens all but the taken trigger.
    let mut more = numbered_cases(1_203..1_703, |_| "2025-04-02T00:00:00Z".to_owned());
    more.insert(400, cases[5].clone());
    assert_eq!(store.open_cases(&more).await.unwrap(), 500);
    let listed = store.cases(&all).await.unwrap();
    let mut customers: Vec<usize> = listed
        .iter()
        .map(|case| case.customer_id[2..].parse().unwrap())
        .collect();
    customers.sort_unstable();
    assert_eq!(customers, (0..1_703).collect::<Vec<_>>());
    assert_eq!(store.unread_count("L-1").await.unwrap(), 1_703);
    assert_eq!(store.count_cases(&all).await.unwrap(), 1_703);
    // A batch whose whole first statement is taken: its cases are those of the next.
    let mut again = numbered_cases(0..400, |_| "2025-04-03T00:00:00Z".to_owned());
    again.extend(numbered_cases(1_703..1_713, |_| {
        "2025-04-03T00:00:00Z".to_owned()
    }));
    assert_eq!(store.open_cases(&again).await.unwrap(), 10);
    let listed = store.cases(&all).await.unwrap();
    assert_eq!(listed.len(), 1_713);
    // one notification for each case opened, none twice
    let notified = store.notifications("L-1", false, 2_000).await.unwrap();
    assert_eq!(
        sorted(notified.iter().map(|n| n.case_id)),
        sorted(listed.iter().map(|case| case.case_id)),
        "each case opened notifies its owner once"
    );
    // A page of 1,000 (one row) and a longer list (a row a case) agree with the cases
    // read alone, down to text that JSON escapes.
    let mut odd = new_case(
        "repeat-contacts",
        "C-odd",
        "I-odd",
        "T-1",
        "2025-01-01T00:00:00Z",
    );
    odd.summary = "\"quoted\" \\ back\u{1}slash\nnew line, ünïcode ✓ 😀".to_owned();
    odd.agent_id = None;
    assert_eq!(store.open_cases(&[odd.clone()]).await.unwrap(), 1);
    for limit in [1_000, 5_000] {
        let filter = CaseFilter {
            limit,
            ..Default::default()
        };
        let (page, total) = store.listed_cases(&filter).await.unwrap();
        assert_eq!(total, 1_714);
        assert_eq!(page.len() as u64, total.min(u64::from(limit)));
        assert_eq!(page[0].summary, odd.summary, "most urgent first");
        assert_eq!(page[0].agent_id, None);
        assert_eq!(page, store.cases(&filter).await.unwrap());
    }
    // With a webhook announcing new cases, a batch of more than the 2,000 cases read back
    // at a time queues each of its cases once, and no other.
    store
        .set_webhook(
            &hook("crm", &[EventKind::CaseOpened], true),
            Some("s3cret-s3cret-s3cret"),
            "admin",
            "2025-04-04T00:00:00Z",
        )
        .await
        .unwrap();
    let batch = numbered_cases(1_713..3_813, |_| "2025-04-04T00:00:00Z".to_owned());
    assert_eq!(store.open_cases(&batch).await.unwrap(), 2_100);
    let queued = store.deliveries("crm", 5_000).await.unwrap();
    let every = CaseFilter {
        limit: 5_000,
        ..Default::default()
    };
    let batch_ids = sorted(
        store
            .cases(&every)
            .await
            .unwrap()
            .iter()
            .filter(|case| {
                case.customer_id[2..]
                    .parse::<usize>()
                    .is_ok_and(|i| i >= 1_713)
            })
            .map(|case| case.case_id),
    );
    assert_eq!(batch_ids.len(), 2_100);
    assert_eq!(
        sorted(queued.iter().map(|delivery| delivery.case_id)),
        batch_ids
    );
}

fn new_idea(title: &str) -> NewIdea {
    NewIdea {
        title: title.into(),
        problem: "Customers wait on hold at peak".into(),
        proposal: "Offer a callback".into(),
        topics: vec!["billing".into(), "hold".into()],
        metrics: vec!["hold_time".into()],
    }
}

fn plan() -> InitiativePlan {
    InitiativePlan {
        name: "Callbacks at peak".into(),
        owner_id: "L-1".into(),
        scope: vec!["T-1".into(), "T-2".into()],
        target_metric: "hold_time".into(),
        start: chrono::NaiveDate::from_ymd_opt(2025, 4, 1).unwrap(),
    }
}

async fn ideas_move_through_triage_decision_and_delivery(store: &SqlStore) {
    let at = "2025-03-01T09:00:00Z";
    let idea = store
        .submit_idea(&new_idea("Callbacks"), "A-1", Some("T-1"), at)
        .await
        .unwrap();
    assert_eq!(
        (idea.status, idea.version, idea.votes),
        (IdeaStatus::New, 1, 0)
    );
    assert_eq!(idea.topics, ["billing", "hold"]);
    let id = idea.idea_id;
    let change = |version, status, reason: Option<&str>| IdeaChange {
        version,
        status: Some(status),
        reason: reason.map(str::to_owned),
        ..Default::default()
    };
    let refused = |r: Result<_, SqlError>| matches!(r, Err(SqlError::Refused(_)));
    // skipping triage is refused, and so is a change on a stale copy
    assert!(refused(
        store
            .update_idea(id, &change(1, IdeaStatus::Approved, Some("yes")), "m", at)
            .await
    ));
    let reviewed = store
        .update_idea(id, &change(1, IdeaStatus::UnderReview, None), "lead", at)
        .await
        .unwrap();
    assert_eq!(reviewed.version, 2);
    let stale = store
        .update_idea(id, &change(1, IdeaStatus::Proposed, None), "lead", at)
        .await;
    assert!(matches!(stale, Err(SqlError::Stale(_))), "{stale:?}");
    // triage: the priority estimate, then proposed to management
    let estimate = PriorityInputs {
        impact: 4,
        reach: 3,
        effort: 2,
    };
    let scored = store
        .update_idea(
            id,
            &IdeaChange {
                version: 2,
                priority: Some(estimate),
                ..Default::default()
            },
            "lead",
            at,
        )
        .await
        .unwrap();
    assert_eq!((scored.priority, scored.score), (Some(estimate), Some(6.0)));
    store
        .update_idea(id, &change(3, IdeaStatus::Proposed, None), "lead", at)
        .await
        .unwrap();
    // a decision needs a reason, and an approval needs its initiative
    assert!(refused(
        store
            .update_idea(id, &change(4, IdeaStatus::Approved, None), "m", at)
            .await
    ));
    assert!(refused(
        store
            .update_idea(
                id,
                &change(4, IdeaStatus::Approved, Some("worth it")),
                "m",
                at
            )
            .await
    ));
    let declined_with_plan = IdeaChange {
        initiative: Some(plan()),
        ..change(4, IdeaStatus::Declined, Some("no"))
    };
    assert!(refused(
        store.update_idea(id, &declined_with_plan, "m", at).await
    ));
    let approve = IdeaChange {
        initiative: Some(plan()),
        ..change(4, IdeaStatus::Approved, Some("Hold is our top complaint"))
    };
    let approved = store
        .update_idea(id, &approve, "manager", "2025-03-10T12:00:00Z")
        .await
        .unwrap();
    assert_eq!(
        (approved.status, approved.version),
        (IdeaStatus::Approved, 5)
    );
    let detail = store.idea(id).await.unwrap().unwrap();
    let initiative = detail.initiative.clone().unwrap();
    assert_eq!(
        (
            initiative.name.as_str(),
            initiative.start.as_str(),
            initiative.scope.clone()
        ),
        (
            "Callbacks at peak",
            "2025-04-01",
            vec!["T-1".to_owned(), "T-2".to_owned()]
        )
    );
    assert_eq!(
        store
            .initiative(initiative.initiative_id)
            .await
            .unwrap()
            .unwrap(),
        initiative
    );
    assert_eq!(
        store.initiatives(10).await.unwrap(),
        std::slice::from_ref(&initiative)
    );
    store
        .update_idea(id, &change(5, IdeaStatus::InProgress, None), "L-1", at)
        .await
        .unwrap();
    store
        .update_idea(id, &change(6, IdeaStatus::Done, None), "L-1", at)
        .await
        .unwrap();
    assert!(
        refused(
            store
                .update_idea(id, &change(7, IdeaStatus::New, None), "L-1", at)
                .await
        ),
        "done is final"
    );
    assert_eq!(
        store
            .initiative(initiative.initiative_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        IdeaStatus::Done
    );
    let detail = store.idea(id).await.unwrap().unwrap();
    let moves: Vec<(String, String)> = detail
        .timeline
        .iter()
        .filter(|e| e.kind == "status")
        .map(|e| (e.to_status.clone().unwrap(), e.note.clone()))
        .collect();
    assert_eq!(moves.len(), 5);
    assert_eq!(
        moves[2],
        (
            "approved".to_owned(),
            "Hold is our top complaint".to_owned()
        )
    );
    assert!(
        detail
            .timeline
            .iter()
            .any(|e| e.kind == "priority" && e.note.contains("= 6.0"))
    );
    assert!(matches!(
        store
            .update_idea(999, &change(1, IdeaStatus::UnderReview, None), "x", at)
            .await,
        Err(SqlError::NotFound(_))
    ));
}

async fn ideas_are_voted_once_commented_ranked_and_scoped(store: &SqlStore) {
    let at = "2025-03-01T09:00:00Z";
    let a = store
        .submit_idea(&new_idea("A"), "A-1", Some("T-1"), at)
        .await
        .unwrap()
        .idea_id;
    let b = store
        .submit_idea(&new_idea("B"), "A-2", Some("T-2"), at)
        .await
        .unwrap()
        .idea_id;
    let c = store
        .submit_idea(&new_idea("C"), "A-3", None, at)
        .await
        .unwrap()
        .idea_id;
    assert!(store.vote(a, "P-1", at).await.unwrap());
    assert!(
        !store.vote(a, "P-1", at).await.unwrap(),
        "one vote per person"
    );
    assert!(store.vote(a, "P-2", at).await.unwrap());
    assert!(store.vote(c, "P-1", at).await.unwrap());
    assert!(store.unvote(c, "P-1").await.unwrap());
    assert!(!store.unvote(c, "P-1").await.unwrap());
    assert!(matches!(
        store.vote(999, "P-1", at).await,
        Err(SqlError::NotFound(_))
    ));
    store
        .comment(a, "P-2", "We tried this in 2019", at)
        .await
        .unwrap();
    let detail = store.idea(a).await.unwrap().unwrap();
    assert_eq!(
        detail
            .votes
            .iter()
            .map(|v| v.person_id.as_str())
            .collect::<Vec<_>>(),
        ["P-1", "P-2"]
    );
    assert_eq!((detail.idea.votes, detail.idea.comments), (2, 1));
    // ranked: scored ideas first (highest score), then by votes
    store
        .update_idea(
            b,
            &IdeaChange {
                version: 1,
                priority: Some(PriorityInputs {
                    impact: 1,
                    reach: 1,
                    effort: 5,
                }),
                ..Default::default()
            },
            "lead",
            at,
        )
        .await
        .unwrap();
    let all = IdeaFilter {
        limit: 10,
        ..Default::default()
    };
    let order: Vec<i64> = store
        .ideas(&all)
        .await
        .unwrap()
        .iter()
        .map(|i| i.idea_id)
        .collect();
    assert_eq!(order, [b, a, c]);
    // scope: a team's ideas, or one's own
    let team_one = IdeaFilter {
        units: Some(vec!["T-1".into()]),
        limit: 10,
        ..Default::default()
    };
    let listed: Vec<i64> = store
        .ideas(&team_one)
        .await
        .unwrap()
        .iter()
        .map(|i| i.idea_id)
        .collect();
    assert_eq!(listed, [a]);
    let own = IdeaFilter {
        units: Some(vec![]),
        or_author: Some("A-3".into()),
        limit: 10,
        ..Default::default()
    };
    let listed: Vec<i64> = store
        .ideas(&own)
        .await
        .unwrap()
        .iter()
        .map(|i| i.idea_id)
        .collect();
    assert_eq!(listed, [c]);
    let nothing = IdeaFilter {
        units: Some(vec![]),
        limit: 10,
        ..Default::default()
    };
    assert!(store.ideas(&nothing).await.unwrap().is_empty());
    let fresh = IdeaFilter {
        statuses: vec![IdeaStatus::New],
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.ideas(&fresh).await.unwrap().len(), 3);
}

async fn kudos_and_stories_are_scoped_searched_and_published(store: &SqlStore) {
    let at = "2025-05-01T09:00:00Z";
    let colleague = |to: &str, unit: &str| NewKudos {
        to_person: to.into(),
        from_person: Some("A-2".into()),
        source: KudosSource::Colleague,
        message: "Covered my queue".into(),
        unit_id: Some(unit.into()),
        response_id: None,
    };
    store
        .give_kudos(&colleague("A-1", "T-1"), "ana", at)
        .await
        .unwrap();
    store
        .give_kudos(&colleague("A-3", "T-2"), "ana", at)
        .await
        .unwrap();
    let customer = NewKudos {
        from_person: None,
        source: KudosSource::Customer,
        message: "Thank you, so helpful".into(),
        response_id: Some("R-9".into()),
        ..colleague("A-1", "T-1")
    };
    let given = store.give_kudos(&customer, "lead", at).await.unwrap();
    assert_eq!(given.source, KudosSource::Customer);
    let again = store.give_kudos(&customer, "lead", at).await;
    assert!(
        matches!(again, Err(SqlError::Conflict(_))),
        "one kudos per answer: {again:?}"
    );
    assert_eq!(
        store
            .accepted_answers(&["R-9".into(), "R-10".into()])
            .await
            .unwrap(),
        ["R-9"]
    );
    let team_one = RecognitionFilter {
        units: Some(vec!["T-1".into()]),
        limit: 10,
        ..Default::default()
    };
    let listed = store.kudos(&team_one).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.to_person == "A-1"));
    let mine = RecognitionFilter {
        units: Some(vec![]),
        or_person: Some("A-3".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.kudos(&mine).await.unwrap().len(), 1);

    let story = |title: &str, unit: &str| NewStory {
        title: title.into(),
        narrative: "Repeat calls about bills fell by half after the 50% discount".into(),
        unit_id: Some(unit.into()),
        people: vec!["A-1".into()],
        evidence: vec![Evidence {
            kind: "metric".into(),
            reference: "repeat_contact_rate".into(),
            note: "18% → 9%".into(),
        }],
    };
    let draft = store
        .add_story(&story("Billing fixed", "T-1"), "A-1", at)
        .await
        .unwrap();
    let other = store
        .add_story(&story("Faster chats", "T-2"), "L-2", at)
        .await
        .unwrap();
    assert!(!draft.published && draft.version == 1);
    assert_eq!(draft.evidence[0].note, "18% → 9%");
    // a reader sees published stories of their units, and their own drafts
    let reader = |person: &str| RecognitionFilter {
        units: Some(vec!["T-1".into(), "T-2".into()]),
        or_person: Some(person.into()),
        published_only: true,
        limit: 10,
        ..Default::default()
    };
    let ids = |stories: Vec<cxm_sql::Story>| stories.iter().map(|s| s.story_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.stories(&reader("A-1")).await.unwrap()),
        [draft.story_id]
    );
    assert!(store.stories(&reader("A-9")).await.unwrap().is_empty());
    let published = store
        .update_story(other.story_id, 1, None, Some(true), at)
        .await
        .unwrap();
    assert_eq!((published.published, published.version), (true, 2));
    assert_eq!(
        ids(store.stories(&reader("A-9")).await.unwrap()),
        [other.story_id]
    );
    let stale = store
        .update_story(other.story_id, 1, None, Some(false), at)
        .await;
    assert!(matches!(stale, Err(SqlError::Stale(_))), "{stale:?}");
    // search: every word, case-insensitive, in the title or the narrative; LIKE's
    // wildcards are plain characters
    let search = |words: &[&str]| RecognitionFilter {
        search: words.iter().map(|w| (*w).to_owned()).collect(),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(store.stories(&search(&["BILLING", "half"])).await.unwrap()),
        [draft.story_id]
    );
    assert_eq!(store.stories(&search(&["repeat"])).await.unwrap().len(), 2);
    assert_eq!(store.stories(&search(&["50%"])).await.unwrap().len(), 2);
    assert!(store.stories(&search(&["5_%"])).await.unwrap().is_empty());
    let edited = NewStory {
        title: "Billing fixed for good".into(),
        ..story("x", "T-1")
    };
    let changed = store
        .update_story(draft.story_id, 1, Some(&edited), None, at)
        .await
        .unwrap();
    assert_eq!(
        (changed.title.as_str(), changed.published),
        ("Billing fixed for good", false)
    );
    assert!(matches!(
        store.update_story(999, 1, None, Some(true), at).await,
        Err(SqlError::NotFound(_))
    ));
    // letters beyond ASCII fold alike on both backends
    let umlaut = NewStory {
        title: "Über-fast refunds".into(),
        ..story("x", "T-1")
    };
    let added = store.add_story(&umlaut, "A-1", at).await.unwrap();
    assert_eq!(
        ids(store.stories(&search(&["über"])).await.unwrap()),
        [added.story_id]
    );
}

/// What to clean up after a test: a temporary directory or a PostgreSQL database.
const SQLITE_FILE: &str = "test.sqlite";

enum Fresh {
    Directory(#[allow(dead_code)] tempfile::TempDir),
    Database(String),
}

impl Fresh {
    /// The URL of the fresh database, for a second store over it.
    fn url(&self) -> String {
        match self {
            Fresh::Directory(dir) => cxm_sql::store::sqlite_url(&dir.path().join(SQLITE_FILE)),
            Fresh::Database(url) => url.clone(),
        }
    }

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

async fn customer_values_are_ranked_replaced_and_read_from_the_top(store: &SqlStore) {
    assert_eq!(store.value_snapshot().await.unwrap(), None);
    assert!(store.top_customer_values(10).await.unwrap().is_empty());
    // 1,001 customers (more rows than one statement holds); C0500 and C0501 tie
    let values: Vec<(String, f64, f64)> = (0..1001)
        .map(|i| {
            let value = if i == 501 { 500.0 } else { f64::from(i) };
            (format!("C{i:04}"), value, 0.5)
        })
        .collect();
    let snapshot = store
        .replace_customer_values(
            "2025-07-01T00:00:00Z",
            1_751_328_000_000_000,
            "2025-06-30",
            &values,
        )
        .await
        .unwrap();
    assert_eq!(snapshot.customers, 1001);
    assert_eq!(store.value_snapshot().await.unwrap(), Some(snapshot));
    // the top 10% of 1,001 is 101 customers: C1000 down to C0900
    let top = store.top_customer_values(10).await.unwrap();
    assert_eq!(top.len(), 101);
    assert_eq!(top[0].customer_id, "C1000");
    assert_eq!(top[0].rank, 1);
    assert_eq!(top[100].customer_id, "C0900");
    assert!(top.windows(2).all(|w| w[0].value >= w[1].value));
    // ties rank by customer id
    let all = store.top_customer_values(100).await.unwrap();
    assert_eq!(all.len(), 1001);
    let at = all.iter().position(|v| v.customer_id == "C0500").unwrap();
    assert_eq!(all[at + 1].customer_id, "C0501");
    // a new snapshot replaces the old one whole
    let snapshot = store
        .replace_customer_values(
            "2025-08-01T00:00:00Z",
            1_754_006_400_000_000,
            "2025-07-31",
            &[("C9".into(), 1.0, 0.9), ("C8".into(), 2.5, 0.8)],
        )
        .await
        .unwrap();
    assert_eq!(
        snapshot,
        ValueSnapshot {
            computed_at: "2025-08-01T00:00:00Z".into(),
            computed_micros: 1_754_006_400_000_000,
            end_date: "2025-07-31".into(),
            customers: 2,
        }
    );
    let top = store.top_customer_values(50).await.unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!((top[0].customer_id.as_str(), top[0].value), ("C8", 2.5));
    // a value that is not a number is refused and the snapshot kept
    let refused = store
        .replace_customer_values(
            "2025-09-01T00:00:00Z",
            0,
            "2025-08-31",
            &[("C1".into(), f64::NAN, 0.5)],
        )
        .await;
    assert!(matches!(refused, Err(SqlError::Refused(_))), "{refused:?}");
    assert_eq!(store.value_snapshot().await.unwrap().unwrap().customers, 2);
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

            // a test given a second store over the same database: another process
            macro_rules! case_with_another {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        let Some((store, fresh)) = fresh().await else {
                            eprintln!("skipped: CXM_TEST_POSTGRES_URL is not set");
                            return;
                        };
                        let other = SqlStore::connect(&fresh.url()).await.unwrap();
                        super::$name(&store, &other).await;
                        other.close().await;
                        store.close().await;
                        fresh.drop_database().await;
                    }
                };
            }

            case_with_another!(case_counts_follow_changes_made_elsewhere);
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
            case!(case_events_are_queued_for_webhooks_and_owners);
            case!(many_cases_open_in_multi_row_statements);
            case!(closed_cases_count_their_root_causes);
            case!(kudos_and_stories_are_scoped_searched_and_published);
            case!(ideas_move_through_triage_decision_and_delivery);
            case!(ideas_are_voted_once_commented_ranked_and_scoped);
            case!(customer_values_are_ranked_replaced_and_read_from_the_top);
        }
    };
}

store_suite!(sqlite, async {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join(SQLITE_FILE))
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
