//! Sending queued case events to webhooks: signed, with an idempotency key that stays the
//! same on every attempt, and retried on the [`RetrySchedule`] until the receiver answers
//! 2xx or the attempts run out.
//!
//! Each POST carries:
//! - `Cxm-Event`: the event kind (`case.opened`, `case.updated`);
//! - `Idempotency-Key`: the event's key (`case-42-opened`, `case-42-v3`);
//! - `Cxm-Timestamp`: the attempt's time, in seconds since the Unix epoch;
//! - `Cxm-Signature`: `v1=` and the hex HMAC-SHA256, keyed with the webhook's secret, of
//!   the timestamp, a `.` and the body.
//!
//! A receiver recomputes the signature, refuses timestamps far from its clock (replays),
//! and does an event once per idempotency key.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cxm_domain::notify::RetrySchedule;
use cxm_sql::{AttemptOutcome, DueDelivery, NotifyStore};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::LoopError;

/// How the sender works.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub schedule: RetrySchedule,
    /// How long one POST may take.
    pub timeout: Duration,
    /// Deliveries claimed and sent at a time.
    pub batch: u32,
    /// POSTs in flight at once.
    pub concurrency: usize,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            schedule: RetrySchedule::default(),
            timeout: Duration::from_secs(10),
            batch: 100,
            concurrency: 8,
        }
    }
}

/// What one round of sending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SendReport {
    pub delivered: u64,
    /// Failed, to be tried again later.
    pub retrying: u64,
    /// Failed for the last time.
    pub given_up: u64,
}

/// The `Cxm-Signature` value of `body` sent at `timestamp` (seconds since the epoch).
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// An HTTP client for webhooks: it does not follow redirects (a receiver that moved must
/// be edited, not silently followed).
pub fn client(options: &SendOptions) -> Result<reqwest::Client, LoopError> {
    reqwest::Client::builder()
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cxm-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LoopError::Engine(format!("webhook client: {e}")))
}

/// Sends every delivery due at `now`, batch after batch, and records each attempt.
/// Deliveries that fail are due again later (their next attempt is after `now`), so a round
/// ends.
pub async fn send_due(
    store: &dyn NotifyStore,
    client: &reqwest::Client,
    options: &SendOptions,
    now: DateTime<Utc>,
) -> Result<SendReport, LoopError> {
    let mut report = SendReport::default();
    let now_micros = now.timestamp_micros();
    // a claimed delivery whose sender died falls due again after the lease
    let lease = (options.timeout * 3).max(Duration::from_secs(60));
    let lease = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 4);
    loop {
        // each batch's claim runs from when it is taken (a round may outlast one lease)
        let taken = Utc::now().timestamp_micros().max(now_micros);
        let due = store
            .claim_deliveries(now_micros, taken.saturating_add(lease), options.batch)
            .await?;
        if due.is_empty() {
            return Ok(report);
        }
        let results: Vec<(i64, i64, Result<(), String>, i64)> = futures::stream::iter(due)
            .map(|delivery| async move {
                let result = post(client, &delivery).await;
                (
                    delivery.delivery_id,
                    delivery.lease_micros,
                    result,
                    delivery.attempts + 1,
                )
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        for (delivery_id, lease_micros, result, attempts) in results {
            let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let outcome = match result {
                Ok(()) => {
                    report.delivered += 1;
                    AttemptOutcome::Delivered
                }
                Err(error) => {
                    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
                    match options.schedule.delay_after(attempts) {
                        Some(delay) => {
                            report.retrying += 1;
                            let delay = i64::try_from(delay).unwrap_or(i64::MAX / 2);
                            AttemptOutcome::Retry {
                                error,
                                next_attempt_micros: now_micros
                                    .saturating_add(delay.saturating_mul(1_000_000)),
                            }
                        }
                        None => {
                            report.given_up += 1;
                            AttemptOutcome::GiveUp { error }
                        }
                    }
                }
            };
            // a claim that ran out belongs to whoever took the delivery over
            store
                .record_attempt(delivery_id, lease_micros, &at, &outcome)
                .await?;
        }
    }
}

/// One attempt: `Ok` when the receiver answered 2xx.
async fn post(client: &reqwest::Client, delivery: &DueDelivery) -> Result<(), String> {
    let timestamp = Utc::now().timestamp();
    let response = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Cxm-Event", &delivery.event)
        .header("Idempotency-Key", &delivery.event_key)
        .header("Cxm-Timestamp", timestamp.to_string())
        .header(
            "Cxm-Signature",
            signature(&delivery.secret, timestamp, &delivery.payload),
        )
        .body(delivery.payload.clone())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {status}"))
    }
}

/// A transport error with its causes, without the URL (which may hold credentials).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut reason = format!("the request {what}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // computed independently: printf '1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac 0123456789abcdef
        let got = signature("0123456789abcdef", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            got,
            "v1=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23"
        );
    }
}
