//! Telling people what happened to cases. Every case change queues its events in the same
//! transaction (an outbox): one delivery per subscribed webhook and, where someone is
//! handed a case, a notification in their in-app inbox. A sender claims due deliveries,
//! posts them and records each attempt; nothing queued is lost when it or the receiver
//! fails.

use async_trait::async_trait;
use cxm_domain::notify::{EventKind, Webhook};
use serde::Serialize;
use sqlx::Row;

use crate::cases::Case;
use crate::{Backend, SqlError, SqlStore};

/// A webhook as stored (its secret is never read back), with its deliveries so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub updated_at: String,
    pub updated_by: String,
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// One event for one webhook, and how its delivery went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub delivery_id: i64,
    pub webhook_id: String,
    /// The idempotency key, the same on every attempt.
    pub event_key: String,
    pub event: String,
    pub case_id: i64,
    /// `pending`, `delivered` or `failed` (given up).
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

/// A delivery claimed for sending, with what is needed to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub delivery_id: i64,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub event_key: String,
    pub event: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The claim: until when it is this sender's (its attempt is recorded only while the
    /// claim holds).
    pub lease_micros: i64,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; try again at this instant (microseconds since the epoch).
    Retry {
        error: String,
        next_attempt_micros: i64,
    },
    /// Failed for the last time.
    GiveUp {
        error: String,
    },
}

/// An entry of a person's in-app inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub notification_id: i64,
    pub person_id: String,
    pub event: String,
    pub case_id: i64,
    pub message: String,
    pub created_at: String,
    pub read_at: Option<String>,
}

/// Webhooks, their deliveries and the in-app inbox, implemented by each SQL backend.
#[async_trait]
pub trait NotifyStore: Send + Sync {
    /// Adds or replaces a webhook (validated above this layer). A new webhook needs a
    /// secret; an existing one keeps its secret when `secret` is `None`.
    async fn set_webhook(
        &self,
        webhook: &Webhook,
        secret: Option<&str>,
        actor: &str,
        at: &str,
    ) -> Result<(), SqlError>;
    async fn webhooks(&self) -> Result<Vec<StoredWebhook>, SqlError>;
    /// Removes a webhook and its deliveries; whether it existed.
    async fn remove_webhook(&self, webhook_id: &str) -> Result<bool, SqlError>;
    /// Claims up to `limit` deliveries of enabled webhooks that are due at `now_micros`:
    /// nobody else claims them until `lease_until_micros` (if the sender dies, they fall
    /// due again then).
    async fn claim_deliveries(
        &self,
        now_micros: i64,
        lease_until_micros: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, SqlError>;
    /// Records an attempt made under the claim `lease_micros`; `false` (and nothing
    /// changes) when the claim ran out and another sender took the delivery over.
    async fn record_attempt(
        &self,
        delivery_id: i64,
        lease_micros: i64,
        at: &str,
        outcome: &AttemptOutcome,
    ) -> Result<bool, SqlError>;
    /// A webhook's latest deliveries, newest first.
    async fn deliveries(&self, webhook_id: &str, limit: u32) -> Result<Vec<Delivery>, SqlError>;
    /// A person's notifications, newest first.
    async fn notifications(
        &self,
        person_id: &str,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notification>, SqlError>;
    async fn unread_count(&self, person_id: &str) -> Result<u64, SqlError>;
    /// Marks a person's notifications read (these ids, or all); how many changed.
    async fn mark_read(
        &self,
        person_id: &str,
        ids: Option<&[i64]>,
        at: &str,
    ) -> Result<u64, SqlError>;
}

/// An event to queue with the case change that caused it.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub kind: EventKind,
    /// Unique per event: `case-42-opened`, `case-42-v3`.
    pub key: String,
    pub at: String,
    pub actor: String,
    pub case: Case,
    /// Tell this person in their inbox, with this message.
    pub notify: Option<(String, String)>,
}

/// A value to bind in a multi-row statement.
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Float(f64),
}

/// `($s, $s+1, …), (…)`: placeholders for `rows` rows of `columns` values from `$start`
/// (`(?, ?, …)` on SQLite, see [`Backend::placeholder`]).
pub(crate) fn placeholders(backend: Backend, rows: usize, columns: usize, start: usize) -> String {
    let row = |r: usize| {
        let values: Vec<String> = (0..columns)
            .map(|c| backend.placeholder(start + r * columns + c))
            .collect();
        format!("({})", values.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// Rows per multi-row statement of `columns` values each: about 2,000 parameters. SQLite
/// statements number their parameters `?` (no name to look up), so binding is linear in
/// them, and fewer, larger statements mean fewer round trips to the connection's worker.
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (2_000 / columns.max(1)).max(1)
}

/// Inserts rows of `columns` values each with `head` (`INSERT INTO t (a, b) VALUES`) and
/// `tail` (`ON CONFLICT …`), about 2,000 parameters a statement ([`rows_per_statement`]).
pub(crate) async fn insert_rows(
    tx: &mut sqlx::AnyConnection,
    head: &str,
    tail: &str,
    columns: usize,
    rows: Vec<Vec<Param>>,
) -> Result<(), SqlError> {
    let backend = Backend::of(tx);
    for chunk in rows.chunks(rows_per_statement(columns)) {
        let sql = format!(
            "{head} {} {tail}",
            placeholders(backend, chunk.len(), columns, 1)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            debug_assert_eq!(row.len(), columns);
            for value in row {
                query = match value {
                    Param::Text(v) => query.bind(v.clone()),
                    Param::Int(v) => query.bind(*v),
                    Param::Float(v) => query.bind(*v),
                };
            }
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Queues `events`: a delivery for every enabled webhook that wants each, and the
/// notifications they carry.
pub(crate) async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    events: &[Outgoing],
    now_micros: i64,
) -> Result<(), SqlError> {
    if events.is_empty() {
        return Ok(());
    }
    let hooks = enabled_webhooks(tx).await?;
    enqueue_to(tx, &hooks, events, now_micros).await
}

/// The enabled webhooks and the events each wants.
pub(crate) async fn enabled_webhooks(
    tx: &mut sqlx::AnyConnection,
) -> Result<Vec<(String, Vec<EventKind>)>, SqlError> {
    sqlx::query("SELECT webhook_id, events FROM webhooks WHERE enabled = 1")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            let kinds: String = row.try_get(1)?;
            Ok((id, kinds_of(&kinds)?))
        })
        .collect()
}

/// [`enqueue`] with the webhooks already read.
pub(crate) async fn enqueue_to(
    tx: &mut sqlx::AnyConnection,
    hooks: &[(String, Vec<EventKind>)],
    events: &[Outgoing],
    now_micros: i64,
) -> Result<(), SqlError> {
    let mut deliveries = Vec::new();
    let mut notifications = Vec::new();
    for event in events {
        let wanted: Vec<&String> = hooks
            .iter()
            .filter(|(_, kinds)| kinds.contains(&event.kind))
            .map(|(id, _)| id)
            .collect();
        if !wanted.is_empty() {
            let payload = serde_json::json!({
                "event": event.kind.as_str(),
                "event_key": event.key,
                "occurred_at": event.at,
                "actor": event.actor,
                "case": event.case,
            })
            .to_string();
            for id in wanted {
                deliveries.push(vec![
                    Param::Text(Some(id.clone())),
                    Param::Text(Some(event.key.clone())),
                    Param::Text(Some(event.kind.as_str().to_owned())),
                    Param::Int(Some(event.case.case_id)),
                    Param::Text(Some(payload.clone())),
                    Param::Text(Some("pending".to_owned())),
                    Param::Int(Some(0)),
                    Param::Text(Some(event.at.clone())),
                    Param::Int(Some(now_micros)),
                ]);
            }
        }
        if let Some((person, message)) = &event.notify {
            notifications.push(vec![
                Param::Text(Some(person.clone())),
                Param::Text(Some(event.kind.as_str().to_owned())),
                Param::Int(Some(event.case.case_id)),
                Param::Text(Some(message.clone())),
                Param::Text(Some(event.at.clone())),
            ]);
        }
    }
    // a repeated event (same webhook and key) is queued once
    insert_rows(
        tx,
        "INSERT INTO webhook_deliveries (webhook_id, event_key, event, case_id, payload, \
         status, attempts, created_at, next_attempt_micros) VALUES",
        "ON CONFLICT (webhook_id, event_key) DO NOTHING",
        9,
        deliveries,
    )
    .await?;
    insert_rows(
        tx,
        "INSERT INTO notifications (person_id, event, case_id, message, created_at) VALUES",
        "",
        5,
        notifications,
    )
    .await
}

fn kinds_of(list: &str) -> Result<Vec<EventKind>, SqlError> {
    list.split(',')
        .filter(|k| !k.is_empty())
        .map(|k| {
            EventKind::parse("events", k)
                .map_err(|_| SqlError::Corrupt(format!("webhooks.events {list:?}")))
        })
        .collect()
}

fn join_kinds(kinds: &[EventKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

const DELIVERY_COLUMNS: &str = "delivery_id, webhook_id, event_key, event, case_id, status, \
    attempts, created_at, last_attempt_at, last_error, delivered_at";

fn delivery_of(row: &sqlx::any::AnyRow) -> Result<Delivery, SqlError> {
    Ok(Delivery {
        delivery_id: row.try_get(0)?,
        webhook_id: row.try_get(1)?,
        event_key: row.try_get(2)?,
        event: row.try_get(3)?,
        case_id: row.try_get(4)?,
        status: row.try_get(5)?,
        attempts: row.try_get(6)?,
        created_at: row.try_get(7)?,
        last_attempt_at: row.try_get(8)?,
        last_error: row.try_get(9)?,
        delivered_at: row.try_get(10)?,
    })
}

#[async_trait]
impl NotifyStore for SqlStore {
    async fn set_webhook(
        &self,
        webhook: &Webhook,
        secret: Option<&str>,
        actor: &str,
        at: &str,
    ) -> Result<(), SqlError> {
        let events = join_kinds(&webhook.events);
        let enabled = i64::from(webhook.enabled);
        if let Some(secret) = secret {
            sqlx::query(
                "INSERT INTO webhooks (webhook_id, url, events, secret, enabled, updated_at, \
                 updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (webhook_id) DO \
                 UPDATE SET url = excluded.url, events = excluded.events, \
                 secret = excluded.secret, enabled = excluded.enabled, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(webhook.webhook_id.clone())
            .bind(webhook.url.clone())
            .bind(events)
            .bind(secret.to_owned())
            .bind(enabled)
            .bind(at.to_owned())
            .bind(actor.to_owned())
            .execute(self.pool())
            .await?;
            return Ok(());
        }
        let updated = sqlx::query(
            "UPDATE webhooks SET url = $1, events = $2, enabled = $3, updated_at = $4, \
             updated_by = $5 WHERE webhook_id = $6",
        )
        .bind(webhook.url.clone())
        .bind(events)
        .bind(enabled)
        .bind(at.to_owned())
        .bind(actor.to_owned())
        .bind(webhook.webhook_id.clone())
        .execute(self.pool())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(SqlError::Refused(format!(
                "webhook {} is new: give it a secret",
                webhook.webhook_id
            )));
        }
        Ok(())
    }

    async fn webhooks(&self) -> Result<Vec<StoredWebhook>, SqlError> {
        let rows = sqlx::query(
            "SELECT w.webhook_id, w.url, w.events, w.enabled, w.updated_at, w.updated_by, \
             COALESCE(SUM(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN d.status = 'delivered' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END), 0) \
             FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.webhook_id \
             GROUP BY w.webhook_id, w.url, w.events, w.enabled, w.updated_at, w.updated_by \
             ORDER BY w.webhook_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let events: String = row.try_get(2)?;
                let count = |i: usize| -> Result<u64, SqlError> {
                    Ok(row.try_get::<i64, _>(i)?.max(0) as u64)
                };
                Ok(StoredWebhook {
                    webhook: Webhook {
                        webhook_id: row.try_get(0)?,
                        url: row.try_get(1)?,
                        events: kinds_of(&events)?,
                        enabled: row.try_get::<i64, _>(3)? != 0,
                    },
                    updated_at: row.try_get(4)?,
                    updated_by: row.try_get(5)?,
                    pending: count(6)?,
                    delivered: count(7)?,
                    failed: count(8)?,
                })
            })
            .collect()
    }

    async fn remove_webhook(&self, webhook_id: &str) -> Result<bool, SqlError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(webhook_id.to_owned())
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM webhooks WHERE webhook_id = $1")
            .bind(webhook_id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed.rows_affected() > 0)
    }

    async fn claim_deliveries(
        &self,
        now_micros: i64,
        lease_until_micros: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, SqlError> {
        let due = sqlx::query(&format!(
            "SELECT d.delivery_id, d.next_attempt_micros FROM webhook_deliveries d \
             JOIN webhooks w ON w.webhook_id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_micros <= $1 AND w.enabled = 1 \
             ORDER BY d.next_attempt_micros, d.delivery_id LIMIT {}",
            limit.max(1)
        ))
        .bind(now_micros)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for row in &due {
            let id: i64 = row.try_get(0)?;
            let seen: i64 = row.try_get(1)?;
            // Only one sender moves the due time it read: the others find it changed.
            let taken = sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_micros = $1 \
                 WHERE delivery_id = $2 AND status = 'pending' AND next_attempt_micros = $3",
            )
            .bind(lease_until_micros)
            .bind(id)
            .bind(seen)
            .execute(self.pool())
            .await?;
            if taken.rows_affected() != 1 {
                continue;
            }
            let row = sqlx::query(
                "SELECT d.delivery_id, d.webhook_id, w.url, w.secret, d.event_key, d.event, \
                 d.payload, d.attempts FROM webhook_deliveries d \
                 JOIN webhooks w ON w.webhook_id = d.webhook_id WHERE d.delivery_id = $1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
            let Some(row) = row else { continue };
            claimed.push(DueDelivery {
                delivery_id: row.try_get(0)?,
                webhook_id: row.try_get(1)?,
                url: row.try_get(2)?,
                secret: row.try_get(3)?,
                event_key: row.try_get(4)?,
                event: row.try_get(5)?,
                payload: row.try_get(6)?,
                attempts: row.try_get(7)?,
                lease_micros: lease_until_micros,
            });
        }
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        delivery_id: i64,
        lease_micros: i64,
        at: &str,
        outcome: &AttemptOutcome,
    ) -> Result<bool, SqlError> {
        let (status, error, next, delivered_at) = match outcome {
            AttemptOutcome::Delivered => ("delivered", None, None, Some(at.to_owned())),
            AttemptOutcome::Retry {
                error,
                next_attempt_micros,
            } => (
                "pending",
                Some(error.clone()),
                Some(*next_attempt_micros),
                None,
            ),
            AttemptOutcome::GiveUp { error } => ("failed", Some(error.clone()), None, None),
        };
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             last_attempt_at = $2, last_error = $3, \
             next_attempt_micros = COALESCE($4, next_attempt_micros), delivered_at = $5 \
             WHERE delivery_id = $6 AND status = 'pending' AND next_attempt_micros = $7",
        )
        .bind(status)
        .bind(at.to_owned())
        .bind(error)
        .bind(next)
        .bind(delivered_at)
        .bind(delivery_id)
        .bind(lease_micros)
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn deliveries(&self, webhook_id: &str, limit: u32) -> Result<Vec<Delivery>, SqlError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY delivery_id DESC LIMIT {}",
            limit.max(1)
        ))
        .bind(webhook_id.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_of).collect()
    }

    async fn notifications(
        &self,
        person_id: &str,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notification>, SqlError> {
        let unread = if unread_only {
            " AND read_at IS NULL"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT notification_id, person_id, event, case_id, message, created_at, read_at \
             FROM notifications WHERE person_id = $1{unread} \
             ORDER BY notification_id DESC LIMIT {}",
            limit.max(1)
        ))
        .bind(person_id.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Notification {
                    notification_id: row.try_get(0)?,
                    person_id: row.try_get(1)?,
                    event: row.try_get(2)?,
                    case_id: row.try_get(3)?,
                    message: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                    read_at: row.try_get(6)?,
                })
            })
            .collect()
    }

    async fn unread_count(&self, person_id: &str) -> Result<u64, SqlError> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM notifications WHERE person_id = $1 AND read_at IS NULL",
        )
        .bind(person_id.to_owned())
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        Ok(count.max(0) as u64)
    }

    async fn mark_read(
        &self,
        person_id: &str,
        ids: Option<&[i64]>,
        at: &str,
    ) -> Result<u64, SqlError> {
        let mut sql = "UPDATE notifications SET read_at = $1 WHERE person_id = $2 \
                       AND read_at IS NULL"
            .to_owned();
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(0);
            }
            let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
            sql.push_str(&format!(" AND notification_id IN ({})", list.join(", ")));
        }
        let mut query = sqlx::query(&sql)
            .bind(at.to_owned())
            .bind(person_id.to_owned());
        for id in ids.unwrap_or_default() {
            query = query.bind(*id);
        }
        Ok(query.execute(self.pool()).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;
    use crate::Backend;

    #[test]
    fn placeholders_number_rows_then_columns() {
        let postgres = Backend::Postgres;
        assert_eq!(
            placeholders(postgres, 2, 3, 1),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(placeholders(postgres, 1, 2, 5), "($5, $6)");
        assert_eq!(placeholders(Backend::Sqlite, 2, 2, 1), "(?, ?), (?, ?)");
    }
}
