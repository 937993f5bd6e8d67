//! Alert evaluation on a generated organisation: the cases opened are exactly the rule
//! matches computed here, independently, from the generated files; evaluating again or
//! ingesting the same files again opens nothing more.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use cxm_catalog::DataDir;
use cxm_domain::RecordKind;
use cxm_domain::cases::AlertRule;
use cxm_ingest::IngestRequest;
use cxm_loop::Scope;
use cxm_sql::{CaseFilter, CaseStore};

fn records(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn micros(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_micros()
}

/// The rule matches, computed from the files: rule id → triggering record ids.
fn expected(generated: &Path) -> HashMap<&'static str, BTreeSet<String>> {
    let mut expected: HashMap<&'static str, BTreeSet<String>> = HashMap::new();
    for answer in records(&generated.join("survey_responses.csv")) {
        let score = |name: &str| answer[name].parse::<i32>().ok();
        if score("nps").is_some_and(|nps| nps <= 6) {
            expected
                .entry("detractor")
                .or_default()
                .insert(answer["response_id"].clone());
        }
        if score("csat").is_some_and(|csat| csat <= 2) {
            expected
                .entry("very-dissatisfied")
                .or_default()
                .insert(answer["response_id"].clone());
        }
    }
    let complaint_codes: HashSet<String> = records(&generated.join("topics.csv"))
        .into_iter()
        .filter(|topic| topic["kind"] == "complaint")
        .map(|topic| topic["code"].clone())
        .collect();
    let contacts = records(&generated.join("interactions.csv"));
    let mut by_customer: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
    for contact in &contacts {
        if contact["topics"]
            .split(';')
            .any(|code| complaint_codes.contains(code.trim()))
        {
            expected
                .entry("complaint")
                .or_default()
                .insert(contact["interaction_id"].clone());
        }
        by_customer
            .entry(&contact["customer_id"])
            .or_default()
            .push((micros(&contact["started_at"]), &contact["interaction_id"]));
    }
    // 3 contacts within 7 days: the contacts started in [t - 7 days, t], t's own included.
    let week = 7 * 86_400_000_000;
    for times in by_customer.values() {
        for &(t, id) in times {
            let within = times
                .iter()
                .filter(|&&(u, _)| u >= t - week && u <= t)
                .count();
            if within >= 3 {
                expected
                    .entry("repeat-contacts")
                    .or_default()
                    .insert(id.to_owned());
            }
        }
    }
    expected
}

async fn ingest_all(dir: &DataDir, generated: &Path) {
    ingest_all_but(dir, generated, &[]).await;
}

/// Ingests every generated file but those of the `skipped` kinds (CLI names).
async fn ingest_all_but(dir: &DataDir, generated: &Path, skipped: &[&str]) {
    for (file, kind) in cxm_generate::FILES {
        if skipped.contains(kind) {
            continue;
        }
        let kind = RecordKind::from_cli_name(kind).unwrap();
        let summary =
            cxm_ingest::ingest(dir, &IngestRequest::new(kind, vec![generated.join(file)]))
                .await
                .unwrap();
        assert_eq!(summary.rejected, 0);
    }
}

/// Six months of a generated organisation, ingested into a fresh data directory; the
/// files stay under `generated/` of the returned directory.
async fn generated_world(contacts: u64, seed: u64) -> (tempfile::TempDir, DataDir) {
    let (temp, dir) = generated_files(contacts, seed).await;
    ingest_all(&dir, &temp.path().join("generated")).await;
    (temp, dir)
}

/// Six months of a generated organisation under `generated/` of the returned directory,
/// and a fresh data directory beside them with nothing ingested.
async fn generated_files(contacts: u64, seed: u64) -> (tempfile::TempDir, DataDir) {
    let temp = tempfile::tempdir().unwrap();
    let mut options = cxm_generate::GenerateOptions::new(temp.path().join("generated"));
    options.contacts = contacts;
    options.seed = seed;
    options.months = 6;
    cxm_generate::generate(&options).unwrap();
    let dir = DataDir::init(&temp.path().join("data"), None)
        .await
        .unwrap();
    (temp, dir)
}

/// Stores the default rules looking at records of any age, with `cooldown_days` when given.
async fn default_rules_of_any_age(dir: &DataDir, cooldown_days: Option<u32>) {
    let store = dir.reference().await.unwrap();
    for mut rule in AlertRule::defaults() {
        rule.max_age_days = None;
        rule.cooldown_days = cooldown_days.unwrap_or(rule.cooldown_days);
        store
            .set_rule(&rule, "test", "2030-01-01T00:00:00Z")
            .await
            .unwrap();
    }
}

async fn opened_cases(dir: &DataDir) -> HashMap<String, BTreeSet<String>> {
    let store = dir.reference().await.unwrap();
    let cases = store
        .cases(&CaseFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut by_rule: HashMap<String, BTreeSet<String>> = HashMap::new();
    for case in cases {
        let fresh = by_rule
            .entry(case.rule_id)
            .or_default()
            .insert(case.trigger_id);
        assert!(fresh, "two cases for one trigger");
    }
    by_rule
}

#[tokio::test(flavor = "multi_thread")]
async fn cases_opened_are_exactly_the_rule_matches() {
    let (temp, dir) = generated_world(20_000, 5).await;
    let generated = temp.path().join("generated");

    // Without a cooldown or an age limit every match opens its own case.
    let store = dir.reference().await.unwrap();
    let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    default_rules_of_any_age(&dir, Some(0)).await;
    let run = cxm_loop::evaluate(&dir, &Scope::default(), now)
        .await
        .unwrap();
    let mut expected = expected(&generated);
    expected.insert(
        "high-value-unhappy",
        high_value_matches(&store, &generated).await,
    );
    let opened = opened_cases(&dir).await;
    for rule in [
        "detractor",
        "very-dissatisfied",
        "repeat-contacts",
        "complaint",
        "high-value-unhappy",
    ] {
        let want = &expected[rule];
        assert!(
            want.len() >= if rule == "high-value-unhappy" { 5 } else { 20 },
            "{rule}: only {} matches in the generated data",
            want.len()
        );
        assert_eq!(opened.get(rule), Some(want), "{rule}");
        let counted = run.rules.iter().find(|r| r.rule_id == rule).unwrap();
        assert_eq!(
            (counted.firings, counted.opened),
            (want.len() as u64, want.len() as u64)
        );
    }

    // Every case of a contact's agent lies in that agent's team and is owned by a lead.
    let leads: HashSet<String> = records(&generated.join("people.csv"))
        .into_iter()
        .filter(|p| p["role"] == "lead")
        .map(|p| p["person_id"].clone())
        .collect();
    let cases = store
        .cases(&CaseFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap();
    // A contact's case has its agent; an answer's, that of the contact it answers.
    let agent_of: HashMap<String, String> = records(&generated.join("interactions.csv"))
        .into_iter()
        .map(|c| (c["interaction_id"].clone(), c["agent_id"].clone()))
        .collect();
    let contact_of: HashMap<String, String> = records(&generated.join("survey_responses.csv"))
        .into_iter()
        .filter(|a| !a["interaction_id"].is_empty())
        .map(|a| (a["response_id"].clone(), a["interaction_id"].clone()))
        .collect();
    for case in &cases {
        let contact = match case.rule_id.as_str() {
            "repeat-contacts" | "complaint" => Some(&case.trigger_id),
            _ => contact_of.get(&case.trigger_id),
        };
        if let Some(contact) = contact {
            assert_eq!(
                case.agent_id.as_ref(),
                agent_of.get(contact),
                "case {}",
                case.case_id
            );
        }
    }
    for case in cases.iter().filter(|c| c.unit_id.is_some()) {
        let owner = case.owner_id.as_deref().unwrap();
        assert!(
            leads.contains(owner),
            "case {} owned by {owner}, not a lead",
            case.case_id
        );
    }

    // Again, and after ingesting the same files again: nothing new.
    let again = cxm_loop::evaluate(&dir, &Scope::default(), now)
        .await
        .unwrap();
    assert_eq!(again.opened, 0);
    ingest_all(&dir, &generated).await;
    let since = Some("2000-01-01T00:00:00Z".parse().unwrap());
    assert_eq!(
        cxm_loop::evaluate(&dir, &Scope::since(since), now)
            .await
            .unwrap()
            .opened,
        0
    );
    assert_eq!(opened_cases(&dir).await, opened_sets(&expected));
}

/// The answers with a negative comment from the top tenth of customers by stored lifetime
/// value, after checking that every customer with a purchase before the last day of
/// purchases was valued once (one first seen that day has no history to value).
async fn high_value_matches(store: &cxm_sql::SqlStore, generated: &Path) -> BTreeSet<String> {
    use cxm_sql::CustomerValueStore;
    let mut first_day: HashMap<String, String> = HashMap::new();
    let mut last_day = String::new();
    for t in records(&generated.join("transactions.csv")) {
        if t["kind"] == "purchase" && t["amount"].parse::<f64>().unwrap() > 0.0 {
            let day = t["occurred_at"][..10].to_owned();
            last_day = last_day.max(day.clone());
            let first = first_day
                .entry(t["customer_id"].clone())
                .or_insert(day.clone());
            if day < *first {
                *first = day;
            }
        }
    }
    let buyers: HashSet<String> = first_day
        .into_iter()
        .filter(|(_, first)| *first < last_day)
        .map(|(customer, _)| customer)
        .collect();
    let snapshot = store.value_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.customers as usize, buyers.len());
    assert_eq!(snapshot.computed_at, "2030-01-01T00:00:00Z");
    let top = store.top_customer_values(10).await.unwrap();
    assert_eq!(top.len(), buyers.len().div_ceil(10));
    let all = store.top_customer_values(100).await.unwrap();
    let threshold = top.last().unwrap().value;
    assert!(all[top.len()..].iter().all(|v| v.value <= threshold));
    let top: HashSet<String> = top.into_iter().map(|v| v.customer_id).collect();
    records(&generated.join("survey_responses.csv"))
        .into_iter()
        .filter(|a| {
            top.contains(&a["customer_id"])
                && cxm_domain::sentiment::negative(&a["comment"]).is_some()
        })
        .map(|a| a["response_id"].clone())
        .collect()
}

fn opened_sets(
    expected: &HashMap<&'static str, BTreeSet<String>>,
) -> HashMap<String, BTreeSet<String>> {
    expected
        .iter()
        .map(|(rule, set)| ((*rule).to_owned(), set.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cooldown_keeps_one_case_per_customer_and_window() {
    let (_temp, dir) = generated_world(8_000, 9).await;
    let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    default_rules_of_any_age(&dir, None).await;
    let run = cxm_loop::evaluate(&dir, &Scope::default(), now)
        .await
        .unwrap();
    let store = dir.reference().await.unwrap();
    let cases = store
        .cases(&CaseFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cases.len() as u64, run.opened);
    // the default rules' 14-day cooldown: no two cases of one rule and customer closer
    let mut by_key: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for case in &cases {
        by_key
            .entry((case.rule_id.clone(), case.customer_id.clone()))
            .or_default()
            .push(micros(&case.triggered_at));
    }
    let fortnight = 14 * 86_400_000_000;
    for times in by_key.values_mut() {
        times.sort_unstable();
        assert!(times.windows(2).all(|w| w[1] - w[0] >= fortnight));
    }
    let repeat = run
        .rules
        .iter()
        .find(|r| r.rule_id == "repeat-contacts")
        .unwrap();
    assert!(
        repeat.opened < repeat.firings,
        "the cooldown suppressed nothing: {run:?}"
    );
    // Each case is due its rule's SLA after opening.
    let high = cases.iter().find(|c| c.rule_id == "detractor").unwrap();
    assert_eq!(high.due_at, "2030-01-02T00:00:00Z");
}

/// Writes the rows of a generated CSV whose `column` (an RFC 3339 time) is before `cut`
/// (`before`) or not, with the header, to `out`.
fn split_file(from: &Path, column: &str, cut: i64, before: bool, out: &Path) {
    let mut reader = csv::Reader::from_path(from).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = header.iter().position(|h| h == column).unwrap();
    let mut writer = csv::Writer::from_path(out).unwrap();
    writer.write_record(&header).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        if (micros(&record[at]) < cut) == before {
            writer.write_record(&record).unwrap();
        }
    }
    writer.flush().unwrap();
}

/// Each ingest evaluated from its earliest record on (as `cxm ingest` and the ingest API
/// do) opens exactly the cases one evaluation of everything would, cooldowns included.
#[tokio::test(flavor = "multi_thread")]
async fn evaluating_each_ingest_from_its_earliest_record_misses_nothing() {
    let (temp, whole) = generated_world(8_000, 11).await;
    let generated = temp.path().join("generated");
    let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    default_rules_of_any_age(&whole, None).await;
    cxm_loop::evaluate(&whole, &Scope::default(), now)
        .await
        .unwrap();
    let want = opened_cases(&whole).await;

    // The contacts and answers in two parts, cut in the middle of the six months.
    let times: Vec<i64> = records(&generated.join("interactions.csv"))
        .iter()
        .map(|c| micros(&c["started_at"]))
        .collect();
    let cut = (times.iter().min().unwrap() + times.iter().max().unwrap()) / 2;
    let parts = temp.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    for (file, column) in [
        ("interactions.csv", "started_at"),
        ("survey_responses.csv", "answered_at"),
    ] {
        for (before, part) in [(true, "a"), (false, "b")] {
            let out = parts.join(format!("{part}-{file}"));
            split_file(&generated.join(file), column, cut, before, &out);
        }
    }
    let dir = DataDir::init(&temp.path().join("parted"), None)
        .await
        .unwrap();
    default_rules_of_any_age(&dir, None).await;
    ingest_all_but(&dir, &generated, &["interactions", "surveys"]).await;
    let mut firsts = Vec::new();
    for part in ["a", "b"] {
        let mut first: Option<i64> = None;
        for (file, kind) in [
            ("interactions.csv", RecordKind::Interactions),
            ("survey_responses.csv", RecordKind::Surveys),
        ] {
            let request = IngestRequest::new(kind, vec![parts.join(format!("{part}-{file}"))]);
            let summary = cxm_ingest::ingest(&dir, &request).await.unwrap();
            assert!(summary.inserted > 0);
            let earliest = summary.earliest_micros.unwrap();
            first = Some(first.map_or(earliest, |s| s.min(earliest)));
            // as `cxm ingest` does: the rules that fire on this kind, from its earliest record
            let scope = Scope::ingested(kind, DateTime::from_timestamp_micros(earliest));
            let run = cxm_loop::evaluate(&dir, &scope, now).await.unwrap();
            let evaluated: BTreeSet<&str> = run.rules.iter().map(|r| r.rule_id.as_str()).collect();
            let watching = match kind {
                RecordKind::Interactions => BTreeSet::from(["repeat-contacts", "complaint"]),
                _ => BTreeSet::from(["detractor", "very-dissatisfied", "high-value-unhappy"]),
            };
            assert_eq!(evaluated, watching, "{kind:?}");
        }
        firsts.push(first.unwrap());
    }
    // the second part was looked at from its own start only
    assert!(firsts[1] >= cut && firsts[0] < cut, "{firsts:?} {cut}");
    let got = opened_cases(&dir).await;
    assert_eq!(got.keys().collect::<BTreeSet<_>>(), want.keys().collect());
    for (rule, cases) in &want {
        assert_eq!(&got[rule], cases, "{rule}");
    }
}

/// With the default 14-day age limit, an evaluation a few days after the last contact opens
/// cases exactly for the matches of the last 14 days; an ingest of older records says why
/// they opened nothing.
#[tokio::test(flavor = "multi_thread")]
async fn only_records_within_the_age_limit_open_cases() {
    let (temp, dir) = generated_world(20_000, 5).await;
    let generated = temp.path().join("generated");
    let mut times: HashMap<String, i64> = HashMap::new();
    for contact in records(&generated.join("interactions.csv")) {
        times.insert(
            contact["interaction_id"].clone(),
            micros(&contact["started_at"]),
        );
    }
    for answer in records(&generated.join("survey_responses.csv")) {
        times.insert(
            answer["response_id"].clone(),
            micros(&answer["answered_at"]),
        );
    }
    let last = *times.values().max().unwrap();
    let day = 86_400_000_000;
    let now = DateTime::from_timestamp_micros(last + 5 * day).unwrap();
    let oldest = last + 5 * day - 14 * day;
    // No cooldown, so every match within the limit opens its own case.
    let store = dir.reference().await.unwrap();
    for mut rule in AlertRule::defaults() {
        assert_eq!(rule.max_age_days, Some(14));
        rule.cooldown_days = 0;
        store
            .set_rule(&rule, "test", "2030-01-01T00:00:00Z")
            .await
            .unwrap();
    }
    let since = DateTime::from_timestamp_micros(last - 60 * day);
    let run = cxm_loop::evaluate(&dir, &Scope::since(since), now)
        .await
        .unwrap();
    let opened = opened_cases(&dir).await;
    let expected = expected(&generated);
    for rule in [
        "detractor",
        "very-dissatisfied",
        "repeat-contacts",
        "complaint",
    ] {
        let recent: BTreeSet<String> = expected[rule]
            .iter()
            .filter(|id| times[*id] >= oldest)
            .cloned()
            .collect();
        assert!(
            recent.len() >= 5 && recent.len() < expected[rule].len(),
            "{rule}: {} of {}",
            recent.len(),
            expected[rule].len()
        );
        assert_eq!(opened.get(rule), Some(&recent), "{rule}");
        let counted = run.rules.iter().find(|r| r.rule_id == rule).unwrap();
        let note = counted.note.as_deref().unwrap_or_default();
        assert!(
            note.contains("more than 14 days old: history, not followed up"),
            "{rule}: {note}"
        );
    }
    // An evaluation from within the limit says nothing about age.
    let since = DateTime::from_timestamp_micros(last - day);
    let run = cxm_loop::evaluate(&dir, &Scope::since(since), now)
        .await
        .unwrap();
    assert_eq!(run.opened, 0);
    assert!(
        run.rules
            .iter()
            .all(|r| r.rule_id == "high-value-unhappy" || r.note.is_none()),
        "{run:?}"
    );
}

/// Purchases stored after the answers make the high-value rule look again with customer
/// values computed afresh, even when the stored ones are minutes old: their last day of
/// purchases moves to the new purchases', and every answer the new values call for opens
/// its case.
#[tokio::test(flavor = "multi_thread")]
async fn new_purchases_value_customers_again_for_the_high_value_rule() {
    use cxm_sql::CustomerValueStore;
    let (temp, dir) = generated_files(8_000, 13).await;
    let generated = temp.path().join("generated");
    ingest_all_but(&dir, &generated, &["transactions"]).await;
    default_rules_of_any_age(&dir, Some(0)).await;
    let purchases = generated.join("transactions.csv");
    // the times of purchases proper (the values' histories; refunds are not purchases)
    let times: Vec<i64> = records(&purchases)
        .iter()
        .filter(|t| t["kind"] == "purchase" && t["amount"].parse::<f64>().unwrap() > 0.0)
        .map(|t| micros(&t["occurred_at"]))
        .collect();
    let cut = (times.iter().min().unwrap() + times.iter().max().unwrap()) / 2;
    let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    let store = dir.reference().await.unwrap();
    let mut ends = Vec::new();
    for (part, before) in [("a", true), ("b", false)] {
        let file = temp.path().join(format!("{part}-transactions.csv"));
        split_file(&purchases, "occurred_at", cut, before, &file);
        let request = IngestRequest::new(RecordKind::Transactions, vec![file]);
        let summary = cxm_ingest::ingest(&dir, &request).await.unwrap();
        let since = summary
            .earliest_micros
            .and_then(DateTime::from_timestamp_micros);
        let scope = Scope::ingested(RecordKind::Transactions, since);
        let run = cxm_loop::evaluate(&dir, &scope, now).await.unwrap();
        let evaluated: Vec<&str> = run.rules.iter().map(|r| r.rule_id.as_str()).collect();
        assert_eq!(evaluated, ["high-value-unhappy"], "part {part}");
        ends.push(store.value_snapshot().await.unwrap().unwrap().end_date);
    }
    let day = |micros: i64| {
        DateTime::from_timestamp_micros(micros)
            .unwrap()
            .date_naive()
            .to_string()
    };
    let last_before_cut = times.iter().copied().filter(|&t| t < cut).max().unwrap();
    assert_eq!(
        ends,
        [day(last_before_cut), day(*times.iter().max().unwrap())]
    );
    // the values of every purchase: each answer they call for has its case
    let want = high_value_matches(&store, &generated).await;
    assert!(want.len() >= 5, "only {} matches", want.len());
    let opened = opened_cases(&dir).await;
    let got = opened
        .get("high-value-unhappy")
        .cloned()
        .unwrap_or_default();
    assert!(
        want.is_subset(&got),
        "missing: {:?}",
        want.difference(&got).collect::<Vec<_>>()
    );
}

/// Contacts kept as an ingest writes them (`cxm ingest`) open exactly the cases the
/// contacts read back from the table would: onto an empty table and onto stored contacts
/// whose last week the repeat-contact window reaches into. A re-delivery that replaces a
/// contact, or a file that repeats an id, keeps nothing, and the table is read.
#[tokio::test(flavor = "multi_thread")]
async fn contacts_kept_at_ingest_open_the_cases_the_table_would() {
    let (temp, dir) = generated_files(8_000, 23).await;
    let generated = temp.path().join("generated");
    ingest_all_but(&dir, &generated, &["interactions"]).await;
    let contacts = records(&generated.join("interactions.csv"));
    let times: HashMap<String, i64> = contacts
        .iter()
        .map(|c| (c["interaction_id"].clone(), micros(&c["started_at"])))
        .collect();
    let last = *times.values().max().unwrap();
    let day = 86_400_000_000;
    let now = DateTime::from_timestamp_micros(last + 3 * day).unwrap();
    // No cooldown: every match within the 14-day age limit opens its own case.
    let store = dir.reference().await.unwrap();
    for mut rule in AlertRule::defaults() {
        rule.cooldown_days = 0;
        store
            .set_rule(&rule, "test", "2030-01-01T00:00:00Z")
            .await
            .unwrap();
    }
    let keep = cxm_loop::contacts_to_keep(&dir, now)
        .await
        .unwrap()
        .unwrap();
    // the complaint rule's 14 days and the repeat-contact window's 7 before them
    assert_eq!(keep.from_micros, now.timestamp_micros() - 21 * day);

    // Two parts, cut four days before the last contact: the second part's windows reach
    // back into the first.
    let cut = last - 4 * day;
    let parts = temp.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    let file = generated.join("interactions.csv");
    for (before, part) in [(true, "a"), (false, "b")] {
        split_file(
            &file,
            "started_at",
            cut,
            before,
            &parts.join(format!("{part}.csv")),
        );
    }
    let mut kept_rows = 0;
    for part in ["a", "b"] {
        let request = IngestRequest::new(
            RecordKind::Interactions,
            vec![parts.join(format!("{part}.csv"))],
        );
        let (summary, added) = cxm_ingest::ingest_keeping(&dir, &request, Some(&keep))
            .await
            .unwrap();
        let added = added.expect("an ingest of new contacts keeps them");
        assert!(added.base_version < added.version, "{part}");
        kept_rows += added.rows();
        let since = summary
            .earliest_micros
            .and_then(DateTime::from_timestamp_micros);
        let scope = Scope::ingested(RecordKind::Interactions, since);
        cxm_loop::evaluate_after(&dir, &scope, now, Some(&added))
            .await
            .unwrap();
    }
    let kept_expected = times.values().filter(|&&t| t >= keep.from_micros).count();
    assert_eq!(kept_rows, kept_expected);
    let oldest = now.timestamp_micros() - 14 * day;
    let expected = expected(&generated);
    let opened = opened_cases(&dir).await;
    for rule in ["repeat-contacts", "complaint"] {
        let recent: BTreeSet<String> = expected[rule]
            .iter()
            .filter(|id| times[*id] >= oldest)
            .cloned()
            .collect();
        assert!(recent.len() >= 5, "{rule}: {}", recent.len());
        // some from each part, so the second part's evaluation needed the first's contacts
        assert!(
            recent.iter().any(|id| times[id] < cut) && recent.iter().any(|id| times[id] >= cut)
        );
        assert_eq!(opened.get(rule), Some(&recent), "{rule}");
    }

    // A re-delivery that changes a contact: nothing kept.
    let changed = parts.join("changed.csv");
    let mut reader = csv::Reader::from_path(parts.join("b.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let hold = header.iter().position(|h| h == "hold_seconds").unwrap();
    let mut writer = csv::Writer::from_path(&changed).unwrap();
    writer.write_record(&header).unwrap();
    for (n, record) in reader.records().enumerate() {
        let mut record: Vec<String> = record.unwrap().iter().map(str::to_owned).collect();
        if n == 0 {
            record[hold] = "4321".into();
        }
        writer.write_record(&record).unwrap();
    }
    writer.flush().unwrap();
    let request = IngestRequest::new(RecordKind::Interactions, vec![changed.clone()]);
    let (summary, added) = cxm_ingest::ingest_keeping(&dir, &request, Some(&keep))
        .await
        .unwrap();
    assert_eq!(summary.replaced, 1);
    assert!(added.is_none());
    // The same file twice over in one batch: an id repeats, nothing kept.
    let fresh = DataDir::init(&temp.path().join("fresh"), None)
        .await
        .unwrap();
    let request = IngestRequest::new(RecordKind::Interactions, vec![changed.clone(), changed]);
    let (_, added) = cxm_ingest::ingest_keeping(&fresh, &request, Some(&keep))
        .await
        .unwrap();
    assert!(added.is_none());
}
