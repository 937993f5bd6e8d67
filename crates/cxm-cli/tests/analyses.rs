//! `cxm clv --summary` and `cxm drivers --observations` on analysts' files, through the
//! real binary: the published CDNOW estimates, and rows that cannot be used left out with
//! the reason.

mod common;

use common::{Workspace, stderr};

fn cdnow() -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cdnow/cdnow_customers_summary_with_transactions.csv")
        .display()
        .to_string()
}

fn json(workspace: &Workspace, args: &[&str]) -> serde_json::Value {
    let output = workspace.cxm(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn close(got: &serde_json::Value, expected: f64) -> bool {
    let got = got.as_f64().unwrap();
    (got - expected).abs() <= 0.005 * expected.abs()
}

#[test]
fn clv_of_the_cdnow_summary_with_either_purchase_model() {
    let workspace = Workspace::new();
    let summary = cdnow();
    let bg = json(
        &workspace,
        &["clv", "--summary", &summary, "--format", "json"],
    );
    assert_eq!(bg["model"], "bg_nbd");
    assert_eq!(bg["customers"], 2357);
    let m = &bg["purchases"]["model"];
    for (name, expected) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        assert!(close(&m[name], expected), "{name}: {m}");
    }
    let pareto = json(
        &workspace,
        &[
            "clv",
            "--summary",
            &summary,
            "--model",
            "pareto-nbd",
            "--format",
            "json",
        ],
    );
    assert_eq!(pareto["model"], "pareto_nbd");
    let m = &pareto["purchases"]["model"];
    for (name, expected) in [
        ("r", 0.553),
        ("alpha", 10.578),
        ("s", 0.606),
        ("beta", 11.669),
    ] {
        assert!(close(&m[name], expected), "{name}: {m}");
    }
    assert!(
        (pareto["purchases"]["log_likelihood"].as_f64().unwrap() - -9595.0).abs() < 0.1,
        "{pareto}"
    );
    // the spend model is the same; the values differ with the purchase model
    assert_eq!(bg["spend"], pareto["spend"]);
    assert_ne!(bg["total_value"], pareto["total_value"]);

    // the model choice needs a summary file
    let output = workspace.cxm(&["clv", "--model", "pareto-nbd"]);
    assert!(!output.status.success());

    // a row that is not a history is left out and named; the rest are fitted
    let text = std::fs::read_to_string(&summary).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "9999,2,40.0,38.86,10.0");
    let broken = workspace.file("broken.csv", &(lines.join("\n") + "\n"));
    let output = workspace.cxm(&[
        "clv",
        "--summary",
        &broken.display().to_string(),
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["customers"], 2357);
    assert_eq!(report["left_out"], 1);
    assert!(
        stderr(&output).contains("line 4"),
        "names the row: {}",
        stderr(&output)
    );
}
