//! A second, deliberately naive implementation of the metrics, over the canonical CSV
//! files themselves: plain loops, pairwise comparisons per customer, full sorts for
//! quantiles, linear scans for memberships. Days and months are UTC. It shares no code
//! with the engine, so agreement means both are right (or both wrong the same way by
//! accident, which hand-computed golden tests guard against).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, Utc};

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn number(text: &str) -> Option<f64> {
    (!text.is_empty()).then(|| text.parse().unwrap())
}

/// Rows of a CSV file as maps from column name to text; later rows with the same key
/// replace earlier ones (as ingest does).
fn rows(path: &Path, key: Option<&str>) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let mut out: Vec<HashMap<String, String>> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let row: HashMap<String, String> = headers
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        match key.map(|k| row[k].clone()) {
            Some(id) => match position.get(&id) {
                Some(&i) => out[i] = row,
                None => {
                    position.insert(id, out.len());
                    out.push(row);
                }
            },
            None => out.push(row),
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Contact {
    id: String,
    customer: String,
    team: String,
    started: DateTime<Utc>,
    hold: Option<f64>,
    handle: Option<f64>,
    topics: Vec<String>,
}

/// Sums of one (team, month).
#[derive(Debug, Default, Clone)]
pub struct Expected {
    pub contacts: u64,
    pub repeats: u64,
    pub fcr_resolved: u64,
    pub fcr_eligible: u64,
    pub topics: u64,
    pub complaints: u64,
    pub holds: Vec<f64>,
    pub handles: Vec<f64>,
    pub csat: Vec<f64>,
    pub nps: Vec<f64>,
    pub ces: Vec<f64>,
    pub purchases: u64,
    pub revenue: f64,
}

/// The linear-interpolation quantile of a full sort.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Every contact metric, CSAT, NPS, CES, purchases and revenue per (team, UTC month),
/// and attrition per UTC month for the company, from the files in `dir`.
pub struct Naive {
    pub by_team_month: BTreeMap<(String, String), Expected>,
    /// month → (customers active at its start, churns in it)
    pub attrition: BTreeMap<String, (u64, u64)>,
}

/// person, unit, valid from, valid to
type Membership = (String, String, DateTime<Utc>, Option<DateTime<Utc>>);

pub fn compute(dir: &Path, window_days: i64) -> Naive {
    let window = chrono::Duration::days(window_days);
    let memberships: Vec<Membership> = rows(&dir.join("memberships.csv"), None)
        .into_iter()
        .map(|r| {
            (
                r["person_id"].clone(),
                r["unit_id"].clone(),
                time(&r["valid_from"]),
                (!r["valid_to"].is_empty()).then(|| time(&r["valid_to"])),
            )
        })
        .collect();
    let team_of = |agent: &str, at: DateTime<Utc>| -> String {
        memberships
            .iter()
            .filter(|(p, _, from, to)| p == agent && *from <= at && to.is_none_or(|t| at < t))
            .max_by_key(|(_, _, from, _)| *from)
            .map(|(_, unit, _, _)| unit.clone())
            .unwrap_or_else(|| "(none)".to_owned())
    };
    let complaint_topics: Vec<String> = rows(&dir.join("topics.csv"), Some("code"))
        .into_iter()
        .filter(|r| r["kind"] == "complaint")
        .map(|r| r["code"].clone())
        .collect();
    let contacts: Vec<Contact> = rows(&dir.join("interactions.csv"), Some("interaction_id"))
        .into_iter()
        .map(|r| {
            let started = time(&r["started_at"]);
            let mut topics: Vec<String> = r["topics"]
                .split(';')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            topics.sort();
            topics.dedup();
            Contact {
                id: r["interaction_id"].clone(),
                customer: r["customer_id"].clone(),
                team: team_of(&r["agent_id"], started),
                started,
                hold: number(&r["hold_seconds"]),
                handle: number(&r["handle_seconds"]),
                topics,
            }
        })
        .collect();
    let horizon = contacts.iter().map(|c| c.started).max();
    let mut of_customer: HashMap<&str, Vec<&Contact>> = HashMap::new();
    for contact in &contacts {
        of_customer
            .entry(&contact.customer)
            .or_default()
            .push(contact);
    }
    let month = |t: DateTime<Utc>| t.format("%Y-%m").to_string();
    let mut by_team_month: BTreeMap<(String, String), Expected> = BTreeMap::new();
    for contact in &contacts {
        let others = &of_customer[contact.customer.as_str()];
        let before = |o: &&&Contact| (o.started, &o.id) < (contact.started, &contact.id);
        let after = |o: &&&Contact| (o.started, &o.id) > (contact.started, &contact.id);
        let repeat = others
            .iter()
            .filter(before)
            .any(|o| contact.started - o.started <= window);
        let followed = others
            .iter()
            .filter(after)
            .any(|o| o.started - contact.started <= window);
        let closed = horizon.is_some_and(|h| contact.started + window <= h);
        let e = by_team_month
            .entry((contact.team.clone(), month(contact.started)))
            .or_default();
        e.contacts += 1;
        e.repeats += u64::from(repeat);
        if followed || closed {
            e.fcr_eligible += 1;
            e.fcr_resolved += u64::from(!followed);
        }
        e.topics += contact.topics.len() as u64;
        e.complaints += u64::from(contact.topics.iter().any(|t| complaint_topics.contains(t)));
        e.holds.extend(contact.hold);
        e.handles.extend(contact.handle);
    }
    let by_id: HashMap<&str, &Contact> = contacts.iter().map(|c| (c.id.as_str(), c)).collect();
    let last_contact = |customer: &str, at: DateTime<Utc>| -> Option<&Contact> {
        of_customer
            .get(customer)?
            .iter()
            .filter(|c| c.started <= at)
            .max_by(|a, b| (a.started, &a.id).cmp(&(b.started, &b.id)))
            .copied()
    };
    for r in rows(&dir.join("survey_responses.csv"), Some("response_id")) {
        let answered = time(&r["answered_at"]);
        let linked = by_id.get(r["interaction_id"].as_str()).copied();
        let (team, when) = match linked {
            Some(c) => (c.team.clone(), c.started),
            None => (
                last_contact(&r["customer_id"], answered)
                    .map(|c| c.team.clone())
                    .unwrap_or_else(|| "(none)".to_owned()),
                answered,
            ),
        };
        let e = by_team_month.entry((team, month(when))).or_default();
        // CSAT counts post-contact answers only.
        if linked.is_some() {
            e.csat.extend(number(&r["csat"]));
        }
        e.nps.extend(number(&r["nps"]));
        e.ces.extend(number(&r["ces"]));
    }
    for r in rows(&dir.join("transactions.csv"), Some("transaction_id")) {
        let at = time(&r["occurred_at"]);
        let team = last_contact(&r["customer_id"], at)
            .map(|c| c.team.clone())
            .unwrap_or_else(|| "(none)".to_owned());
        let e = by_team_month.entry((team, month(at))).or_default();
        let amount: f64 = r["amount"].parse().unwrap();
        if r["kind"] == "purchase" {
            e.purchases += 1;
            e.revenue += amount;
        } else {
            e.revenue -= amount;
        }
    }

    // Attrition: replay each customer's joins, churns and reactivations.
    let mut timeline: BTreeMap<String, Vec<(DateTime<Utc>, u8)>> = BTreeMap::new();
    for r in rows(&dir.join("customers.csv"), Some("customer_id")) {
        if !r["joined_at"].is_empty() {
            timeline
                .entry(r["customer_id"].clone())
                .or_default()
                .push((time(&r["joined_at"]), 0));
        }
    }
    for r in rows(&dir.join("customer_events.csv"), None) {
        let kind = match r["kind"].as_str() {
            "joined" => 0,
            "reactivated" => 1,
            "churned" => 2,
            _ => continue,
        };
        timeline
            .entry(r["customer_id"].clone())
            .or_default()
            .push((time(&r["occurred_at"]), kind));
    }
    let months: Vec<String> = by_team_month
        .keys()
        .map(|(_, m)| m.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut attrition = BTreeMap::new();
    for m in &months {
        let start = time(&format!("{m}-01T00:00:00Z"));
        let end = start.checked_add_months(chrono::Months::new(1)).unwrap();
        let (mut active_at_start, mut churned) = (0, 0);
        for events in timeline.values_mut() {
            events.sort();
            let mut active = false;
            for &(at, kind) in events.iter() {
                if at.date_naive() >= start.date_naive() {
                    break;
                }
                active = matches!(kind, 0 | 1);
            }
            active_at_start += u64::from(active);
            // Churns in the month of customers active at that moment.
            let mut state = false;
            for &(at, kind) in events.iter() {
                match kind {
                    0 | 1 => state = true,
                    _ => {
                        if state && at >= start && at < end {
                            churned += 1;
                        }
                        state = false;
                    }
                }
            }
        }
        attrition.insert(m.clone(), (active_at_start, churned));
    }
    Naive {
        by_team_month,
        attrition,
    }
}

/// Compares the engine's team × month rows with the naive values; returns how many
/// values were compared.
pub fn assert_agrees(result: &cxm_metrics::QueryResult, expected: &Naive) -> usize {
    let mut compared = 0;
    for row in &result.rows {
        let team = &row.group["team"];
        let Some(e) = expected
            .by_team_month
            .get(&(team.clone(), row.period.clone()))
        else {
            // Groups the naive pass never saw must be empty.
            assert!(row.n == 0 || row.metric == "attrition_rate", "{row:?}");
            continue;
        };
        let share = |hits: u64, n: u64| (n > 0).then(|| hits as f64 / n as f64);
        let top = |values: &[f64], at_least: f64| {
            share(
                values.iter().filter(|&&v| v >= at_least).count() as u64,
                values.len() as u64,
            )
        };
        let nps = |values: &[f64]| {
            (!values.is_empty()).then(|| {
                let promoters = values.iter().filter(|&&v| v >= 9.0).count() as f64;
                let detractors = values.iter().filter(|&&v| v <= 6.0).count() as f64;
                100.0 * (promoters - detractors) / values.len() as f64
            })
        };
        let what = format!("{} {} {}", row.metric, team, row.period);
        let (value, n) = match row.metric.as_str() {
            "contacts" => (Some(e.contacts as f64), e.contacts),
            "repeat_contact_rate" => (share(e.repeats, e.contacts), e.contacts),
            "fcr_rate" => (share(e.fcr_resolved, e.fcr_eligible), e.fcr_eligible),
            "topics_per_contact" => (share(e.topics, e.contacts), e.contacts),
            "complaint_rate" => (share(e.complaints, e.contacts), e.contacts),
            "hold_seconds" => (mean(&e.holds), e.holds.len() as u64),
            "hold_seconds_p90" => (quantile(&e.holds, 0.9), e.holds.len() as u64),
            "handle_seconds" => (mean(&e.handles), e.handles.len() as u64),
            "handle_seconds_p50" => (quantile(&e.handles, 0.5), e.handles.len() as u64),
            "handle_seconds_p90" => (quantile(&e.handles, 0.9), e.handles.len() as u64),
            "csat" => (top(&e.csat, 4.0), e.csat.len() as u64),
            "csat_mean" => (mean(&e.csat), e.csat.len() as u64),
            "nps" => (nps(&e.nps), e.nps.len() as u64),
            "ces" => (mean(&e.ces), e.ces.len() as u64),
            "ces_easy_rate" => (top(&e.ces, 5.0), e.ces.len() as u64),
            "purchases" => (Some(e.purchases as f64), e.purchases),
            "revenue" => (
                (e.purchases > 0 || e.revenue != 0.0).then_some(e.revenue),
                row.n,
            ),
            _ => continue,
        };
        if row.metric == "revenue" && value.is_none() {
            continue;
        }
        agree(row.value, value, &what);
        assert_eq!(row.n, n, "{what}: sample size");
        compared += 1;
    }
    compared
}

pub fn agree(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (None, None) => {}
        (Some(a), Some(e)) => assert!(
            (a - e).abs() <= 1e-9 * e.abs().max(1.0),
            "{what}: engine {a} naive {e}"
        ),
        _ => panic!("{what}: engine {actual:?} naive {expected:?}"),
    }
}
