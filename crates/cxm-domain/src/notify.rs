//! Telling people what happened to cases: the events, webhook subscriptions (validated) and
//! the schedule on which a failed delivery is tried again.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::cases::check_slug;
use crate::kinds::vocabulary;

vocabulary!(
    /// Something that happened to a case, sent to webhooks and to the owner's inbox.
    EventKind, "event" {
        /// A rule opened a case.
        CaseOpened = "case.opened",
        /// Someone changed a case: its status, owner, root cause, outcome or a note.
        CaseUpdated = "case.updated",
    }
);

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        EventKind::parse("event", &text).map_err(|e| serde::de::Error::custom(e.reason))
    }
}

/// A webhook subscription: events of these kinds are POSTed to `url`, signed with the
/// subscription's secret (kept apart from this description, never shown again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Short stable id: lowercase letters, digits and `-`.
    pub webhook_id: String,
    /// `https://…` (or `http://…` for a receiver on the same network).
    pub url: String,
    pub events: Vec<EventKind>,
    pub enabled: bool,
}

impl Webhook {
    /// Checks the id, the URL and the events.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_slug("webhook_id", &self.webhook_id)?;
        check_url(&self.url)?;
        if self.events.is_empty() {
            return Err(FieldError::new(
                "events",
                "[]",
                format!(
                    "events must name at least one of {}",
                    EventKind::ALL
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut seen = Vec::new();
        for event in &self.events {
            if seen.contains(event) {
                return Err(FieldError::new(
                    "events",
                    event.as_str(),
                    format!("events names {event} twice"),
                ));
            }
            seen.push(*event);
        }
        Ok(())
    }

    pub fn wants(&self, event: EventKind) -> bool {
        self.enabled && self.events.contains(&event)
    }
}

fn check_url(url: &str) -> Result<(), FieldError> {
    let bad = |reason: &str| Err(FieldError::new("url", url, format!("url {url:?} {reason}")));
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return bad("must start with https:// or http://");
    };
    if url.len() > 2000 {
        return bad("is longer than 2000 bytes");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains spaces or control characters");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return bad("names no host");
    }
    Ok(())
}

/// Checks a webhook secret: 16 to 256 printable ASCII characters.
pub fn check_secret(secret: &str) -> Result<(), FieldError> {
    if !(16..=256).contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            "secret",
            "(hidden)",
            "secret must be 16 to 256 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

/// When a failed delivery is tried again: after `first_delay_seconds`, then twice as long
/// each time (at most six hours apart), until `max_attempts` attempts have failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    pub first_delay_seconds: u64,
    pub max_attempts: u32,
}

impl Default for RetrySchedule {
    /// Twelve attempts over about a day: 30 s, 1 min, 2 min, … 6 h.
    fn default() -> Self {
        RetrySchedule {
            first_delay_seconds: 30,
            max_attempts: 12,
        }
    }
}

impl RetrySchedule {
    /// The longest wait between two attempts.
    pub const MAX_DELAY_SECONDS: u64 = 6 * 3600;

    /// Seconds to wait after the `attempts`-th failed attempt, or `None` when it was the
    /// last one.
    pub fn delay_after(&self, attempts: u32) -> Option<u64> {
        if attempts == 0 || attempts >= self.max_attempts {
            return None;
        }
        let doubling = 1u64.checked_shl(attempts - 1).unwrap_or(u64::MAX);
        Some(
            self.first_delay_seconds
                .saturating_mul(doubling)
                .min(Self::MAX_DELAY_SECONDS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str) -> Webhook {
        Webhook {
            webhook_id: "crm".into(),
            url: url.into(),
            events: vec![EventKind::CaseOpened],
            enabled: true,
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        for good in [
            "https://hooks.example.com/cxm",
            "http://127.0.0.1:8080/in?x=1",
            "https://user@example.com",
        ] {
            assert_eq!(hook(good).validate(), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("ftp://example.com", "must start with"),
            ("https://", "names no host"),
            ("http://:80/x", "names no host"),
            ("https://exa mple.com", "spaces"),
            ("example.com", "must start with"),
        ] {
            let e = hook(bad).validate().unwrap_err();
            assert!(e.reason.contains(why), "{bad}: {}", e.reason);
        }
    }

    #[test]
    fn events_are_named_once_and_parsed_from_json() {
        let mut h = hook("https://x.example");
        h.events = vec![];
        assert!(h.validate().unwrap_err().reason.contains("case.opened"));
        h.events = vec![EventKind::CaseOpened, EventKind::CaseOpened];
        assert!(h.validate().unwrap_err().reason.contains("twice"));
        let parsed: Webhook = serde_json::from_str(
            r#"{"webhook_id":"crm","url":"https://x.example","events":["case.opened","case.updated"],"enabled":false}"#,
        )
        .unwrap();
        assert_eq!(parsed.events, EventKind::ALL);
        assert!(!parsed.wants(EventKind::CaseOpened), "disabled");
        let unknown = serde_json::from_str::<Webhook>(
            r#"{"webhook_id":"crm","url":"https://x.example","events":["case.deleted"],"enabled":true}"#,
        );
        assert!(unknown.unwrap_err().to_string().contains("case.updated"));
    }

    #[test]
    fn secrets_are_long_printable_ascii() {
        assert!(check_secret("0123456789abcdef").is_ok());
        assert!(check_secret("short").is_err());
        assert!(check_secret("0123456789abcdef with space").is_err());
        assert!(check_secret(&"x".repeat(257)).is_err());
    }

    #[test]
    fn retries_double_up_to_six_hours_then_stop() {
        let schedule = RetrySchedule::default();
        let delays: Vec<Option<u64>> = (0..=12).map(|a| schedule.delay_after(a)).collect();
        assert_eq!(delays[0], None, "no attempt made yet");
        assert_eq!(&delays[1..4], &[Some(30), Some(60), Some(120)]);
        assert_eq!(delays[10], Some(15_360), "30 s × 2⁹");
        assert_eq!(delays[11], Some(21_600), "30 s × 2¹⁰ is capped at 6 h");
        assert_eq!(delays[12], None, "twelve failures: given up");
        let long = RetrySchedule {
            first_delay_seconds: u64::MAX / 2,
            max_attempts: u32::MAX,
        };
        assert_eq!(
            long.delay_after(200),
            Some(RetrySchedule::MAX_DELAY_SECONDS)
        );
    }
}
