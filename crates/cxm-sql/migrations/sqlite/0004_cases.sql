-- The inner loop: alert rules (editable by analysts) and the follow-up cases they open,
-- with each case's timeline. Timestamps are RFC 3339 text in UTC.
CREATE TABLE alert_rules (
    rule_id TEXT PRIMARY KEY,
    -- the rule as JSON (condition, priority, SLA, cooldown)
    definition TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE cases (
    case_id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    -- the survey answer or contact that fired the rule, and when it happened
    trigger_id TEXT NOT NULL,
    triggered_at TEXT NOT NULL,
    triggered_micros INTEGER NOT NULL,
    summary TEXT NOT NULL,
    agent_id TEXT,
    unit_id TEXT,
    -- person id of the owner (by default the lead of the agent's team)
    owner_id TEXT,
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    first_action_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    -- a topic code from the taxonomy
    root_cause TEXT,
    customer_reached INTEGER,
    issue_fixed INTEGER,
    -- raised by every change; an update names the version it read
    version INTEGER NOT NULL,
    UNIQUE (rule_id, trigger_id)
);
CREATE INDEX cases_rule_customer ON cases (rule_id, customer_id);
CREATE INDEX cases_owner_status ON cases (owner_id, status);
CREATE INDEX cases_unit_status ON cases (unit_id, status);
CREATE INDEX cases_status_due ON cases (status, due_at);

CREATE TABLE case_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases (case_id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    -- opened | status | note | assigned | root_cause | outcome
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX case_events_case ON case_events (case_id, event_id);
