//! Property: after any sequence of ingests — new contacts, late contacts, replaced
//! contacts, surveys and purchases arriving in any order — the rollup answers exactly what
//! the naive implementation computes from everything stored so far.

mod common;

use std::fmt::Write;

use common::naive;
use common::{Fixture, query};
use cxm_domain::metrics::Grain;
use cxm_metrics::Filters;
use proptest::prelude::*;

const ORG: [(&str, &str); 4] = [
    (
        "org-units",
        "unit_id,name,parent_id,level\nCO,Company,,company\nS1,Site,CO,site\nT1,One,S1,team\nT2,Two,S1,team\n",
    ),
    (
        "people",
        "person_id,name,email,role\nA1,A,,agent\nA2,B,,agent\nA3,C,,agent\n",
    ),
    (
        "memberships",
        "person_id,unit_id,valid_from,valid_to\nA1,T1,2025-01-01T00:00:00Z,\nA2,T1,2025-01-01T00:00:00Z,2025-02-10T00:00:00Z\nA2,T2,2025-02-10T00:00:00Z,\nA3,T2,2025-01-01T00:00:00Z,\n",
    ),
    (
        "topics",
        "code,name,category,kind,keywords\nB,Billing,billing,problem,\nX,Complaint,complaints,complaint,\n",
    ),
];

const CONTACT_HEADER: &str = "interaction_id,customer_id,agent_id,channel,started_at,queue_seconds,talk_seconds,hold_seconds,after_work_seconds,handle_seconds,topics,resolved,transfers\n";
const SURVEY_HEADER: &str =
    "response_id,survey,answered_at,customer_id,interaction_id,csat,nps,ces,comment\n";
const TRANSACTION_HEADER: &str = "transaction_id,customer_id,occurred_at,amount,kind\n";

/// One contact version: id, customer, agent, minutes after 2025-01-20, hold, topics.
#[derive(Debug, Clone)]
struct ContactVersion {
    id: u8,
    customer: u8,
    agent: u8,
    minute: u32,
    hold: Option<u16>,
    complaint: bool,
    csat: Option<u8>,
    purchase: Option<u16>,
}

fn contact_version() -> impl Strategy<Value = ContactVersion> {
    (
        0u8..24,
        0u8..4,
        1u8..4,
        0u32..(60 * 24 * 45),
        prop::option::of(0u16..600),
        any::<bool>(),
        prop::option::of(1u8..6),
        prop::option::of(1u16..500),
    )
        .prop_map(
            |(id, customer, agent, minute, hold, complaint, csat, purchase)| ContactVersion {
                id,
                customer,
                agent,
                minute,
                hold,
                complaint,
                csat,
                purchase,
            },
        )
}

fn at(minute: u32) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2025-01-20T00:00:00Z").unwrap();
    (start + chrono::Duration::minutes(i64::from(minute)))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn contact_line(v: &ContactVersion) -> String {
    let hold = v.hold.map(|h| h.to_string()).unwrap_or_default();
    let handle = 100 + u32::from(v.hold.unwrap_or(0));
    let topics = if v.complaint { "B;X" } else { "B" };
    format!(
        "I{},C{},A{},phone,{},0,100,{hold},0,{handle},{topics},true,0\n",
        v.id,
        v.customer,
        v.agent,
        at(v.minute)
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 16, ..ProptestConfig::default() })]

    #[test]
    fn rollups_stay_exact_under_incremental_late_and_replaced_ingests(
        batches in prop::collection::vec(prop::collection::vec(contact_version(), 1..8), 1..4)
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let fixture = Fixture::new().await;
            let files = fixture.temp.path().join("files");
            std::fs::create_dir_all(&files).unwrap();
            for (kind, csv) in ORG {
                fixture.ingest(kind, csv).await;
                let name = match kind {
                    "org-units" => "org_units.csv",
                    "people" => "people.csv",
                    "memberships" => "memberships.csv",
                    _ => "topics.csv",
                };
                std::fs::write(files.join(name), csv).unwrap();
            }
            let customers = "customer_id,segment,region,joined_at\nC0,a,n,2025-01-01T00:00:00Z\nC1,a,n,2025-01-01T00:00:00Z\nC2,b,s,2025-01-01T00:00:00Z\nC3,b,s,2025-01-01T00:00:00Z\n";
            fixture.ingest("customers", customers).await;
            std::fs::write(files.join("customers.csv"), customers).unwrap();
            std::fs::write(files.join("customer_events.csv"), "customer_id,occurred_at,kind,reason\n").unwrap();
            // Everything stored so far, in arrival order (the naive reader keeps the last
            // version of each id).
            let (mut contacts, mut surveys, mut transactions) =
                (CONTACT_HEADER.to_owned(), SURVEY_HEADER.to_owned(), TRANSACTION_HEADER.to_owned());
            for (b, batch) in batches.iter().enumerate() {
                let mut contact_batch = CONTACT_HEADER.to_owned();
                let mut survey_batch = SURVEY_HEADER.to_owned();
                let mut transaction_batch = TRANSACTION_HEADER.to_owned();
                for v in batch {
                    contact_batch.push_str(&contact_line(v));
                    if let Some(csat) = v.csat {
                        writeln!(survey_batch, "R{},csat,{},C{},I{},{csat},,,", v.id, at(v.minute + 30), v.customer, v.id).unwrap();
                    }
                    if let Some(amount) = v.purchase {
                        writeln!(transaction_batch, "X{}-{b},C{},{},{amount}.25,purchase", v.id, v.customer, at(v.minute + 60)).unwrap();
                    }
                }
                // Within one file the last row of an id wins; keep that order for the naive.
                contacts.push_str(&contact_batch[CONTACT_HEADER.len()..]);
                surveys.push_str(&survey_batch[SURVEY_HEADER.len()..]);
                transactions.push_str(&transaction_batch[TRANSACTION_HEADER.len()..]);
                fixture.ingest("interactions", &contact_batch).await;
                fixture.ingest("surveys", &survey_batch).await;
                fixture.ingest("transactions", &transaction_batch).await;
                fixture.refresh().await;

                std::fs::write(files.join("interactions.csv"), &contacts).unwrap();
                std::fs::write(files.join("survey_responses.csv"), &surveys).unwrap();
                std::fs::write(files.join("transactions.csv"), &transactions).unwrap();
                let expected = naive::compute(&files, 7);
                let result = fixture
                    .engine()
                    .await
                    .query(&query(&[], &["team"], Grain::Month, Filters::default()))
                    .await
                    .unwrap();
                prop_assert_eq!(result.answered_from, "rollup");
                let compared = naive::assert_agrees(&result, &expected);
                prop_assert!(compared > 0);
            }
            Ok(())
        })?;
    }
}
