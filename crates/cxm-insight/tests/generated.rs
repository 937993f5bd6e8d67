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

    // Drivers of CSAT among the operational measures alone (the ratings are the
    // mediators every operational effect runs through, so they stay out): the truly
    // resolved contacts (seen through the agent's flag and the absence of a repeat)
    // matter more than any other measure, as the generator's total effects say
    // (resolved: the largest), and the effects it makes negative come out negative.
    let request = DriverRequest {
        filters: Filters::default(),
        outcome: Outcome::Csat,
        candidates: Candidates {
            operational: true,
            ratings: false,
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
        .filter(|d| !d.name.starts_with("channel:"))
        .map(|d| d.name.as_str())
        .collect();
    assert!(
        ["followed_by_repeat", "resolved_by_agent"].contains(&operational[0]),
        "{operational:?}"
    );
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

    // Drivers of CSAT among the ratings: the ranking by relative weight follows the true
    // standardised effects the generator reports.
    let drivers_truth = &truth["drivers"];
    assert_eq!(drivers_truth["outcome"], "csat");
    assert_eq!(drivers_truth["direct_effects"], false);
    let true_effects: Vec<(&str, f64)> = drivers_truth["ratings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["standardized_effect"].as_f64().unwrap(),
            )
        })
        .collect();
    let ratings_only = cxm_insight::reports::drivers(
        &engine,
        &DriverRequest {
            candidates: Candidates {
                operational: false,
                ratings: true,
                topics: 0,
            },
            ..request.clone()
        },
    )
    .await
    .unwrap();
    let estimated: Vec<f64> = true_effects
        .iter()
        .map(|(name, _)| {
            let d = ratings_only
                .drivers
                .iter()
                .find(|d| d.name == *name)
                .unwrap();
            d.relative_weight.value
        })
        .collect();
    let truth_values: Vec<f64> = true_effects.iter().map(|(_, v)| *v).collect();
    let rho = cxm_insight::drivers::spearman(&truth_values, &estimated).unwrap();
    println!(
        "true standardised effects {true_effects:?}; relative weights {estimated:?}; Spearman {rho:.3}"
    );
    assert!(
        rho >= 0.9,
        "Spearman {rho:.3}: truth {true_effects:?}, relative weights {estimated:?}"
    );

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

    // Experience → money: customers whose lowest CSAT was 1-2 churn more afterwards than
    // those who only gave 4-5 (the generator's churn after a low rating), so moving them
    // lowers churn.
    let value = cxm_insight::experience::experience_value(
        &world.dir,
        &engine,
        &cxm_insight::experience::ExperienceRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(value.follow_days, 180);
    let csat = value
        .dimensions
        .iter()
        .find(|d| d.dimension == "lowest_csat")
        .unwrap();
    let group = |name: &str| {
        csat.comparison
            .groups
            .iter()
            .find(|g| g.group == name)
            .unwrap()
    };
    let (low, high) = (group("1-2"), group("4-5"));
    assert!(
        low.churn_rate.value > high.churn_rate.value,
        "{low:?} vs {high:?}"
    );
    assert_eq!(
        csat.comparison
            .groups
            .iter()
            .map(|g| g.customers)
            .sum::<u64>(),
        csat.customers
    );
    assert!(csat.customers <= value.customers);
    let lift = csat
        .comparison
        .moves
        .iter()
        .find(|m| m.from == "1-2" && m.to == "4-5")
        .unwrap();
    assert!(lift.churn_change.value < 0.0, "{lift:?}");
    assert!(low.excess_at_risk.unwrap().value > 0.0);

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
