//! `cxm generate` output loads through `cxm ingest` with zero rejections, and with
//! `--corrupt` exactly the rows it says it broke are quarantined.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Workspace, stderr};
use cxm_generate::FILES;

fn generate(workspace: &Workspace, out: &Path, extra: &[&str]) -> serde_json::Value {
    let out = out.display().to_string();
    let mut args = vec!["generate", "--out", &out, "--json", "--seed", "4"];
    args.extend(extra);
    let output = workspace.cxm(&args);
    assert!(output.status.success(), "generate: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn data_lines(path: &Path) -> u64 {
    std::fs::read_to_string(path).unwrap().lines().count() as u64 - 1
}

#[test]
fn a_generated_organisation_ingests_with_zero_rejections() {
    let workspace = Workspace::new();
    let out = workspace.dir.path().join("generated");
    let summary = generate(&workspace, &out, &["--contacts", "8000"]);
    assert_eq!(summary["interactions"], 8000);
    for (file, kind) in FILES {
        let path = out.join(file);
        let (code, result) = workspace.ingest(kind, &[&path], &[]);
        assert_eq!(code, 0, "{file}: {result}");
        assert_eq!(result["rejected"], 0, "{file}: {result}");
        assert_eq!(result["accepted"], data_lines(&path), "{file}");
    }
    assert_eq!(
        workspace.scalar("SELECT count(*) FROM interactions"),
        serde_json::json!(8000)
    );
    // contacts join to agents' team memberships at the time of the contact
    let unmatched = workspace.scalar(
        "SELECT count(*) FROM interactions i WHERE NOT EXISTS (
             SELECT 1 FROM memberships m JOIN org_units u ON u.unit_id = m.unit_id
             WHERE m.person_id = i.agent_id AND u.level = 'team'
               AND m.valid_from <= i.started_at
               AND (m.valid_to IS NULL OR i.started_at < m.valid_to))",
    );
    assert_eq!(unmatched, serde_json::json!(0));
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("ground_truth.json")).unwrap()).unwrap();
    assert_eq!(truth["totals"]["interactions"], 8000);
    assert!(truth["agents"].as_array().unwrap().len() > 150);
}

#[test]
fn with_corrupt_exactly_the_broken_rows_are_quarantined() {
    let workspace = Workspace::new();
    let out = workspace.dir.path().join("generated");
    let summary = generate(
        &workspace,
        &out,
        &["--contacts", "4000", "--corrupt", "0.02"],
    );
    let broken_count = summary["corrupted_rows"].as_u64().unwrap();
    assert!(broken_count > 100, "{summary}");

    let mut broken = BTreeSet::new();
    let mut reader = csv::Reader::from_path(out.join("corruptions.csv")).unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        broken.insert((row[0].to_owned(), row[1].parse::<u64>().unwrap()));
    }
    assert_eq!(broken.len() as u64, broken_count);

    for (file, kind) in FILES {
        let path = out.join(file);
        let (code, result) = workspace.ingest(kind, &[&path], &[]);
        let expected = broken.iter().filter(|(f, _)| f == file).count() as u64;
        assert_eq!(result["rejected"], expected, "{file}: {result}");
        assert_eq!(code, if expected > 0 { 3 } else { 0 }, "{file}");
        assert_eq!(result["accepted"], data_lines(&path) - expected, "{file}");
    }
    let mut quarantined = BTreeSet::new();
    for entry in std::fs::read_dir(workspace.data_dir().join("quarantine")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let source = Path::new(record["source"].as_str().unwrap());
            let file = source.file_name().unwrap().to_string_lossy().into_owned();
            quarantined.insert((file, record["line"].as_u64().unwrap()));
        }
    }
    assert_eq!(quarantined, broken);
}
