//! The generated data has the properties of the model that made it. Each statistical check
//! uses a tolerance from the sample size (a z or t statistic), not a guessed margin.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use cxm_generate::{GenerateOptions, Model, generate};

fn options(dir: &Path, contacts: u64, seed: u64) -> GenerateOptions {
    let mut options = GenerateOptions::new(dir);
    options.contacts = contacts;
    options.seed = seed;
    options
}

fn rows(dir: &Path, file: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join(file)).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn ts(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp()
}

fn num(row: &HashMap<String, String>, field: &str) -> f64 {
    row[field].parse().unwrap_or(0.0)
}

fn truth(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("ground_truth.json")).unwrap()).unwrap()
}

/// Two proportions' difference in standard errors (pooled two-proportion z test).
fn z_two_proportions(hits_a: f64, n_a: f64, hits_b: f64, n_b: f64) -> f64 {
    cxm_domain::stats::two_proportions(hits_a as u64, n_a as u64, hits_b as u64, n_b as u64)
        .expect("both groups have contacts")
        .statistic
}

#[test]
fn same_seed_gives_identical_bytes_whatever_the_threads_and_other_seeds_differ() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = options(dirs[0].path(), 20_000, 7);
    a.threads = 1;
    let mut b = options(dirs[1].path(), 20_000, 7);
    b.threads = 3;
    let c = options(dirs[2].path(), 20_000, 8);
    for o in [&a, &b, &c] {
        generate(o).unwrap();
    }
    for (file, _) in cxm_generate::FILES
        .iter()
        .chain(&[("ground_truth.json", "")])
    {
        let read = |k: usize| std::fs::read(dirs[k].path().join(file)).unwrap();
        assert!(
            read(0) == read(1),
            "{file} differs between runs of one seed"
        );
        if *file != "topics.csv" {
            assert!(read(0) != read(2), "{file} is the same for two seeds");
        }
    }
}

#[test]
fn exact_contact_count_consistent_references_and_realistic_structure() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&options(dir.path(), 30_000, 3)).unwrap();
    let dir = dir.path();
    assert_eq!(summary.interactions, 30_000);
    let interactions = rows(dir, "interactions.csv");
    assert_eq!(interactions.len(), 30_000);

    let units = rows(dir, "org_units.csv");
    let teams: HashSet<&str> = units
        .iter()
        .filter(|u| u["level"] == "team")
        .map(|u| u["unit_id"].as_str())
        .collect();
    let sites = units.iter().filter(|u| u["level"] == "site").count();
    assert_eq!(sites, 3);
    assert!((24..=36).contains(&teams.len()), "{} teams", teams.len());
    let people = rows(dir, "people.csv");
    let roles: HashMap<&str, &str> = people
        .iter()
        .map(|p| (p["person_id"].as_str(), p["role"].as_str()))
        .collect();
    for role in ["executive", "manager", "lead", "agent", "analyst"] {
        assert!(roles.values().any(|r| *r == role), "no {role}");
    }

    // Effective-dated memberships: some agents move, leave or join during the period.
    let memberships = rows(dir, "memberships.csv");
    // agent → (valid_from, valid_to, unit) of each membership
    type Stints<'a> = Vec<(i64, Option<i64>, &'a str)>;
    let mut per_agent: HashMap<&str, Stints> = HashMap::new();
    for m in &memberships {
        if roles[m["person_id"].as_str()] == "agent" {
            let to = (!m["valid_to"].is_empty()).then(|| ts(&m["valid_to"]));
            per_agent.entry(m["person_id"].as_str()).or_default().push((
                ts(&m["valid_from"]),
                to,
                m["unit_id"].as_str(),
            ));
        }
    }
    let start = ts("2025-01-01T00:00:00Z");
    let movers = per_agent.values().filter(|h| h.len() == 2).count();
    let leavers = per_agent
        .values()
        .filter(|h| h.len() == 1 && h[0].1.is_some())
        .count();
    let hires = per_agent.values().filter(|h| h[0].0 >= start).count();
    assert!(
        movers > 0 && leavers > 0 && hires > 0,
        "{movers} {leavers} {hires}"
    );

    // Every contact: a known customer, an agent at work in a team at that moment, known topics.
    let customers: HashSet<String> = rows(dir, "customers.csv")
        .into_iter()
        .map(|c| c["customer_id"].clone())
        .collect();
    let topics: HashSet<String> = rows(dir, "topics.csv")
        .into_iter()
        .map(|t| t["code"].clone())
        .collect();
    assert_eq!(topics.len(), 40);
    let mut ids = HashSet::new();
    let mut topic_counts = [0u32; 7];
    for c in &interactions {
        assert!(ids.insert(c["interaction_id"].clone()));
        assert!(customers.contains(&c["customer_id"]));
        let at = ts(&c["started_at"]);
        let history = &per_agent[c["agent_id"].as_str()];
        assert!(
            history.iter().any(|(from, to, unit)| *from <= at
                && to.is_none_or(|to| at < to)
                && teams.contains(unit)),
            "{} not at work at {}",
            c["agent_id"],
            c["started_at"]
        );
        let list: Vec<&str> = c["topics"].split(';').collect();
        assert!(list.iter().all(|t| topics.contains(*t)));
        topic_counts[list.len()] += 1;
        let parts = ["talk_seconds", "hold_seconds", "after_work_seconds"];
        let sum: f64 = parts.iter().map(|p| num(c, p)).sum();
        assert_eq!(sum, num(c, "handle_seconds"));
    }
    // 1–4 topics raised by the customer, occasionally more with offers and escalations
    assert!(topic_counts[1] > topic_counts[2] && topic_counts[2] > topic_counts[3]);
    assert!(topic_counts[4] > 0 && topic_counts[0] == 0);

    // Survey answers refer to real contacts, and comments mention the contact's topic.
    let by_id: HashMap<&str, &HashMap<String, String>> = interactions
        .iter()
        .map(|c| (c["interaction_id"].as_str(), c))
        .collect();
    let taxonomy: HashMap<&str, &cxm_generate::topics::TopicSpec> = cxm_generate::topics::TOPICS
        .iter()
        .map(|t| (t.code, t))
        .collect();
    let surveys = rows(dir, "survey_responses.csv");
    let post_contact: Vec<_> = surveys.iter().filter(|s| s["survey"] == "csat").collect();
    let share = post_contact.len() as f64 / interactions.len() as f64;
    assert!((0.05..0.25).contains(&share), "response share {share}");
    let mut commented = 0;
    for s in &post_contact {
        let contact = by_id[s["interaction_id"].as_str()];
        assert!(ts(&s["answered_at"]) >= ts(&contact["started_at"]));
        if !s["comment"].is_empty() {
            commented += 1;
            let primary = taxonomy[contact["topics"].split(';').next().unwrap()];
            let comment = s["comment"].to_lowercase();
            assert!(
                comment.contains(&primary.name.to_lowercase())
                    || primary.keywords.iter().any(|k| comment.contains(k)),
                "{comment:?} does not mention {}",
                primary.code
            );
        }
    }
    assert!(commented > post_contact.len() / 3);
    assert!(surveys.iter().any(|s| s["survey"] == "relationship"));
}

/// Per contact: whether the same customer came back within 7 days.
fn followed_within_a_week(interactions: &[HashMap<String, String>]) -> Vec<bool> {
    let mut by_customer: HashMap<&str, Vec<(i64, usize)>> = HashMap::new();
    for (i, c) in interactions.iter().enumerate() {
        by_customer
            .entry(c["customer_id"].as_str())
            .or_default()
            .push((ts(&c["started_at"]), i));
    }
    let mut followed = vec![false; interactions.len()];
    for contacts in by_customer.values_mut() {
        contacts.sort();
        for w in contacts.windows(2) {
            if w[1].0 - w[0].0 <= 7 * 86_400 {
                followed[w[0].1] = true;
            }
        }
    }
    followed
}

#[test]
fn low_skill_agents_leave_more_customers_coming_back() {
    let dir = tempfile::tempdir().unwrap();
    generate(&options(dir.path(), 150_000, 11)).unwrap();
    let truth = truth(dir.path());
    let mut skills: Vec<(f64, String)> = truth["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["skill"].as_f64().unwrap(),
                a["person_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    skills.sort_by(|a, b| a.0.total_cmp(&b.0));
    let quarter = skills.len() / 4;
    let low: HashSet<&str> = skills[..quarter].iter().map(|s| s.1.as_str()).collect();
    let high: HashSet<&str> = skills[skills.len() - quarter..]
        .iter()
        .map(|s| s.1.as_str())
        .collect();
    let interactions = rows(dir.path(), "interactions.csv");
    let followed = followed_within_a_week(&interactions);
    let (mut low_n, mut low_hits, mut high_n, mut high_hits) = (0.0, 0.0, 0.0, 0.0);
    let (mut low_hold, mut high_hold) = (0.0, 0.0);
    for (c, &f) in interactions.iter().zip(&followed) {
        let agent = c["agent_id"].as_str();
        if low.contains(agent) {
            low_n += 1.0;
            low_hits += f64::from(u8::from(f));
            low_hold += f64::from(u8::from(num(c, "hold_seconds") > 0.0));
        } else if high.contains(agent) {
            high_n += 1.0;
            high_hits += f64::from(u8::from(f));
            high_hold += f64::from(u8::from(num(c, "hold_seconds") > 0.0));
        }
    }
    let z = z_two_proportions(low_hits, low_n, high_hits, high_n);
    assert!(
        z > 4.0,
        "repeat share after low-skill agents {:.3} vs high-skill {:.3}: z = {z:.1}",
        low_hits / low_n,
        high_hits / high_n
    );
    // and they put customers on hold more often (the hold model's skill effect)
    let z = z_two_proportions(low_hold, low_n, high_hold, high_n);
    assert!(z > 4.0, "holds: z = {z:.1}");
}

#[test]
fn satisfaction_falls_with_hold_time_and_rises_with_warmth() {
    let dir = tempfile::tempdir().unwrap();
    generate(&options(dir.path(), 150_000, 5)).unwrap();
    let interactions = rows(dir.path(), "interactions.csv");
    let by_id: HashMap<&str, &HashMap<String, String>> = interactions
        .iter()
        .map(|c| (c["interaction_id"].as_str(), c))
        .collect();
    let truth = truth(dir.path());
    let warmth: HashMap<&str, f64> = truth["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["person_id"].as_str().unwrap(),
                a["warmth"].as_f64().unwrap(),
            )
        })
        .collect();
    // Least squares of csat on hold minutes (capped at 15) among phone contacts.
    let (mut n, mut sx, mut sy, mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut warm, mut cold) = (Vec::new(), Vec::new());
    for s in rows(dir.path(), "survey_responses.csv") {
        if s["survey"] != "csat" {
            continue;
        }
        let contact = by_id[s["interaction_id"].as_str()];
        let csat = num(&s, "csat");
        if contact["channel"] == "phone" {
            let x = (num(contact, "hold_seconds") / 60.0).min(15.0);
            n += 1.0;
            sx += x;
            sy += csat;
            sxx += x * x;
            sxy += x * csat;
            syy += csat * csat;
        }
        let w = warmth[contact["agent_id"].as_str()];
        let courtesy = num(&s, "rating_courtesy");
        if w > 0.67 {
            warm.push(courtesy);
        } else if w < -0.67 {
            cold.push(courtesy);
        }
    }
    let slope = (sxy - sx * sy / n) / (sxx - sx * sx / n);
    let residual = ((syy - sy * sy / n) - slope * (sxy - sx * sy / n)) / (n - 2.0);
    let se = (residual / (sxx - sx * sx / n)).sqrt();
    assert!(
        slope / se < -4.0,
        "csat per hold minute {slope:.3} ± {se:.3}"
    );

    let moments = |v: &[f64]| cxm_domain::stats::Moments {
        n: v.len() as u64,
        sum: v.iter().sum(),
        sum_of_squares: v.iter().map(|x| x * x).sum(),
    };
    let t = cxm_domain::stats::welch(moments(&warm), moments(&cold))
        .expect("both groups have answers")
        .statistic;
    assert!(t > 4.0, "courtesy after warm agents: t = {t:.1}");
}

#[test]
fn churn_is_higher_after_bad_experiences() {
    let dir = tempfile::tempdir().unwrap();
    generate(&options(dir.path(), 200_000, 9)).unwrap();
    let mut churned: HashMap<String, Vec<i64>> = HashMap::new();
    for e in rows(dir.path(), "customer_events.csv") {
        if e["kind"] == "churned" {
            churned
                .entry(e["customer_id"].clone())
                .or_default()
                .push(ts(&e["occurred_at"]));
        }
    }
    let end = ts("2026-01-01T00:00:00Z");
    let (mut bad_n, mut bad_churn, mut good_n, mut good_churn) = (0.0, 0.0, 0.0, 0.0);
    for s in rows(dir.path(), "survey_responses.csv") {
        if s["survey"] != "csat" {
            continue;
        }
        let at = ts(&s["answered_at"]);
        if at > end - 31 * 86_400 {
            continue; // a full 30 days of follow-up only
        }
        let lost = churned.get(&s["customer_id"]).is_some_and(|times| {
            times
                .iter()
                .any(|&t| t >= at - 86_400 && t <= at + 30 * 86_400)
        });
        let csat = num(&s, "csat");
        if csat <= 2.0 {
            bad_n += 1.0;
            bad_churn += f64::from(u8::from(lost));
        } else if csat >= 4.0 {
            good_n += 1.0;
            good_churn += f64::from(u8::from(lost));
        }
    }
    let z = z_two_proportions(bad_churn, bad_n, good_churn, good_n);
    assert!(
        z > 4.0,
        "30-day churn after csat ≤ 2: {:.4} (n {bad_n}), after csat ≥ 4: {:.4} (n {good_n}); z = {z:.1}",
        bad_churn / bad_n,
        good_churn / good_n
    );
}

/// Gauss's hypergeometric function 2F1(a, b; c; z) for |z| < 1, by its series.
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 0..10_000 {
        let k = f64::from(k);
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

#[test]
fn purchases_follow_the_configured_bg_nbd_and_gamma_gamma_processes() {
    // Without contacts, experiences never shift dropout: the purchase process is exactly
    // BG/NBD, and spend exactly Gamma-Gamma.
    let mut model = Model::default();
    model.customers.segments.truncate(1);
    let segment = &mut model.customers.segments[0];
    segment.share = 1.0;
    segment.issues_per_year = 0.0;
    segment.purchases = cxm_generate::model::BgNbd {
        r: 1.8,
        alpha: 0.6,
        a: 1.4,
        b: 5.0,
    };
    model.customers.new_customer_share = 0.0;
    let bg = segment.purchases;
    let gg = segment.spend;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 0, 21);
    opts.customers = Some(40_000);
    opts.model = model;
    let summary = generate(&opts).unwrap();
    assert_eq!(summary.customers, 40_000);
    assert_eq!(summary.interactions, 0);

    let mut counts: HashMap<String, f64> = HashMap::new();
    let mut amounts = Vec::new();
    for t in rows(dir.path(), "transactions.csv") {
        if t["kind"] == "purchase" {
            *counts.entry(t["customer_id"].clone()).or_default() += 1.0;
            amounts.push(num(&t, "amount"));
        }
    }
    let n = 40_000.0;
    let xs: Vec<f64> = rows(dir.path(), "customers.csv")
        .iter()
        .map(|c| counts.get(&c["customer_id"]).copied().unwrap_or(0.0))
        .collect();
    let t = 365.0 / 365.25;
    let (r, alpha, a, b) = (bg.r, bg.alpha, bg.a, bg.b);
    let expected_mean = (a + b - 1.0) / (a - 1.0)
        * (1.0 - (alpha / (alpha + t)).powf(r) * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)));
    let mean = xs.iter().sum::<f64>() / n;
    let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(
        (mean - expected_mean).abs() < 4.0 * sd / n.sqrt(),
        "mean purchases {mean:.4}, BG/NBD expects {expected_mean:.4} (se {:.4})",
        sd / n.sqrt()
    );
    let p0 = (alpha / (alpha + t)).powf(r);
    let zero = xs.iter().filter(|&&x| x == 0.0).count() as f64 / n;
    assert!(
        (zero - p0).abs() < 4.0 * (p0 * (1.0 - p0) / n).sqrt(),
        "share without purchases {zero:.4}, BG/NBD expects {p0:.4}"
    );

    let m = amounts.len() as f64;
    let spend = amounts.iter().sum::<f64>() / m;
    let spend_sd = (amounts.iter().map(|x| (x - spend).powi(2)).sum::<f64>() / (m - 1.0)).sqrt();
    let expected_spend = gg.p * gg.gamma / (gg.q - 1.0);
    // Amounts within a customer share ν, so the effective sample is nearer the number of
    // buyers than of purchases: use the customer count for the standard error.
    let buyers = counts.len() as f64;
    assert!(
        (spend - expected_spend).abs() < 4.0 * spend_sd / buyers.sqrt(),
        "mean spend {spend:.3}, Gamma-Gamma expects {expected_spend:.3}"
    );
}
