-- Telling people what happened to cases: webhook subscriptions with an outbox of
-- deliveries (written in the same transaction as the case change, so none is lost), and
-- each person's in-app inbox. Timestamps are RFC 3339 text in UTC; `*_micros` columns hold
-- the same instant as microseconds since the epoch, for comparisons.
CREATE TABLE webhooks (
    webhook_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    -- comma-separated event kinds (case.opened, case.updated)
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    delivery_id BIGSERIAL PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    -- the idempotency key: the same on every attempt, unique per event
    event_key TEXT NOT NULL,
    event TEXT NOT NULL,
    case_id BIGINT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    next_attempt_micros BIGINT NOT NULL,
    last_attempt_at TEXT,
    last_error TEXT,
    delivered_at TEXT,
    UNIQUE (webhook_id, event_key)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_micros);

CREATE TABLE notifications (
    notification_id BIGSERIAL PRIMARY KEY,
    -- the person told (a person id)
    person_id TEXT NOT NULL,
    event TEXT NOT NULL,
    case_id BIGINT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT
);
CREATE INDEX notifications_person ON notifications (person_id, read_at, notification_id);
