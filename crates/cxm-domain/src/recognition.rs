//! Recognising good work: kudos between colleagues and from customers (a customer's
//! comment that praises the agent), and success stories with their evidence.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::ideas::text;
use crate::kinds::vocabulary;

vocabulary!(
    /// Who gave the kudos.
    KudosSource, "kudos source" {
        /// A colleague.
        Colleague = "colleague",
        /// A customer, in a survey comment.
        Customer = "customer",
    }
);

impl Serialize for KudosSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

pub use crate::sentiment::{COMPLAINT_WORDS, PRAISE_WORDS, praise};

/// A piece of evidence behind a story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// `contact`, `answer`, `metric` or `initiative`.
    pub kind: String,
    /// The contact's or answer's id, the metric's name, the initiative's id.
    pub reference: String,
    /// What it shows ("CSAT 62% → 81% in Team 4, Q2 to Q3").
    #[serde(default)]
    pub note: String,
}

/// A success story as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStory {
    pub title: String,
    pub narrative: String,
    /// The unit it happened in (who sees it follows from it).
    pub unit_id: Option<String>,
    /// People it is about (person ids).
    #[serde(default)]
    pub people: Vec<String>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

fn code(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > 64 || value.chars().any(|c| c.is_control() || c == ',') {
        return Err(FieldError::new(
            field,
            value,
            format!("{field} {value:?} is not an id"),
        ));
    }
    Ok(())
}

impl NewStory {
    /// Checks lengths, ids and evidence kinds (that the ids exist is checked where the
    /// data is known).
    pub fn validate(&self) -> Result<(), FieldError> {
        text("title", &self.title, 200)?;
        text("narrative", &self.narrative, 20_000)?;
        if let Some(unit) = &self.unit_id {
            code("unit_id", unit)?;
        }
        if self.people.len() > 20 {
            return Err(FieldError::new(
                "people",
                &self.people.join(","),
                "people may name at most 20",
            ));
        }
        for person in &self.people {
            code("people", person)?;
        }
        if self.evidence.len() > 50 {
            return Err(FieldError::new(
                "evidence",
                "",
                "evidence may list at most 50 items",
            ));
        }
        for item in &self.evidence {
            if !matches!(
                item.kind.as_str(),
                "contact" | "answer" | "metric" | "initiative"
            ) {
                return Err(FieldError::new(
                    "evidence.kind",
                    &item.kind,
                    format!(
                        "evidence kind {:?} is not contact, answer, metric or initiative",
                        item.kind
                    ),
                ));
            }
            code("evidence.reference", &item.reference)?;
            if item.note.len() > 1_000 {
                return Err(FieldError::new(
                    "evidence.note",
                    &item.note,
                    "an evidence note is at most 1000 bytes",
                ));
            }
        }
        Ok(())
    }
}

/// Checks a kudos message.
pub fn check_message(message: &str) -> Result<(), FieldError> {
    text("message", message, 2_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories_are_validated() {
        let story = NewStory {
            title: "Team 4 turned repeat calls around".into(),
            narrative: "After the billing fix…".into(),
            unit_id: Some("T4".into()),
            people: vec!["A-1".into()],
            evidence: vec![Evidence {
                kind: "metric".into(),
                reference: "repeat_contact_rate".into(),
                note: "18% → 9%".into(),
            }],
        };
        assert_eq!(story.validate(), Ok(()));
        let odd = NewStory {
            evidence: vec![Evidence {
                kind: "rumour".into(),
                reference: "x".into(),
                note: String::new(),
            }],
            ..story.clone()
        };
        assert!(odd.validate().unwrap_err().reason.contains("rumour"));
        let empty = NewStory {
            narrative: " ".into(),
            ..story
        };
        assert!(empty.validate().is_err());
        assert!(check_message("Thanks for covering my shift").is_ok());
        assert!(check_message("").is_err());
    }
}
