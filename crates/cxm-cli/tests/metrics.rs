//! `cxm metrics`, `cxm scorecard` and `cxm targets` on a generated organisation, through
//! the real binary.

mod common;

use common::{Workspace, stderr};
use cxm_generate::FILES;

fn loaded() -> Workspace {
    let workspace = Workspace::new();
    let out = workspace.dir.path().join("generated");
    let output = workspace.cxm(&[
        "generate",
        "--out",
        &out.display().to_string(),
        "--contacts",
        "6000",
        "--months",
        "3",
        "--seed",
        "11",
    ]);
    assert!(output.status.success(), "generate: {}", stderr(&output));
    // Load in a row without refreshing, except the last file, which refreshes the rollup.
    for (index, (file, kind)) in FILES.iter().enumerate() {
        let extra: &[&str] = if index + 1 < FILES.len() {
            &["--no-refresh"]
        } else {
            &[]
        };
        let (code, summary) = workspace.ingest(kind, &[&out.join(file)], extra);
        assert_eq!(code, 0, "{kind}: {summary}");
    }
    workspace
}

fn json(workspace: &Workspace, args: &[&str]) -> serde_json::Value {
    let output = workspace.cxm(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn metrics_scorecards_and_targets_from_the_command_line() {
    let workspace = loaded();

    // Contacts by site add up to every contact, each with its sample size.
    let result = json(
        &workspace,
        &[
            "metrics",
            "--metric",
            "contacts,csat",
            "--by",
            "site",
            "--grain",
            "all",
            "--format",
            "json",
        ],
    );
    assert_eq!(result["answered_from"], "rollup");
    let rows = result["rows"].as_array().unwrap();
    let total: f64 = rows
        .iter()
        .filter(|r| r["metric"] == "contacts")
        .map(|r| r["value"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 6000.0);
    for row in rows.iter().filter(|r| r["metric"] == "csat") {
        let (value, low, high) = (
            row["value"].as_f64().unwrap(),
            row["low"].as_f64().unwrap(),
            row["high"].as_f64().unwrap(),
        );
        assert!(low < value && value < high, "{row}");
        assert!(row["n"].as_u64().unwrap() > 30);
    }

    // CSV and the human table.
    let output = workspace.cxm(&[
        "metrics",
        "--metric",
        "repeat_contact_rate",
        "--by",
        "team",
        "--format",
        "csv",
    ]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with(
            "metric,period,team,value,n,low,high,previous,change,p_value,rank,ranked\n"
        ),
        "{text}"
    );
    let output = workspace.cxm(&[
        "metrics", "--metric", "fcr_rate", "--by", "channel", "--grain", "quarter",
    ]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("fcr_rate"));
    let output = workspace.cxm(&["metrics", "--list"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("attrition_rate"));

    // A target from the endgame, and one that makes no sense.
    let output = workspace.cxm(&[
        "targets",
        "set",
        "--metric",
        "csat",
        "--unit",
        "CO",
        "--endgame",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = workspace.cxm(&[
        "targets", "set", "--metric", "csat", "--unit", "S01", "--value", "85",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("between 0 and 1"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&[
        "targets", "set", "--metric", "nope", "--unit", "S01", "--value", "1",
    ]);
    assert!(
        stderr(&output).contains("no metric named nope"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&[
        "targets", "set", "--metric", "csat", "--unit", "S99", "--value", "0.9",
    ]);
    assert!(
        stderr(&output).contains("no org unit S99"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&[
        "targets",
        "set",
        "--metric",
        "complaint_rate",
        "--unit",
        "S01",
        "--period",
        "2025-Q1",
        "--value",
        "0.02",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The same quarter spelt another way replaces that target rather than adding one.
    let output = workspace.cxm(&[
        "targets",
        "set",
        "--metric",
        "complaint_rate",
        "--unit",
        "S01",
        "--period",
        "2025-q1",
        "--value",
        "0.02",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let targets = json(&workspace, &["targets", "list", "--format", "json"]);
    assert_eq!(targets.as_array().unwrap().len(), 2, "{targets}");
    let output = workspace.cxm(&["targets", "list", "--format", "csv"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("metric,scope_kind,scope_id,period,value,set_at\n"),
        "{text}"
    );
    assert!(text.contains(",2025-Q1,"), "{text}");

    // The scorecard of a site: the company's endgame applies, its own target too.
    let card = json(
        &workspace,
        &[
            "scorecard",
            "--unit",
            "S01",
            "--period",
            "2025-02",
            "--format",
            "json",
        ],
    );
    let line = |metric: &str| {
        card["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["metric"] == metric)
            .cloned()
            .unwrap()
    };
    let csat = line("csat");
    assert_eq!(csat["target"], 1.0);
    assert_eq!(csat["status"], "missed");
    assert!(csat["target_from"].as_str().unwrap().contains("unit CO"));
    assert!(
        csat["parent"].as_f64().is_some(),
        "the company's csat: {csat}"
    );
    assert!(csat["percentile"].as_f64().is_some());
    assert_eq!(line("complaint_rate")["target"], 0.02);
    assert_eq!(card["period"], "2025-02");
    assert_eq!(card["parent"], "CC");
    let output = workspace.cxm(&[
        "scorecard",
        "--unit",
        "S01",
        "--period",
        "2025-02",
        "--format",
        "csv",
    ]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("metric,label,unit,direction,actual,n,"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("csat,")), "{text}");

    // An agent's scorecard, against their team.
    let agent = workspace.scalar(
        "SELECT agent_id FROM interactions GROUP BY agent_id ORDER BY count(*) DESC LIMIT 1",
    );
    let agent = agent.as_str().unwrap();
    let card = json(
        &workspace,
        &[
            "scorecard",
            "--person",
            agent,
            "--period",
            "2025-02",
            "--format",
            "json",
        ],
    );
    assert_eq!(card["peers"], "every agent");
    assert!(card["parent"].as_str().unwrap().starts_with('S'));
    let output = workspace.cxm(&["scorecard", "--person", agent]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Data stored without a refresh is seen by the next question all the same.
    let late = workspace.file(
        "late.csv",
        &format!(
            "{}LATE-1,{},{agent},phone,2025-02-14T12:00:00Z,0,100,0,0,100,,true,0\n",
            common::INTERACTIONS_HEADER,
            workspace
                .scalar("SELECT customer_id FROM interactions LIMIT 1")
                .as_str()
                .unwrap()
        ),
    );
    let (code, _) = workspace.ingest("interactions", &[&late], &["--no-refresh"]);
    assert_eq!(code, 0);
    let result = json(
        &workspace,
        &[
            "metrics", "--metric", "contacts", "--grain", "all", "--format", "json",
        ],
    );
    assert_eq!(result["rows"][0]["value"], 6001.0);

    // Unknown names are clear errors.
    let output = workspace.cxm(&["metrics", "--by", "planet"]);
    assert!(
        stderr(&output).contains("unknown dimension"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&["scorecard", "--unit", "NOPE"]);
    assert!(
        stderr(&output).contains("no org unit NOPE"),
        "{}",
        stderr(&output)
    );

    // The catalogue grows from configuration without recompiling.
    std::fs::write(
        workspace.data_dir().join("metrics.toml"),
        "[[metric]]\nname = \"long_hold_rate\"\nlabel = \"Held over 2 minutes\"\nsource = \"contacts\"\nkind = \"share\"\nnumerator = \"hold_seconds > 120\"\ndenominator = \"hold_seconds IS NOT NULL\"\nunit = \"share\"\ndirection = \"lower\"\n",
    )
    .unwrap();
    let result = json(
        &workspace,
        &[
            "metrics",
            "--metric",
            "long_hold_rate",
            "--grain",
            "all",
            "--format",
            "json",
        ],
    );
    let value = result["rows"][0]["value"].as_f64().unwrap();
    let expected = workspace.scalar(
        "SELECT CAST(SUM(CASE WHEN hold_seconds > 120 THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(hold_seconds) AS DOUBLE) FROM interactions",
    );
    assert!((value - expected.as_f64().unwrap()).abs() < 1e-12);
    std::fs::write(
        workspace.data_dir().join("metrics.toml"),
        "[[metric]]\nname = \"broken\"\nlabel = \"x\"\nsource = \"contacts\"\nkind = \"share\"\nnumerator = \"no_such_field > 1\"\nunit = \"share\"\ndirection = \"lower\"\n",
    )
    .unwrap();
    let output = workspace.cxm(&["metrics", "--metric", "contacts"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("metric broken"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn analyses_from_the_command_line() {
    let workspace = loaded();

    // Drivers of CSAT: every rating offered, shares of R² adding up to one.
    let drivers = json(
        &workspace,
        &["drivers", "--resamples", "20", "--format", "json"],
    );
    let results = drivers["drivers"].as_array().unwrap();
    assert!(results.iter().any(|d| d["name"] == "rating:ease"));
    let shares: f64 = results.iter().map(|d| d["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-6, "{shares}");

    // CLV: converged fits, the customers' values adding up to the total.
    let clv = json(&workspace, &["clv", "--format", "json"]);
    assert_eq!(clv["purchases"]["convergence"]["converged"], true);
    let values: f64 = clv["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_f64().unwrap())
        .sum();
    let total = clv["total_value"].as_f64().unwrap();
    assert!((values - total).abs() <= 1e-6 * total.abs().max(1.0));

    // Experience → money: every grouping covers at most the customers followed, and
    // each group's revenue at risk is its churn rate times its prior revenue.
    let value = json(
        &workspace,
        &["experience", "--follow-days", "30", "--format", "json"],
    );
    assert_eq!(value["follow_days"], 30);
    let customers = value["customers"].as_u64().unwrap();
    assert!(customers > 0);
    for d in value["dimensions"].as_array().unwrap() {
        let groups = d["comparison"]["groups"].as_array().unwrap();
        let n: u64 = groups
            .iter()
            .map(|g| g["customers"].as_u64().unwrap())
            .sum();
        assert_eq!(n, d["customers"].as_u64().unwrap());
        assert!(n <= customers);
        for g in groups {
            let expected =
                g["churn_rate"]["value"].as_f64().unwrap() * g["prior_revenue"].as_f64().unwrap();
            let at_risk = g["revenue_at_risk"]["value"].as_f64().unwrap();
            assert!((expected - at_risk).abs() < 1e-6, "{g}");
        }
    }
    // the repeat-contact grouping covers everyone followed
    let repeat = value["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dimension"] == "repeat_contact")
        .unwrap();
    assert_eq!(repeat["customers"].as_u64().unwrap(), customers);

    // A request the data cannot answer fails with the reason.
    let output = workspace.cxm(&["experience", "--follow-days", "0"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("at least one day"),
        "{}",
        stderr(&output)
    );
    let output = workspace.cxm(&["experience", "--cut", "1990-01-01"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no customers had a contact in the year before 1990-01-01"),
        "{}",
        stderr(&output)
    );

    let attrition = json(
        &workspace,
        &["attrition", "--resamples", "10", "--format", "json"],
    );
    assert!(!attrition["curves"].as_array().unwrap().is_empty());
    let causes = json(&workspace, &["root-causes", "--format", "json"]);
    assert!(!causes["topics"].as_array().unwrap().is_empty());
}
