-- Sign-in: local users (role and scope), browser sessions, API tokens, the audit log.
-- Secrets are stored as hashes only. Timestamps are RFC 3339 text in UTC.
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('agent', 'lead', 'manager', 'executive', 'analyst', 'admin')),
    person_id TEXT,
    unit_id TEXT,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    password_hash TEXT NOT NULL
);

CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('ingest', 'read')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    secret_hash TEXT NOT NULL
);

CREATE TABLE audit_log (
    entry_id BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
