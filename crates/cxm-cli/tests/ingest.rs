//! End-to-end ingestion through the real binary: formats, mappings, quarantine, exit
//! statuses, idempotency, dry runs and queries joining facts with reference data.

mod common;

use common::{Workspace, examples, interaction_rows, interactions_csv, stderr};
use serde_json::json;

#[test]
fn example_exports_load_through_their_mappings_and_join_in_queries() {
    let ws = Workspace::new();
    let calls = examples().join("telephony/calls.csv");
    let (code, summary) = ws.ingest(
        "interactions",
        &[&calls],
        &[
            "--mapping",
            examples().join("telephony/mapping.toml").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["accepted"], 5);
    assert_eq!(summary["inserted"], 5);

    // 08:59:12 in Chicago (CST, UTC-6) on 2024-03-04; 312.4 s of talk rounds to 312.
    let first = &ws.query("SELECT CAST(started_at AS VARCHAR) AS t, talk_seconds, hold_seconds, handle_seconds, topics, channel, resolved FROM interactions WHERE interaction_id = 'CL-100001'")[0];
    assert_eq!(first["t"], "2024-03-04T14:59:12Z");
    assert_eq!(first["talk_seconds"], 312);
    assert_eq!(
        first["hold_seconds"], 31,
        "30.5 s rounds half away from zero"
    );
    assert_eq!(first["handle_seconds"], 312 + 31 + 41);
    assert_eq!(
        first["topics"],
        json!(["billing.invoice", "billing.refund"])
    );
    assert_eq!(first["channel"], "phone");
    assert_eq!(first["resolved"], true);
    // 03/11/2024 23:59:59 is after the US switch to daylight time (UTC-5).
    assert_eq!(ws.scalar("SELECT CAST(started_at AS VARCHAR) FROM interactions WHERE interaction_id = 'CL-100005'"), "2024-03-12T04:59:59Z");

    let responses = examples().join("survey-tool/responses.csv");
    let (code, summary) = ws.ingest(
        "surveys",
        &[&responses],
        &[
            "--mapping",
            examples()
                .join("survey-tool/mapping.toml")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["accepted"], 4);
    assert_eq!(
        ws.scalar("SELECT ratings['ease'] FROM survey_responses WHERE response_id = 'R_8fLm2'"),
        2
    );
    assert_eq!(
        ws.scalar("SELECT csat FROM survey_responses WHERE response_id = 'R_1xZz3'"),
        3
    );

    let people = ws.file("people.csv", "person_id,name,email,role\nA-101,Ana Lima,ana@example.com,agent\nA-102,Bo Chen,,agent\nA-103,Cy Diaz,cy@example.com,agent\n");
    assert_eq!(ws.ingest("people", &[&people], &[]).0, 0);
    let rows = ws.query(
        "SELECT p.name, count(*) AS answers, avg(s.csat) AS mean_csat
         FROM survey_responses s JOIN interactions i ON s.interaction_id = i.interaction_id
         JOIN people p ON p.person_id = i.agent_id GROUP BY p.name ORDER BY p.name",
    );
    assert_eq!(
        rows,
        vec![
            json!({"name": "Ana Lima", "answers": 2, "mean_csat": 4.5}),
            json!({"name": "Bo Chen", "answers": 1, "mean_csat": 2.0}),
            json!({"name": "Cy Diaz", "answers": 1, "mean_csat": 3.0}),
        ]
    );
}

#[test]
fn bad_rows_are_quarantined_with_reasons_and_valid_neighbours_kept() {
    let ws = Workspace::new();
    let file = ws.file(
        "surveys.csv",
        "response_id,survey,answered_at,customer_id,interaction_id,csat,nps,ces,comment\n\
         R1,csat,2024-01-01T10:00:00Z,C1,I1,5,,,great\n\
         R2,csat,2024-01-01T10:00:00Z,C1,I2,7,,,\n\
         R3,csat,2024-13-01,C1,I3,4,,,\n\
         R4,nps,2024-01-02T10:00:00Z,C2,,,9,,\n",
    );
    let (code, summary) = ws.ingest("surveys", &[&file], &[]);
    assert_eq!(code, 3);
    assert_eq!(summary["read"], 4);
    assert_eq!(summary["accepted"], 2);
    assert_eq!(summary["rejected"], 2);
    let quarantine = std::fs::read_to_string(summary["quarantine"].as_str().unwrap()).unwrap();
    let entries: Vec<serde_json::Value> = quarantine
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["source"], file.display().to_string());
    assert_eq!(entries[0]["line"], 3);
    assert_eq!(
        entries[0]["errors"][0],
        json!({"field": "csat", "value": "7", "reason": "csat 7 is outside 1..=5"})
    );
    assert_eq!(entries[0]["record"]["response_id"], "R2");
    assert_eq!(entries[1]["line"], 4);
    assert_eq!(entries[1]["errors"][0]["field"], "answered_at");
    assert!(
        entries[1]["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("answered_at \"2024-13-01\" is not a timestamp")
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM survey_responses"), 2);
}

#[test]
fn a_file_of_the_wrong_kind_fails_fast_and_stores_nothing() {
    let ws = Workspace::new();
    let good = ws.file("good.csv", &interactions_csv("G", 10, 5));
    let surveys = ws.file(
        "surveys.csv",
        "response_id,survey,answered_at,customer_id,csat\nR1,csat,2024-01-01T10:00:00Z,C1,5\n",
    );
    let output = ws.cxm(&[
        "ingest",
        "interactions",
        good.to_str().unwrap(),
        surveys.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("missing required columns interaction_id, agent_id, channel, started_at for interactions (this looks like a surveys file)"), "{message}");
    assert_eq!(
        ws.scalar("SELECT count(*) FROM interactions"),
        0,
        "the good file of the same batch is not stored either"
    );

    let binary = ws.dir.path().join("image.csv");
    std::fs::write(&binary, [0x89, b'P', b'N', b'G', 0, 0, 0, 13]).unwrap();
    let output = ws.cxm(&["ingest", "interactions", binary.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is a binary file"),
        "{}",
        stderr(&output)
    );

    let output = ws.cxm(&["ingest", "calls", good.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown kind \"calls\""));
}

#[test]
fn ingesting_twice_changes_nothing_and_changed_records_replace() {
    let ws = Workspace::new();
    let file = ws.file("a.csv", &interactions_csv("I", 500, 10));
    let (code, summary) = ws.ingest("interactions", &[&file], &[]);
    assert_eq!((code, &summary["inserted"]), (0, &json!(500)));
    let (_, summary) = ws.ingest("interactions", &[&file], &[]);
    assert_eq!(
        (
            &summary["inserted"],
            &summary["replaced"],
            &summary["unchanged"]
        ),
        (&json!(0), &json!(0), &json!(500))
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM interactions"), 500);

    // 100 of the same ids with a new hold time, and 50 new ones.
    let mut changed = interactions_csv("I", 100, 99);
    changed.push_str(&interaction_rows("J", 50, 1));
    let changed = ws.file("b.csv", &changed);
    let (code, summary) = ws.ingest("interactions", &[&changed], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        (
            &summary["inserted"],
            &summary["replaced"],
            &summary["unchanged"]
        ),
        (&json!(50), &json!(100), &json!(0))
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM interactions"), 550);
    assert_eq!(
        ws.scalar("SELECT count(DISTINCT interaction_id) FROM interactions"),
        550
    );
    assert_eq!(
        ws.scalar("SELECT sum(hold_seconds) FROM interactions"),
        100 * 99 + 400 * 10 + 50
    );
    // Every stored batch is in the audit log, newest first.
    let audit = ws.cxm(&["audit", "--limit", "10"]);
    let log = String::from_utf8_lossy(&audit.stdout);
    let ingests: Vec<&str> = log.lines().filter(|l| l.contains(" ingest ")).collect();
    assert_eq!(ingests.len(), 3, "{log}");
    assert!(
        ingests[0].contains("interactions from")
            && ingests[0].contains("50 inserted, 100 replaced"),
        "{log}"
    );
}

#[test]
fn repeated_ids_within_one_batch_keep_the_last_row() {
    let ws = Workspace::new();
    let mut text = interactions_csv("D", 3, 1);
    text.push_str(&interaction_rows("D", 2, 2));
    text.push_str(&interaction_rows("D", 1, 3));
    text.push_str(&interaction_rows("D", 1, 3));
    let file = ws.file("dups.csv", &text);
    let (code, summary) = ws.ingest("interactions", &[&file], &[]);
    assert_eq!(code, 0);
    assert_eq!(summary["accepted"], 7);
    // D-0: 1 → 3 (superseded twice then an identical repeat); D-1: 1 → 2; D-2: 1.
    assert_eq!(
        (
            &summary["inserted"],
            &summary["replaced"],
            &summary["unchanged"]
        ),
        (&json!(3), &json!(3), &json!(1))
    );
    let rows =
        ws.query("SELECT interaction_id, hold_seconds FROM interactions ORDER BY interaction_id");
    assert_eq!(
        rows,
        vec![
            json!({"interaction_id": "D-0", "hold_seconds": 3}),
            json!({"interaction_id": "D-1", "hold_seconds": 2}),
            json!({"interaction_id": "D-2", "hold_seconds": 1})
        ]
    );
}

#[test]
fn ids_repeated_across_blocks_and_writers_keep_the_last_row() {
    let ws = Workspace::new();
    // 3.07 MiB: four blocks of about 1 MiB, handed to the writers in turn, so the repeats
    // (fourth block) are staged by another writer than the rows they replace (first).
    let mut text = interactions_csv("R", 40_000, 1);
    text.push_str(&interaction_rows("R", 3, 5));
    text.push_str(&interaction_rows("R", 1, 5));
    let file = ws.file("blocks.csv", &text);
    let (code, summary) = ws.ingest("interactions", &[&file], &[]);
    assert_eq!(code, 0, "{summary}");
    // R-0: 1 → 5 → 5 (one change, one identical repeat); R-1, R-2: 1 → 5.
    assert_eq!(
        (
            &summary["accepted"],
            &summary["inserted"],
            &summary["replaced"],
            &summary["unchanged"]
        ),
        (&json!(40_004), &json!(40_000), &json!(3), &json!(1))
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM interactions"), 40_000);
    assert_eq!(
        ws.scalar("SELECT sum(hold_seconds) FROM interactions"),
        40_000 + 3 * 4
    );
}

#[test]
fn dry_run_validates_without_storing() {
    let ws = Workspace::new();
    let file = ws.file(
        "a.csv",
        &format!(
            "{}BAD,C1,A1,pigeon,2024-01-01T00:00:00Z,,,,,,,,\n",
            interactions_csv("I", 20, 1)
        ),
    );
    let (code, summary) = ws.ingest("interactions", &[&file], &["--dry-run"]);
    assert_eq!(code, 3);
    assert_eq!(
        (
            &summary["accepted"],
            &summary["rejected"],
            &summary["quarantine"]
        ),
        (&json!(20), &json!(1), &json!(null))
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM interactions"), 0);
    assert!(
        std::fs::read_dir(ws.data_dir().join("quarantine"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn ndjson_gzip_and_parquet_inputs() {
    let ws = Workspace::new();
    let ndjson = concat!(
        r#"{"transaction_id":"T1","customer_id":"C1","occurred_at":"2024-01-01T10:00:00Z","amount":19.99,"kind":"purchase"}"#,
        "\n",
        r#"{"transaction_id":"T2","customer_id":"C1","occurred_at":"2024-01-05T10:00:00Z","amount":"-5.00","kind":"refund"}"#,
        "\n",
    );
    let path = ws.dir.path().join("tx.ndjson.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut gz, ndjson.as_bytes()).unwrap();
    gz.finish().unwrap();
    let (code, summary) = ws.ingest("transactions", &[&path], &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(ws.scalar("SELECT CAST(sum(CASE WHEN kind = 'refund' THEN -amount ELSE amount END) AS VARCHAR) FROM transactions"), "14.9900");

    // Parquet written by cxm query's engine itself: export interactions, re-ingest elsewhere.
    let source = Workspace::new();
    let csv = source.file("a.csv", &interactions_csv("P", 300, 7));
    assert_eq!(source.ingest("interactions", &[&csv], &[]).0, 0);
    let parquet_file = std::fs::read_dir(source.data_dir().join("tables/interactions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let (code, summary) = ws.ingest("interactions", &[&parquet_file], &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["inserted"], 300);
    assert_eq!(
        ws.scalar("SELECT sum(array_length(topics)) FROM interactions"),
        600
    );
}

#[test]
fn references_are_enforced_on_request() {
    let ws = Workspace::new();
    let people = ws.file("people.csv", "person_id,name,email,role\nA-1,Ana,,agent\n");
    assert_eq!(ws.ingest("people", &[&people], &[]).0, 0);
    let customers = ws.file(
        "customers.csv",
        "customer_id,segment,region,joined_at\nC-1,consumer,north,2020-01-01\n",
    );
    assert_eq!(ws.ingest("customers", &[&customers], &[]).0, 0);
    let contacts = ws.file(
        "c.csv",
        "interaction_id,customer_id,agent_id,channel,started_at\nI1,C-1,A-1,phone,2024-01-01T00:00:00Z\nI2,C-1,A-991,phone,2024-01-01T00:00:00Z\n",
    );
    let (code, summary) = ws.ingest("interactions", &[&contacts], &["--enforce-references"]);
    assert_eq!((code, &summary["accepted"]), (3, &json!(1)));
    let quarantine = std::fs::read_to_string(summary["quarantine"].as_str().unwrap()).unwrap();
    assert!(
        quarantine.contains(r#""reason":"unknown agent A-991""#),
        "{quarantine}"
    );
    assert!(
        quarantine.contains(r#""agent_id":"A-991""#),
        "the raw row is kept: {quarantine}"
    );
}

#[test]
fn org_units_form_a_tree() {
    let ws = Workspace::new();
    let units = ws.file(
        "units.csv",
        "unit_id,name,parent_id,level\nCO,Acme,,company\nS1,North site,CO,site\nT1,Team 1,S1,team\nT2,Team 2,T1,team\nT3,Team 3,NOPE,team\nT4,Team 4,T2,team\n",
    );
    let (code, summary) = ws.ingest("org-units", &[&units], &[]);
    assert_eq!(code, 3);
    assert_eq!(
        (&summary["accepted"], &summary["rejected"]),
        (&json!(3), &json!(3))
    );
    let quarantine = std::fs::read_to_string(summary["quarantine"].as_str().unwrap()).unwrap();
    assert!(
        quarantine.contains("a team cannot be under the team T1"),
        "{quarantine}"
    );
    assert!(
        quarantine.contains("unknown parent unit NOPE"),
        "{quarantine}"
    );
    assert!(
        quarantine.contains("parent unit T2 was rejected"),
        "children of rejected units are rejected: {quarantine}"
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM org_units"), 3);
}

#[test]
fn query_is_read_only_and_formats() {
    let ws = Workspace::new();
    let output = ws.cxm(&["query", "DROP TABLE interactions"]);
    assert!(!output.status.success());
    let output = ws.cxm(&["query", "SELECT 1 AS one, 'a' AS letter", "--format", "csv"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "one,letter\n1,a\n");
    let output = ws.cxm(&["query", "SELECT 1 AS one", "--format", "table"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("| one |"));
    assert_eq!(
        ws.query("SELECT * FROM interactions"),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn commands_need_an_initialised_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cxm"))
        .args([
            "--data-dir",
            dir.path().join("nowhere").to_str().unwrap(),
            "query",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a cxm data directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn reference_data_in_postgres_joins_with_facts() {
    let Ok(base) = std::env::var("CXM_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CXM_TEST_POSTGRES_URL is not set");
        return;
    };
    let (server, _) = base.rsplit_once('/').expect("URL with a database");
    let database = format!("cxm_cli_{}", std::process::id());
    let url = format!("{server}/{database}");
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace { dir };
    let output = ws
        .command()
        .args(["init", "--database-url", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let people = ws.file("people.csv", "person_id,name,email,role\nA-1,Ana,,agent\n");
    assert_eq!(ws.ingest("people", &[&people], &[]).0, 0);
    let contacts = ws.file("c.csv", &interactions_csv("PG", 10, 4));
    assert_eq!(ws.ingest("interactions", &[&contacts], &[]).0, 0);
    let rows = ws.query("SELECT p.name, count(*) AS contacts FROM interactions i JOIN people p ON p.person_id = i.agent_id GROUP BY p.name");
    assert_eq!(rows, vec![json!({"name": "Ana", "contacts": 1})]);
    let drop = std::process::Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-qc",
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        ])
        .output();
    if let Ok(output) = drop {
        assert!(output.status.success(), "{}", stderr(&output));
    }
}

#[test]
fn large_inputs_commit_in_several_atomic_batches() {
    let ws = Workspace::new();
    // 250 new ids, then the first 30 again with another hold time: with batches of 100
    // rows the repeats land in a later batch and replace the stored rows.
    let mut text = interactions_csv("M", 250, 1);
    text.push_str(&interaction_rows("M", 30, 9));
    let file = ws.file("many.csv", &text);
    let (code, summary) = ws.ingest("interactions", &[&file], &["--batch-rows", "100"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        (
            &summary["accepted"],
            &summary["inserted"],
            &summary["replaced"],
            &summary["unchanged"]
        ),
        (&json!(280), &json!(250), &json!(30), &json!(0))
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM interactions"), 250);
    assert_eq!(
        ws.scalar("SELECT sum(hold_seconds) FROM interactions"),
        220 + 30 * 9
    );
    let versions = std::fs::read_dir(ws.data_dir().join("tables/interactions/_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(versions, 1 + 3, "table creation plus one commit per batch");
}

#[test]
fn large_reference_files_stream_in_chunks_within_one_transaction() {
    let ws = Workspace::new();
    // More rows than one chunk (50,000), a key repeated across chunks with a change, and a
    // bad row: every valid row is kept, the last row of the key wins.
    let mut csv = String::from("customer_id,segment,region,joined_at\n");
    for i in 0..120_000 {
        csv.push_str(&format!("C{i:06},consumer,north,2020-01-01\n"));
    }
    csv.push_str("C000001,business,south,2020-01-01\n");
    csv.push_str("C999999,consumer,north,2020-13-45\n");
    let file = ws.file("customers.csv", &csv);
    let counts = |summary: &serde_json::Value| {
        (
            summary["accepted"].clone(),
            summary["inserted"].clone(),
            summary["replaced"].clone(),
            summary["rejected"].clone(),
        )
    };
    let expected = (json!(120_001), json!(120_000), json!(1), json!(1));

    let (code, summary) = ws.ingest("customers", &[&file], &["--dry-run"]);
    assert_eq!((code, counts(&summary)), (3, expected.clone()));
    assert_eq!(ws.scalar("SELECT count(*) FROM customers"), 0);

    let (code, summary) = ws.ingest("customers", &[&file], &[]);
    assert_eq!((code, counts(&summary)), (3, expected));
    assert_eq!(ws.scalar("SELECT count(*) FROM customers"), 120_000);
    let rows = ws.query("SELECT segment, region FROM customers WHERE customer_id = 'C000001'");
    assert_eq!(rows, [json!({"segment": "business", "region": "south"})]);

    // Again: only the repeated key changes twice (to its first row, back to its last).
    let (_, summary) = ws.ingest("customers", &[&file], &[]);
    assert_eq!(
        (
            &summary["inserted"],
            &summary["unchanged"],
            &summary["replaced"]
        ),
        (&json!(0), &json!(119_999), &json!(2))
    );
    assert_eq!(ws.scalar("SELECT count(*) FROM customers"), 120_000);
}
