-- Front-line ideas (triaged, voted on, commented, decided by management) and the
-- initiatives approved ideas become. Timestamps are RFC 3339 text in UTC.
CREATE TABLE ideas (
    idea_id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    problem TEXT NOT NULL,
    proposal TEXT NOT NULL,
    -- comma-separated topic codes and metric names
    topics TEXT NOT NULL,
    metrics TEXT NOT NULL,
    -- person id of the author, and their unit when they submitted it (the idea's scope)
    author_id TEXT NOT NULL,
    unit_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('new', 'under_review', 'proposed', 'approved',
        'declined', 'in_progress', 'done')),
    -- the triage estimate, 1..=5 each (the score, impact × reach ÷ effort, is computed)
    impact INTEGER,
    reach INTEGER,
    effort INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX ideas_unit_status ON ideas (unit_id, status);

CREATE TABLE idea_votes (
    idea_id INTEGER NOT NULL REFERENCES ideas (idea_id) ON DELETE CASCADE,
    person_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (idea_id, person_id)
);

CREATE TABLE idea_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    idea_id INTEGER NOT NULL REFERENCES ideas (idea_id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    -- submitted | status | comment | priority
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idea_events_idea ON idea_events (idea_id, event_id);

CREATE TABLE initiatives (
    initiative_id INTEGER PRIMARY KEY AUTOINCREMENT,
    idea_id INTEGER NOT NULL UNIQUE REFERENCES ideas (idea_id),
    name TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    -- comma-separated unit ids: where it is carried out (with their subtrees)
    scope TEXT NOT NULL,
    target_metric TEXT NOT NULL,
    -- YYYY-MM-DD
    start_date TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
