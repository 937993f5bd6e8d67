//! Front-line ideas and the initiatives they become: the idea workflow (who may move an
//! idea where), its priority score, and what an approval must name.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::cases::{TransitionError, Workflow};
use crate::kinds::{AccessRole, vocabulary};

vocabulary!(
    /// Where an idea stands.
    IdeaStatus, "idea status" {
        /// Submitted, not looked at yet.
        New = "new",
        /// The front-line core team is looking at it.
        UnderReview = "under_review",
        /// Put to management for a decision.
        Proposed = "proposed",
        /// Management approved it: it is an initiative now.
        Approved = "approved",
        Declined = "declined",
        /// The initiative is under way.
        InProgress = "in_progress",
        Done = "done",
    }
);

impl Serialize for IdeaStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Workflow for IdeaStatus {
    const SUBJECT: &'static str = "an idea";

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn next(self) -> &'static [IdeaStatus] {
        use IdeaStatus::*;
        match self {
            New => &[UnderReview, Declined],
            UnderReview => &[Proposed, Declined],
            Proposed => &[Approved, Declined],
            Approved => &[InProgress],
            // a declined idea can be looked at again
            Declined => &[UnderReview],
            InProgress => &[Done],
            Done => &[],
        }
    }
}

/// Who makes a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The front-line core team triages: leads, and anyone above them.
    Triage,
    /// Management decides, with a reason: managers, executives and admins.
    Decision,
    /// The initiative's owner (or management) reports progress.
    Delivery,
}

impl IdeaStatus {
    /// Checks a move.
    pub fn transition(self, to: IdeaStatus) -> Result<IdeaStatus, TransitionError<IdeaStatus>> {
        self.check(to)
    }

    /// Who makes the move `self → to` (a move the workflow allows).
    pub fn stage(self, to: IdeaStatus) -> Stage {
        match (self, to) {
            (IdeaStatus::Proposed, _) => Stage::Decision,
            (IdeaStatus::Approved | IdeaStatus::InProgress, _) => Stage::Delivery,
            _ => Stage::Triage,
        }
    }

    /// Whether the move must say why (decisions and declines are recorded with reasons).
    pub fn needs_reason(self, to: IdeaStatus) -> bool {
        matches!(to, IdeaStatus::Approved | IdeaStatus::Declined)
    }

    /// Whether the idea still waits for a decision.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            IdeaStatus::New | IdeaStatus::UnderReview | IdeaStatus::Proposed
        )
    }
}

impl Stage {
    /// Whether a person of `role` may act at this stage (`owner`: they own the initiative).
    pub fn allows(self, role: AccessRole, owner: bool) -> bool {
        let management = matches!(
            role,
            AccessRole::Manager | AccessRole::Executive | AccessRole::Admin
        );
        match self {
            Stage::Triage => management || role == AccessRole::Lead,
            Stage::Decision => management,
            Stage::Delivery => management || owner,
        }
    }

    pub fn who(self) -> &'static str {
        match self {
            Stage::Triage => "the front-line core team (leads) or management",
            Stage::Decision => "management (managers, executives, admins)",
            Stage::Delivery => "the initiative's owner or management",
        }
    }
}

/// The triage team's estimate: expected impact, how many customers or contacts it
/// reaches, and the effort it takes, each from 1 (least) to 5 (most).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityInputs {
    pub impact: u8,
    pub reach: u8,
    pub effort: u8,
}

impl PriorityInputs {
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, value) in [
            ("impact", self.impact),
            ("reach", self.reach),
            ("effort", self.effort),
        ] {
            if !(1..=5).contains(&value) {
                return Err(FieldError::new(
                    field,
                    &value.to_string(),
                    format!("{field} {value} must be in 1..=5"),
                ));
            }
        }
        Ok(())
    }

    /// impact × reach ÷ effort: from 0.2 (small, narrow, hard) to 25 (big, wide, easy).
    pub fn score(&self) -> f64 {
        f64::from(self.impact) * f64::from(self.reach) / f64::from(self.effort)
    }
}

impl fmt::Display for PriorityInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "impact {} × reach {} ÷ effort {} = {:.1}",
            self.impact,
            self.reach,
            self.effort,
            self.score()
        )
    }
}

/// Checks free text written by people: 1 to `max` bytes, not blank, no control characters
/// but line breaks and tabs.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() || value.len() > max {
        return Err(FieldError::new(
            field,
            value,
            format!("{field} must be 1 to {max} bytes of text"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            value,
            format!("{field} contains control characters"),
        ));
    }
    Ok(())
}

fn codes(field: &str, values: &[String], max: usize) -> Result<(), FieldError> {
    if values.len() > max {
        return Err(FieldError::new(
            field,
            &values.join(","),
            format!("{field} may name at most {max}"),
        ));
    }
    for value in values {
        if value.is_empty() || value.len() > 64 || value.chars().any(|c| c.is_control() || c == ',')
        {
            return Err(FieldError::new(
                field,
                value,
                format!("{field} {value:?} is not a code"),
            ));
        }
    }
    Ok(())
}

/// An idea as someone submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIdea {
    pub title: String,
    /// What goes wrong for customers or staff.
    pub problem: String,
    /// What to change.
    pub proposal: String,
    /// Topic codes it is about.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Metric names it should move.
    #[serde(default)]
    pub metrics: Vec<String>,
}

impl NewIdea {
    /// Checks lengths and codes (that topics and metrics exist is checked where the
    /// taxonomy and catalogue are known).
    pub fn validate(&self) -> Result<(), FieldError> {
        text("title", &self.title, 200)?;
        text("problem", &self.problem, 5_000)?;
        text("proposal", &self.proposal, 5_000)?;
        codes("topics", &self.topics, 10)?;
        codes("metrics", &self.metrics, 5)
    }
}

/// What an approval turns the idea into: an initiative with an owner, a scope of units,
/// the metric it should move, and when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitiativePlan {
    pub name: String,
    /// Person id of the owner.
    pub owner_id: String,
    /// The units where it is carried out (their subtrees).
    pub scope: Vec<String>,
    /// The metric whose change measures it.
    pub target_metric: String,
    pub start: NaiveDate,
}

impl InitiativePlan {
    pub fn validate(&self) -> Result<(), FieldError> {
        text("name", &self.name, 200)?;
        codes("owner_id", std::slice::from_ref(&self.owner_id), 1)?;
        if self.scope.is_empty() {
            return Err(FieldError::new(
                "scope",
                "",
                "scope must name at least one unit",
            ));
        }
        codes("scope", &self.scope, 50)?;
        codes(
            "target_metric",
            std::slice::from_ref(&self.target_metric),
            1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_move_is_checked_and_refusals_say_what_is_allowed() {
        use IdeaStatus::*;
        let allowed = [
            (New, UnderReview),
            (New, Declined),
            (UnderReview, Proposed),
            (UnderReview, Declined),
            (Proposed, Approved),
            (Proposed, Declined),
            (Approved, InProgress),
            (Declined, UnderReview),
            (InProgress, Done),
        ];
        for &from in IdeaStatus::ALL {
            for &to in IdeaStatus::ALL {
                assert_eq!(
                    from.transition(to).is_ok(),
                    allowed.contains(&(from, to)),
                    "{from} → {to}"
                );
            }
        }
        assert_eq!(
            New.transition(Approved).unwrap_err().to_string(),
            "an idea that is new cannot become approved; it can become under_review or declined"
        );
        assert!(
            Done.transition(New)
                .unwrap_err()
                .to_string()
                .ends_with("it can become nothing: it is final")
        );
    }

    #[test]
    fn stages_decide_who_moves_an_idea() {
        use IdeaStatus::*;
        assert_eq!(New.stage(UnderReview), Stage::Triage);
        assert_eq!(UnderReview.stage(Proposed), Stage::Triage);
        assert_eq!(Proposed.stage(Approved), Stage::Decision);
        assert_eq!(Proposed.stage(Declined), Stage::Decision);
        assert_eq!(Approved.stage(InProgress), Stage::Delivery);
        assert_eq!(InProgress.stage(Done), Stage::Delivery);
        assert!(Stage::Triage.allows(AccessRole::Lead, false));
        assert!(!Stage::Triage.allows(AccessRole::Agent, false));
        assert!(!Stage::Triage.allows(AccessRole::Analyst, false));
        assert!(!Stage::Decision.allows(AccessRole::Lead, false));
        assert!(Stage::Decision.allows(AccessRole::Manager, false));
        assert!(Stage::Delivery.allows(AccessRole::Lead, true));
        assert!(!Stage::Delivery.allows(AccessRole::Lead, false));
        assert!(Proposed.needs_reason(Approved) && New.needs_reason(Declined));
        assert!(!New.needs_reason(UnderReview));
    }

    #[test]
    fn the_priority_score_is_impact_times_reach_over_effort() {
        let p = PriorityInputs {
            impact: 4,
            reach: 5,
            effort: 2,
        };
        assert_eq!(p.score(), 10.0);
        assert_eq!(p.to_string(), "impact 4 × reach 5 ÷ effort 2 = 10.0");
        let bad = PriorityInputs { effort: 0, ..p };
        assert!(bad.validate().unwrap_err().reason.contains("effort 0"));
        assert!(PriorityInputs { impact: 6, ..p }.validate().is_err());
    }

    #[test]
    fn ideas_and_plans_are_validated() {
        let idea = NewIdea {
            title: "Callback instead of hold".into(),
            problem: "Customers wait on hold for minutes at peak".into(),
            proposal: "Offer a callback after 60 s of hold".into(),
            topics: vec!["billing".into()],
            metrics: vec!["hold_time".into()],
        };
        assert_eq!(idea.validate(), Ok(()));
        let empty = NewIdea {
            title: "  ".into(),
            ..idea.clone()
        };
        assert!(empty.validate().unwrap_err().reason.contains("title"));
        let control = NewIdea {
            problem: "bell\u{7}".into(),
            ..idea.clone()
        };
        assert!(control.validate().is_err());
        let many = NewIdea {
            metrics: vec!["csat".into(); 6],
            ..idea
        };
        assert!(many.validate().unwrap_err().reason.contains("at most 5"));
        let plan: InitiativePlan = serde_json::from_str(
            r#"{"name":"Callbacks","owner_id":"P-1","scope":["T-1"],"target_metric":"hold_time","start":"2025-03-01"}"#,
        )
        .unwrap();
        assert_eq!(plan.validate(), Ok(()));
        let unscoped = InitiativePlan {
            scope: vec![],
            ..plan
        };
        assert!(unscoped.validate().unwrap_err().reason.contains("scope"));
    }
}
