//! The engine against a naive second implementation on a generated organisation: counts
//! agree exactly and rates, means and quantiles to 1e-9.

mod common;

use common::naive::{self, agree};
use common::{Fixture, query};
use cxm_domain::metrics::Grain;
use cxm_metrics::Filters;

#[tokio::test(flavor = "multi_thread")]
async fn engine_agrees_with_a_naive_implementation_on_generated_data() {
    let fixture = Fixture::new().await;
    let generated = fixture.temp.path().join("generated");
    let mut options = cxm_generate::GenerateOptions::new(generated.clone());
    options.contacts = 20_000;
    options.seed = 7;
    options.months = 6;
    cxm_generate::generate(&options).unwrap();
    for (file, kind) in cxm_generate::FILES {
        fixture.ingest_files(kind, vec![generated.join(file)]).await;
    }
    fixture.refresh().await;
    let engine = fixture.engine().await;
    let expected = naive::compute(&generated, 7);

    let result = engine
        .query(&query(&[], &["team"], Grain::Month, Filters::default()))
        .await
        .unwrap();
    assert_eq!(result.answered_from, "rollup");
    let compared = naive::assert_agrees(&result, &expected);
    assert!(compared > 1_000, "only {compared} values compared");
    // Each metric's rows come together, teams in the order of their ids.
    for pair in result.rows.windows(2) {
        if pair[0].metric == pair[1].metric {
            assert!(
                pair[0].group <= pair[1].group,
                "{:?} before {:?}",
                pair[0].group,
                pair[1].group
            );
        }
    }

    // Attrition of the whole company, month by month.
    let result = engine
        .query(&query(
            &["attrition_rate"],
            &[],
            Grain::Month,
            Filters::default(),
        ))
        .await
        .unwrap();
    for row in &result.rows {
        let (active, churned) = expected.attrition[&row.period];
        assert_eq!(
            row.n, active,
            "customers active at the start of {}",
            row.period
        );
        agree(
            row.value,
            (active > 0).then(|| churned as f64 / active as f64),
            &format!("attrition {}", row.period),
        );
    }

    // A question about a few metrics reads only their columns and gives the same rows.
    // (A fresh engine: the first one has every column cached.)
    let few = ["handle_seconds_p90", "csat", "fcr_rate", "attrition_rate"];
    let subset = fixture
        .engine()
        .await
        .query(&query(&few, &["team"], Grain::Month, Filters::default()))
        .await
        .unwrap();
    let everything = engine
        .query(&query(&[], &["team"], Grain::Month, Filters::default()))
        .await
        .unwrap();
    let expected_rows: Vec<_> = everything
        .rows
        .iter()
        .filter(|r| few.contains(&r.metric.as_str()))
        .collect();
    assert_eq!(subset.rows.iter().collect::<Vec<_>>(), expected_rows);

    // The answers computed ahead are the engine's own live answers to the same questions.
    let (first, last) = engine.span().unwrap();
    let mut compared = 0;
    for dimension in cxm_metrics::answers::groupings(engine.organisation()) {
        for period in cxm_metrics::answers::periods(first, last) {
            let question = cxm_metrics::answers::question(&dimension, &period);
            let stored = engine.query(&question).await.unwrap();
            assert_eq!(stored.answered_from, "precomputed", "{question:?}");
            let live = engine.query_uncached(&question).await.unwrap();
            assert_eq!(stored.rows.len(), live.rows.len(), "{question:?}");
            for (a, b) in stored.rows.iter().zip(&live.rows) {
                // Bit for bit (NaN-safe).
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{question:?}");
            }
            compared += live.rows.len();
        }
    }
    assert!(
        compared > 10_000,
        "only {compared} precomputed rows compared"
    );
}
