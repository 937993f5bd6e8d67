//! Closing the inner loop: alert rules that pick out unhappy or at-risk customers, and the
//! follow-up cases they open, with the workflow a case goes through.
//!
//! A case moves open → in progress → resolved → closed; a resolved case can be taken up
//! again (back to in progress) and a closed one reopened (back to open). Every other move
//! is refused with the reason, so a stale form or a second editor cannot skip a step.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kinds::vocabulary;
use crate::{FieldError, RecordKind, TopicKind};

vocabulary!(
    /// Where a follow-up case stands.
    CaseStatus, "case status" {
        Open = "open",
        InProgress = "in_progress",
        Resolved = "resolved",
        Closed = "closed",
    }
);

vocabulary!(
    /// How urgently a case must be handled; it sets the default time to resolve.
    Priority, "priority" {
        Low = "low",
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
);

impl Priority {
    /// Hours from opening to the SLA due time when a rule does not set its own.
    pub fn default_sla_hours(self) -> u32 {
        match self {
            Priority::Urgent => 4,
            Priority::High => 24,
            Priority::Normal => 72,
            Priority::Low => 168,
        }
    }
}

/// A status of a workflow: where it may go next.
pub trait Workflow: Copy + PartialEq + fmt::Debug + 'static {
    /// What the status is of, for messages ("a case", "an idea").
    const SUBJECT: &'static str;
    fn name(self) -> &'static str;
    /// The statuses it may move to.
    fn next(self) -> &'static [Self];

    /// Checks a move; staying in the same status is not a move.
    fn check(self, to: Self) -> Result<Self, TransitionError<Self>> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

/// A move that a workflow does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionError<S> {
    pub from: S,
    pub to: S,
}

impl<S: Workflow> fmt::Display for TransitionError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed = self.from.next();
        let allowed = if allowed.is_empty() {
            "nothing: it is final".to_owned()
        } else {
            allowed
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(" or ")
        };
        write!(
            f,
            "{} that is {} cannot become {}; it can become {allowed}",
            S::SUBJECT,
            self.from.name(),
            self.to.name()
        )
    }
}

impl<S: Workflow> std::error::Error for TransitionError<S> {}

impl Workflow for CaseStatus {
    const SUBJECT: &'static str = "a case";

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn next(self) -> &'static [CaseStatus] {
        CaseStatus::next(self)
    }
}

impl CaseStatus {
    /// The statuses a case may move to from this one.
    pub fn next(self) -> &'static [CaseStatus] {
        match self {
            CaseStatus::Open => &[CaseStatus::InProgress, CaseStatus::Resolved],
            CaseStatus::InProgress => &[CaseStatus::Resolved],
            CaseStatus::Resolved => &[CaseStatus::Closed, CaseStatus::InProgress],
            CaseStatus::Closed => &[CaseStatus::Open],
        }
    }

    /// Checks a move; staying in the same status is not a move.
    pub fn transition(self, to: CaseStatus) -> Result<CaseStatus, TransitionError<CaseStatus>> {
        self.check(to)
    }

    /// Whether the case still needs work (counts against its owner's open cases and SLA).
    pub fn is_active(self) -> bool {
        matches!(self, CaseStatus::Open | CaseStatus::InProgress)
    }
}

/// A survey measure a rule can watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreMeasure {
    Nps,
    Csat,
    Ces,
}

impl ScoreMeasure {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreMeasure::Nps => "nps",
            ScoreMeasure::Csat => "csat",
            ScoreMeasure::Ces => "ces",
        }
    }

    /// The range of valid answers.
    pub fn range(self) -> (i32, i32) {
        match self {
            ScoreMeasure::Nps => (0, 10),
            ScoreMeasure::Csat => (1, 5),
            ScoreMeasure::Ces => (1, 7),
        }
    }
}

/// What makes a rule fire. Each firing names one customer and the record that triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCondition {
    /// A survey answer scored at most `at_most` on `measure` (e.g. a detractor: nps ≤ 6).
    LowScore { measure: ScoreMeasure, at_most: i32 },
    /// A customer's `contacts`-th contact within `days` days (counting that contact).
    RepeatContacts { contacts: u32, days: u32 },
    /// A contact that discussed a topic of this kind (e.g. a complaint).
    TopicKind { kind: TopicKindName },
    /// A survey comment that is negative ([`crate::sentiment::negative`]) from a customer
    /// among the `top_percent` percent most valuable by lifetime value (CLV).
    HighValueComment { top_percent: u32 },
}

/// A topic kind by its canonical name, as rules are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicKindName(pub TopicKind);

impl TryFrom<String> for TopicKindName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        TopicKind::parse("kind", &text)
            .map(TopicKindName)
            .map_err(|e| e.reason)
    }
}

impl From<TopicKindName> for String {
    fn from(kind: TopicKindName) -> String {
        kind.0.as_str().to_owned()
    }
}

impl AlertCondition {
    /// The records whose arrival fires the condition: a rule's matches are records of
    /// this kind.
    pub fn fires_on(&self) -> RecordKind {
        match self {
            AlertCondition::LowScore { .. } | AlertCondition::HighValueComment { .. } => {
                RecordKind::Surveys
            }
            AlertCondition::RepeatContacts { .. } | AlertCondition::TopicKind { .. } => {
                RecordKind::Interactions
            }
        }
    }

    /// Other records whose change can make records already stored match: the taxonomy
    /// (which topics are complaints), purchases (who is among the most valuable).
    pub fn depends_on(&self) -> Option<RecordKind> {
        match self {
            AlertCondition::TopicKind { .. } => Some(RecordKind::Topics),
            AlertCondition::HighValueComment { .. } => Some(RecordKind::Transactions),
            AlertCondition::LowScore { .. } | AlertCondition::RepeatContacts { .. } => None,
        }
    }

    /// Checks the parameters; the error says which and why.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            AlertCondition::LowScore { measure, at_most } => {
                let (low, high) = measure.range();
                if !(low..high).contains(&at_most) {
                    return Err(format!(
                        "{} answers run {low}..={high}: at_most {at_most} must be in {low}..{high} (at least one answer must be spared)",
                        measure.as_str()
                    ));
                }
            }
            AlertCondition::RepeatContacts { contacts, days } => {
                if !(2..=100).contains(&contacts) {
                    return Err(format!("contacts {contacts} must be in 2..=100"));
                }
                if !(1..=365).contains(&days) {
                    return Err(format!("days {days} must be in 1..=365"));
                }
            }
            AlertCondition::TopicKind { .. } => {}
            AlertCondition::HighValueComment { top_percent } => {
                if !(1..=50).contains(&top_percent) {
                    return Err(format!("top_percent {top_percent} must be in 1..=50"));
                }
            }
        }
        Ok(())
    }

    /// A sentence for people: what the rule watches.
    pub fn describe(&self) -> String {
        match self {
            AlertCondition::LowScore { measure, at_most } => {
                format!("a {} answer of {at_most} or less", measure.as_str())
            }
            AlertCondition::RepeatContacts { contacts, days } => {
                format!("{contacts} or more contacts from one customer within {days} days")
            }
            AlertCondition::TopicKind { kind } => {
                format!("a contact about a {} topic", kind.0.as_str())
            }
            AlertCondition::HighValueComment { top_percent } => format!(
                "a negative comment from a customer in the top {top_percent}% by lifetime value"
            ),
        }
    }
}

/// Checks a short stable id: 1 to 64 lowercase letters, digits or `-`.
pub(crate) fn check_slug(field: &str, id: &str) -> Result<(), FieldError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(FieldError::new(
            field,
            id,
            format!("{field} {id:?} must be 1 to 64 lowercase letters, digits or '-'"),
        ));
    }
    Ok(())
}

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// An alert rule as analysts write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Short stable id: lowercase letters, digits and `-`.
    pub rule_id: String,
    pub name: String,
    pub condition: AlertCondition,
    pub priority: Priority,
    /// Hours from opening to the SLA due time; the priority's default when absent.
    #[serde(default)]
    pub sla_hours: Option<u32>,
    /// After a case opens for a customer, further firings of the rule for that customer
    /// within this many days open no new case.
    pub cooldown_days: u32,
    /// Only records at most this many days old when the rule is evaluated open cases:
    /// older ones (a backfilled year, say) are history to measure, too late to follow up.
    /// Absent: records of any age.
    #[serde(default)]
    pub max_age_days: Option<u32>,
    pub enabled: bool,
}

impl Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Priority::parse("priority", &text).map_err(|e| serde::de::Error::custom(e.reason))
    }
}

impl Serialize for CaseStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl AlertRule {
    /// Checks the id, name and parameters.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_slug("rule_id", &self.rule_id)?;
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(FieldError::new(
                "name",
                &self.name,
                "name must be 1 to 200 bytes of text",
            ));
        }
        if let Err(reason) = self.condition.validate() {
            return Err(FieldError::new(
                "condition",
                &format!("{:?}", self.condition),
                reason,
            ));
        }
        if self.sla_hours.is_some_and(|h| !(1..=24 * 365).contains(&h)) {
            return Err(FieldError::new(
                "sla_hours",
                &format!("{:?}", self.sla_hours),
                "sla_hours must be in 1..=8760",
            ));
        }
        if self.cooldown_days > 365 {
            return Err(FieldError::new(
                "cooldown_days",
                &self.cooldown_days.to_string(),
                "cooldown_days must be at most 365",
            ));
        }
        if self.max_age_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            return Err(FieldError::new(
                "max_age_days",
                &format!("{:?}", self.max_age_days),
                "max_age_days must be in 1..=3650",
            ));
        }
        Ok(())
    }

    /// The oldest a triggering record may be, in microseconds since the epoch, for an
    /// evaluation at `now_micros`; `None` when any age will do.
    pub fn oldest_micros(&self, now_micros: i64) -> Option<i64> {
        self.max_age_days
            .map(|days| now_micros - i64::from(days) * DAY_MICROS)
    }

    pub fn sla_hours(&self) -> u32 {
        self.sla_hours
            .unwrap_or_else(|| self.priority.default_sla_hours())
    }

    /// The rules a new data directory starts with: detractors, very dissatisfied
    /// customers, repeat contacts, complaints, and negative comments from the most valuable
    /// tenth of customers.
    pub fn defaults() -> Vec<AlertRule> {
        let rule = |id: &str, name: &str, condition, priority| AlertRule {
            rule_id: id.to_owned(),
            name: name.to_owned(),
            condition,
            priority,
            sla_hours: None,
            cooldown_days: 14,
            max_age_days: Some(14),
            enabled: true,
        };
        vec![
            rule(
                "detractor",
                "Detractor: NPS answer of 0 to 6",
                AlertCondition::LowScore {
                    measure: ScoreMeasure::Nps,
                    at_most: 6,
                },
                Priority::High,
            ),
            rule(
                "very-dissatisfied",
                "Very dissatisfied: CSAT 1 or 2",
                AlertCondition::LowScore {
                    measure: ScoreMeasure::Csat,
                    at_most: 2,
                },
                Priority::High,
            ),
            rule(
                "repeat-contacts",
                "Repeat contacts: 3 in 7 days",
                AlertCondition::RepeatContacts {
                    contacts: 3,
                    days: 7,
                },
                Priority::Normal,
            ),
            rule(
                "complaint",
                "Complaint topic discussed",
                AlertCondition::TopicKind {
                    kind: TopicKindName(TopicKind::Complaint),
                },
                Priority::Normal,
            ),
            rule(
                "high-value-unhappy",
                "High-value customer (CLV top 10%) with a negative comment",
                AlertCondition::HighValueComment { top_percent: 10 },
                Priority::High,
            ),
        ]
    }
}

/// One firing of a rule: the customer and the record (survey answer or contact) behind it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Firing {
    pub rule_id: String,
    pub customer_id: String,
    /// When the triggering record happened, microseconds since the epoch (UTC).
    pub at_micros: i64,
    /// The id of the triggering answer or contact.
    pub trigger_id: String,
}

/// Of a rule's firings, those that open a case, given the times (microseconds) at which
/// cases of the same rule already opened for each customer: a firing opens a case unless
/// a case of the rule for its customer was triggered less than `cooldown` before or after
/// it. Firings are taken in time order (ties by trigger id), so the result does not depend
/// on the order records arrived in, and a firing seen twice opens at most one case.
pub fn cases_to_open(
    mut firings: Vec<Firing>,
    cooldown_micros: i64,
    existing: &std::collections::HashMap<(String, String), Vec<(i64, String)>>,
) -> Vec<Firing> {
    firings.sort_by(|a, b| {
        (&a.rule_id, &a.customer_id, a.at_micros, &a.trigger_id).cmp(&(
            &b.rule_id,
            &b.customer_id,
            b.at_micros,
            &b.trigger_id,
        ))
    });
    firings.dedup_by(|a, b| a.rule_id == b.rule_id && a.trigger_id == b.trigger_id);
    let mut opened: Vec<Firing> = Vec::new();
    let mut index = 0;
    while index < firings.len() {
        let key = (
            firings[index].rule_id.clone(),
            firings[index].customer_id.clone(),
        );
        let mut taken: Vec<i64> = Vec::new();
        let known = existing.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        while index < firings.len()
            && firings[index].rule_id == key.0
            && firings[index].customer_id == key.1
        {
            let firing = &firings[index];
            index += 1;
            if known
                .iter()
                .any(|(_, trigger)| *trigger == firing.trigger_id)
            {
                continue;
            }
            let near = |at: i64| (firing.at_micros - at).abs() < cooldown_micros;
            if known.iter().any(|(at, _)| near(*at)) || taken.iter().any(|at| near(*at)) {
                continue;
            }
            taken.push(firing.at_micros);
            opened.push(firing.clone());
        }
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn workflow_allows_only_its_moves() {
        use CaseStatus::*;
        let allowed = [
            (Open, InProgress),
            (Open, Resolved),
            (InProgress, Resolved),
            (Resolved, Closed),
            (Resolved, InProgress),
            (Closed, Open),
        ];
        for from in CaseStatus::ALL {
            for to in CaseStatus::ALL {
                let ok = from.transition(*to).is_ok();
                assert_eq!(ok, allowed.contains(&(*from, *to)), "{from:?} → {to:?}");
            }
        }
        assert_eq!(
            Closed.transition(Resolved).unwrap_err().to_string(),
            "a case that is closed cannot become resolved; it can become open"
        );
    }

    #[test]
    fn rules_parse_from_json_and_validate() {
        let rule: AlertRule = serde_json::from_str(
            r#"{"rule_id":"detractor","name":"Detractor","condition":{"type":"low_score","measure":"nps","at_most":6},"priority":"high","cooldown_days":14,"max_age_days":14,"enabled":true}"#,
        )
        .unwrap();
        assert_eq!(
            rule,
            AlertRule::defaults()[0].clone().with_name("Detractor")
        );
        assert!(rule.validate().is_ok());
        let bad = AlertRule {
            condition: AlertCondition::LowScore {
                measure: ScoreMeasure::Csat,
                at_most: 5,
            },
            ..rule.clone()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .reason
                .contains("at_most 5 must be in 1..5")
        );
        let unknown = serde_json::from_str::<AlertRule>(
            r#"{"rule_id":"x","name":"X","condition":{"type":"topic_kind","kind":"gossip"},"priority":"low","cooldown_days":1,"enabled":true}"#,
        );
        assert!(unknown.unwrap_err().to_string().contains("gossip"));
        for rule in AlertRule::defaults() {
            rule.validate().unwrap();
        }
        // Without max_age_days a rule looks at records of any age.
        let any_age: AlertRule = serde_json::from_str(
            r#"{"rule_id":"d","name":"D","condition":{"type":"low_score","measure":"nps","at_most":6},"priority":"high","cooldown_days":14,"enabled":true}"#,
        )
        .unwrap();
        assert_eq!(
            (any_age.max_age_days, any_age.oldest_micros(1_000)),
            (None, None)
        );
        let day = 86_400_000_000;
        let fortnight = AlertRule {
            max_age_days: Some(14),
            ..any_age.clone()
        };
        assert_eq!(fortnight.oldest_micros(20 * day), Some(6 * day));
        let never = AlertRule {
            max_age_days: Some(0),
            ..any_age
        };
        assert_eq!(
            never.validate().unwrap_err().reason,
            "max_age_days must be in 1..=3650"
        );
    }

    impl AlertRule {
        fn with_name(mut self, name: &str) -> Self {
            self.name = name.to_owned();
            self
        }
    }

    fn firing(customer: &str, day: i64, trigger: &str) -> Firing {
        Firing {
            rule_id: "r".into(),
            customer_id: customer.into(),
            at_micros: day * 86_400_000_000,
            trigger_id: trigger.into(),
        }
    }

    #[test]
    fn cooldown_keeps_one_case_per_customer_and_window() {
        let day = 86_400_000_000;
        let firings = vec![
            firing("c1", 10, "t3"),
            firing("c1", 1, "t1"),
            firing("c1", 5, "t2"),
            firing("c1", 5, "t2"),
            firing("c2", 1, "t4"),
        ];
        let opened = cases_to_open(firings.clone(), 7 * day, &HashMap::new());
        let ids: Vec<_> = opened.iter().map(|f| f.trigger_id.as_str()).collect();
        assert_eq!(ids, ["t1", "t3", "t4"]);
        // Evaluated again with those cases stored, nothing new opens.
        let mut existing: HashMap<(String, String), Vec<(i64, String)>> = HashMap::new();
        for f in &opened {
            existing
                .entry((f.rule_id.clone(), f.customer_id.clone()))
                .or_default()
                .push((f.at_micros, f.trigger_id.clone()));
        }
        assert!(cases_to_open(firings, 7 * day, &existing).is_empty());
        // A later firing outside the window opens; one inside a stored case's window does not.
        let later = vec![firing("c1", 16, "t5"), firing("c1", 18, "t6")];
        let ids: Vec<_> = cases_to_open(later, 7 * day, &existing)
            .into_iter()
            .map(|f| f.trigger_id)
            .collect();
        assert_eq!(ids, ["t6"]);
    }
}
