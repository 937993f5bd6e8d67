//! One suite every SQL backend must pass: SQLite always, PostgreSQL when
//! `CXM_TEST_POSTGRES_URL` names a server (CI sets it). Each test gets a fresh database.

use cxm_sql::{
    ReferenceRow, ReferenceStore, ReferenceTable, ScopeKind, SqlStore, Target, TargetStore,
    UpsertCounts,
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
