//! The analyses on a generated organisation, against the generator's ground truth.

use std::path::PathBuf;

use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_ingest::IngestRequest;
use cxm_insight::drivers::DriverSettings;
use cxm_insight::reports::{ClvRequest, DriverRequest};
use cxm_insight::sources::{Candidates, Outcome};
use cxm_metrics::{Engine, Filters};

struct World {
    _temp: tempfile::TempDir,
    dir: DataDir,
    generated: PathBuf,
}

async fn world() -> World {
    let temp = tempfile::tempdir().unwrap();
    let generated = temp.path().join("generated");
    let mut options = cxm_generate::GenerateOptions::new(generated.clone());
    options.contacts = 60_000;
    options.seed = 11;
    options.months = 12;
    cxm_generate::generate(&options).unwrap();
    let dir = DataDir::init(&temp.path().join("data"), None)
        .await
        .unwrap();
    for (file, kind) in cxm_generate::FILES {
        let kind = RecordKind::from_cli_name(kind).unwrap();
        let summary =
            cxm_ingest::ingest(&dir, &IngestRequest::new(kind, vec![generated.join(file)]))
                .await
                .unwrap();
        assert_eq!(summary.rejected, 0);
    }
    cxm_metrics::refresh(&dir).await.unwrap();
    World {
        _temp: temp,
        dir,
        generated,
    }
}

fn truth(world: &World) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(world.generated.join("ground_truth.json")).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn analyses_recover_the_generators_effects() {
    let world = world().await;
    let engine = Engine::open(&world.dir).await.unwrap();
    let truth = truth(&world);

    // Drivers of CSAT: the attribute with the largest true weight leads the ratings, and
    // the truly resolved contacts (seen through the agent's flag and the absence of a
    // repeat) matter more than any other operational measure, as the generator's total
    // effects say (resolved: the largest).
    let request = DriverRequest {
        filters: Filters::default(),
        outcome: Outcome::Csat,
        candidates: Candidates {
            operational: true,
            ratings: true,
            topics: 0,
        },
        settings: DriverSettings {
            resamples: 100,
            ..DriverSettings::default()
        },
    };
    let report = cxm_insight::reports::drivers(&engine, &request)
        .await
        .unwrap();
    let satisfaction = &truth["model"]["satisfaction"];
    let names: Vec<&str> = satisfaction["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    let weights: Vec<f64> = satisfaction["attribute_weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .collect();
    let heaviest = names[(0..weights.len())
        .max_by(|&a, &b| weights[a].total_cmp(&weights[b]))
        .unwrap()];
    let ratings: Vec<&str> = report
        .drivers
        .iter()
        .filter(|d| d.name.starts_with("rating:"))
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(ratings.len(), names.len());
    assert_eq!(ratings[0], format!("rating:{heaviest}"));
    let effects = &truth["satisfaction_total_effects"];
    let largest = effects
        .as_object()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            a.1.as_f64()
                .unwrap()
                .abs()
                .total_cmp(&b.1.as_f64().unwrap().abs())
        })
        .unwrap()
        .0;
    assert_eq!(largest, "resolved");
    let operational: Vec<&str> = report
        .drivers
        .iter()
        .filter(|d| !d.name.starts_with("rating:") && !d.name.starts_with("channel:"))
        .map(|d| d.name.as_str())
        .collect();
    assert!(
        ["followed_by_repeat", "resolved_by_agent"].contains(&operational[0]),
        "{operational:?}"
    );
    // the operational effects the generator makes negative come out negative (a repeat
    // contact's effect runs through the ease rating, which the model holds fixed)
    for (driver, factor) in [
        ("transfers", "transfers"),
        ("hold_seconds", "hold_minutes"),
        ("queue_seconds", "queue_minutes"),
        ("handle_seconds", "handle_minutes_over_8"),
    ] {
        let d = report.drivers.iter().find(|d| d.name == driver).unwrap();
        assert!(effects[factor].as_f64().unwrap() < 0.0);
        assert!(d.coefficient.value < 0.0, "{driver}: {:?}", d.coefficient);
    }

    // Attrition: churn drivers have the true signs.
    let settings = DriverSettings {
        resamples: 50,
        ..DriverSettings::default()
    };
    let attrition =
        cxm_insight::attrition::attrition(&world.dir, &engine, &Filters::default(), &settings)
            .await
            .unwrap();
    let churn = &truth["model"]["churn"]["contact"];
    let drivers = attrition.drivers.as_ref().unwrap();
    for (driver, effect) in [
        ("low_csat_share", "low_csat"),
        ("top_csat_share", "top_csat"),
        ("repeat_contact_share", "follow_up"),
        ("hold_seconds", "hold_minutes"),
    ] {
        let d = drivers.drivers.iter().find(|d| d.name == driver).unwrap();
        let truth = churn[effect].as_f64().unwrap();
        assert_eq!(
            d.coefficient.value.signum(),
            truth.signum(),
            "{driver}: {:?} vs {truth}",
            d.coefficient
        );
    }
    // retention: customers who gave a CSAT of 1-2 churn more
    let retained = |group: &str| {
        let curve = attrition.curves.iter().find(|c| c.group == group).unwrap();
        curve.churned as f64 / curve.customers as f64
    };
    assert!(retained("had a csat of 1-2") > retained("no csat of 1-2"));

    let clv = cxm_insight::reports::clv(&engine, &ClvRequest::default())
        .await
        .unwrap();
    assert!(clv.purchases.convergence.converged, "{:?}", clv.purchases);
    assert!(clv.spend.convergence.converged, "{:?}", clv.spend);
    let total: f64 = clv.values.iter().map(|c| c.value).sum();
    assert!((total - clv.total_value).abs() < 1e-6 * total);

    // Root causes: the leading topics bring more repeat contacts than the rest.
    let causes = cxm_insight::root_causes::root_causes(&engine, &Filters::default())
        .await
        .unwrap();
    let lead = &causes.topics[0];
    assert!(lead.score > 0.0);
    assert!(
        lead.repeats.unwrap().rate > lead.repeats.unwrap().rest
            || lead.dissatisfaction.unwrap().rate > lead.dissatisfaction.unwrap().rest
    );
}
