//! Root causes: which topics bring customers back, carry complaints and leave customers
//! dissatisfied — each topic's volume times its gap to the contacts without it — and
//! which topics are newly emerging.

use std::collections::HashMap;

use chrono::NaiveDate;
use cxm_metrics::derive::{date_of_day, days_since_epoch};
use cxm_metrics::{Engine, Filters};
use serde::Serialize;

use crate::InsightError;
use crate::sources::{collect, numbers, strings};

/// Counts of one topic (or of everything, for the totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TopicCounts {
    pub contacts: u64,
    /// contacts whose repeat window has closed
    pub repeat_known: u64,
    /// of those, followed by another contact of the customer within the window
    pub repeats: u64,
    pub complaints: u64,
    /// survey answers with a csat score
    pub answers: u64,
    /// of those, not satisfied (csat below 4)
    pub dissatisfied: u64,
    /// contacts in the recent window and in the baseline window before it
    pub recent: u64,
    pub baseline: u64,
}

/// One outcome of a topic against the contacts without it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gap {
    pub rate: f64,
    pub rest: f64,
    /// events beyond what the topic's contacts would have had at the rest's rate
    pub excess: f64,
}

fn gap(events: u64, n: u64, all_events: u64, all_n: u64) -> Option<Gap> {
    let rest_n = all_n.checked_sub(n)?;
    if n == 0 || rest_n == 0 {
        return None;
    }
    let rate = events as f64 / n as f64;
    let rest = all_events.saturating_sub(events) as f64 / rest_n as f64;
    Some(Gap {
        rate,
        rest,
        excess: n as f64 * (rate - rest),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicCause {
    pub topic: String,
    pub name: String,
    pub category: String,
    pub kind: String,
    pub counts: TopicCounts,
    pub share_of_contacts: f64,
    pub repeats: Option<Gap>,
    /// None for complaint topics themselves
    pub complaints: Option<Gap>,
    pub dissatisfaction: Option<Gap>,
    /// excess repeats + excess complaints + excess dissatisfied answers scaled to contacts
    pub score: f64,
    /// recent volume per day ÷ baseline volume per day (None without a baseline)
    pub growth: Option<f64>,
    /// recent volume well above the baseline (Poisson test, p < 0.01) or new
    pub emerging: bool,
    /// follow-up cases closed with this topic as their root cause (the outer loop)
    pub cases_closed: u64,
    /// of those, with the issue fixed
    pub cases_fixed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RootCauseReport {
    pub totals: TopicCounts,
    pub recent_from: NaiveDate,
    pub to: NaiveDate,
    /// by score, largest first
    pub topics: Vec<TopicCause>,
}

/// Days of the recent window and of the baseline window before it.
pub const RECENT_DAYS: i32 = 28;
pub const BASELINE_DAYS: i32 = 84;

/// Ranks topics from their counts and the totals.
pub fn rank(
    counts: HashMap<String, TopicCounts>,
    totals: TopicCounts,
    describe: impl Fn(&str) -> (String, String, String),
) -> Vec<TopicCause> {
    let mut causes: Vec<TopicCause> = counts
        .into_iter()
        .map(|(topic, c)| {
            let (name, category, kind) = describe(&topic);
            let repeats = gap(
                c.repeats,
                c.repeat_known,
                totals.repeats,
                totals.repeat_known,
            );
            let complaints = (kind != "complaint")
                .then(|| gap(c.complaints, c.contacts, totals.complaints, totals.contacts))
                .flatten();
            let dissatisfaction = gap(
                c.dissatisfied,
                c.answers,
                totals.dissatisfied,
                totals.answers,
            );
            // dissatisfied answers stand for the contacts they sample
            let answered_share = if c.answers > 0 {
                c.contacts as f64 / c.answers as f64
            } else {
                0.0
            };
            let score = repeats.map_or(0.0, |g| g.excess.max(0.0))
                + complaints.map_or(0.0, |g| g.excess.max(0.0))
                + dissatisfaction.map_or(0.0, |g| g.excess.max(0.0) * answered_share);
            let growth = (c.baseline > 0).then(|| {
                (c.recent as f64 / f64::from(RECENT_DAYS))
                    / (c.baseline as f64 / f64::from(BASELINE_DAYS))
            });
            let expected = c.baseline as f64 * f64::from(RECENT_DAYS) / f64::from(BASELINE_DAYS);
            let emerging = if c.baseline == 0 {
                c.recent >= 5
            } else {
                poisson_upper_tail(c.recent, expected) < 0.01 && c.recent as f64 > 1.5 * expected
            };
            TopicCause {
                share_of_contacts: c.contacts as f64 / totals.contacts.max(1) as f64,
                topic,
                name,
                category,
                kind,
                counts: c,
                repeats,
                complaints,
                dissatisfaction,
                score,
                growth,
                emerging,
                cases_closed: 0,
                cases_fixed: 0,
            }
        })
        .collect();
    causes.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.topic.cmp(&b.topic)));
    causes
}

/// Adds the root causes recorded on closed follow-up cases (code, cases closed, of which
/// fixed) to the report's topics, so problems that many single cases share rise above
/// them. A code no contact carried joins the list with its cases alone.
pub fn add_case_causes(
    report: &mut RootCauseReport,
    causes: &[(String, u64, u64)],
    org: &cxm_metrics::Organisation,
) {
    for (code, closed, fixed) in causes {
        match report.topics.iter_mut().find(|t| t.topic == *code) {
            Some(topic) => {
                topic.cases_closed = *closed;
                topic.cases_fixed = *fixed;
            }
            None => {
                let (name, category, kind) = describe(org, code);
                report.topics.push(TopicCause {
                    topic: code.clone(),
                    name,
                    category,
                    kind,
                    counts: TopicCounts::default(),
                    share_of_contacts: 0.0,
                    repeats: None,
                    complaints: None,
                    dissatisfaction: None,
                    score: 0.0,
                    growth: None,
                    emerging: false,
                    cases_closed: *closed,
                    cases_fixed: *fixed,
                });
            }
        }
    }
}

/// A topic's name, category and kind (the code alone when the taxonomy lacks it).
fn describe(org: &cxm_metrics::Organisation, code: &str) -> (String, String, String) {
    match org.topic(code) {
        Some(info) => (info.name.clone(), info.category.clone(), info.kind.clone()),
        None => (code.to_owned(), String::new(), String::new()),
    }
}

/// P(X ≥ k) for X ~ Poisson(mean).
fn poisson_upper_tail(k: u64, mean: f64) -> f64 {
    use statrs::distribution::{DiscreteCDF, Poisson};
    if k == 0 {
        return 1.0;
    }
    match Poisson::new(mean) {
        Ok(poisson) => poisson.sf(k - 1),
        Err(_) => 0.0,
    }
}

/// Topic root causes of contacts and answers within `filters` (the recent window ends at
/// `filters.to`, default the latest day with data).
pub async fn root_causes(
    engine: &Engine,
    filters: &Filters,
) -> Result<RootCauseReport, InsightError> {
    let condition = engine.condition(filters)?;
    let to = match filters.to.or_else(|| engine.span().map(|(_, last)| last)) {
        Some(to) => to,
        None => return Err(InsightError::Input("no contacts are stored".into())),
    };
    let end = days_since_epoch(to);
    let recent_from = end - RECENT_DAYS + 1;
    let baseline_from = recent_from - BASELINE_DAYS;
    let contact_counts = |group: &str| {
        format!(
            "SELECT {group} COUNT(*) AS contacts, COUNT(followed_by_repeat) AS repeat_known, \
                    SUM(CASE WHEN followed_by_repeat THEN 1 ELSE 0 END) AS repeats, \
                    SUM(CASE WHEN complaint THEN 1 ELSE 0 END) AS complaints, \
                    SUM(CASE WHEN CAST(day AS INT) >= {recent_from} THEN 1 ELSE 0 END) AS recent, \
                    SUM(CASE WHEN CAST(day AS INT) >= {baseline_from} AND CAST(day AS INT) < {recent_from} THEN 1 ELSE 0 END) AS baseline"
        )
    };
    let answer_counts = |group: &str| {
        format!(
            "SELECT {group} COUNT(csat) AS answers, SUM(CASE WHEN csat < 4 THEN 1 ELSE 0 END) AS dissatisfied"
        )
    };
    let mut counts: HashMap<String, TopicCounts> = HashMap::new();
    let mut totals = TopicCounts::default();
    let queries = [
        (
            true,
            true,
            format!(
                "{} FROM (SELECT unnest(topics) AS topic, followed_by_repeat, complaint, day FROM contacts WHERE {condition}) GROUP BY topic",
                contact_counts("topic,")
            ),
        ),
        (
            true,
            false,
            format!("{} FROM contacts WHERE {condition}", contact_counts("")),
        ),
        (
            false,
            true,
            format!(
                "{} FROM (SELECT unnest(topics) AS topic, csat FROM surveys WHERE {condition} AND csat IS NOT NULL) GROUP BY topic",
                answer_counts("topic,")
            ),
        ),
        (
            false,
            false,
            format!("{} FROM surveys WHERE {condition}", answer_counts("")),
        ),
    ];
    for (contacts, by_topic, sql) in queries {
        for batch in collect(engine, &sql).await? {
            let topics = if by_topic {
                strings(&batch, "topic")?
            } else {
                vec![None; batch.num_rows()]
            };
            let columns: Vec<(&str, Vec<f64>)> = if contacts {
                [
                    "contacts",
                    "repeat_known",
                    "repeats",
                    "complaints",
                    "recent",
                    "baseline",
                ]
                .into_iter()
                .map(|c| numbers(&batch, c).map(|v| (c, v)))
                .collect::<Result<_, _>>()?
            } else {
                ["answers", "dissatisfied"]
                    .into_iter()
                    .map(|c| numbers(&batch, c).map(|v| (c, v)))
                    .collect::<Result<_, _>>()?
            };
            for (row, topic) in topics.into_iter().enumerate() {
                let target = match (by_topic, topic) {
                    (true, Some(topic)) => counts.entry(topic).or_default(),
                    (true, None) => continue,
                    (false, _) => &mut totals,
                };
                for (name, values) in &columns {
                    let value = values[row];
                    let value = if value.is_finite() { value as u64 } else { 0 };
                    match *name {
                        "contacts" => target.contacts = value,
                        "repeat_known" => target.repeat_known = value,
                        "repeats" => target.repeats = value,
                        "complaints" => target.complaints = value,
                        "recent" => target.recent = value,
                        "baseline" => target.baseline = value,
                        "answers" => target.answers = value,
                        _ => target.dissatisfied = value,
                    }
                }
            }
        }
    }
    let org = engine.organisation();
    let topics = rank(counts, totals, |code| describe(org, code));
    Ok(RootCauseReport {
        totals,
        recent_from: date_of_day(recent_from),
        to,
        topics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(
        contacts: u64,
        repeats: u64,
        complaints: u64,
        answers: u64,
        dissatisfied: u64,
    ) -> TopicCounts {
        TopicCounts {
            contacts,
            repeat_known: contacts,
            repeats,
            complaints,
            answers,
            dissatisfied,
            ..Default::default()
        }
    }

    #[test]
    fn topics_rank_by_excess_events() {
        // 1,000 contacts: billing 200 with 60 repeats (30% vs 100/800 = 12.5% elsewhere)
        let totals = counts(1000, 160, 50, 100, 30);
        let mut by_topic = HashMap::new();
        by_topic.insert("billing".to_owned(), counts(200, 60, 10, 20, 10));
        by_topic.insert("address".to_owned(), counts(300, 30, 15, 30, 6));
        let ranked = rank(by_topic, totals, |t| {
            (t.to_uppercase(), "c".into(), "problem".into())
        });
        assert_eq!(ranked[0].topic, "billing");
        let repeats = ranked[0].repeats.unwrap();
        assert!((repeats.rate - 0.3).abs() < 1e-12);
        assert!((repeats.rest - 0.125).abs() < 1e-12);
        assert!((repeats.excess - 35.0).abs() < 1e-9);
        // complaints: 10/200 = 5% vs 40/800 = 5%: no excess
        assert!(ranked[0].complaints.unwrap().excess.abs() < 1e-9);
        // dissatisfied: 10/20 vs 20/80 → 5 excess answers, standing for 50 contacts
        assert!((ranked[0].dissatisfaction.unwrap().excess - 5.0).abs() < 1e-9);
        assert!((ranked[0].score - (35.0 + 50.0)).abs() < 1e-9);
        // address: 10% vs 130/700 repeats → negative excess adds nothing
        assert!(ranked[1].repeats.unwrap().excess < 0.0);
        assert_eq!(ranked[1].name, "ADDRESS");
    }

    #[test]
    fn emerging_topics_stand_out_from_their_baseline() {
        let totals = counts(1000, 0, 0, 0, 0);
        let mut by_topic = HashMap::new();
        let steady = TopicCounts {
            contacts: 40,
            recent: 10,
            baseline: 30,
            ..Default::default()
        };
        let rising = TopicCounts {
            contacts: 70,
            recent: 40,
            baseline: 30,
            ..Default::default()
        };
        let new = TopicCounts {
            contacts: 8,
            recent: 8,
            baseline: 0,
            ..Default::default()
        };
        by_topic.insert("steady".into(), steady);
        by_topic.insert("rising".into(), rising);
        by_topic.insert("new".into(), new);
        let ranked = rank(by_topic, totals, |t| {
            (t.into(), String::new(), String::new())
        });
        let find = |t: &str| ranked.iter().find(|c| c.topic == t).unwrap();
        assert!(!find("steady").emerging);
        assert!((find("steady").growth.unwrap() - 1.0).abs() < 1e-12);
        assert!(find("rising").emerging);
        assert!(find("new").emerging && find("new").growth.is_none());
    }
}
