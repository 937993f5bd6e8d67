-- Recognition: kudos between colleagues and from customers (a praising survey comment
-- accepted by a lead), and the library of success stories. Timestamps are RFC 3339 text
-- in UTC.
CREATE TABLE kudos (
    kudos_id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- person ids; from_person is empty for a customer's kudos
    to_person TEXT NOT NULL,
    from_person TEXT,
    source TEXT NOT NULL CHECK (source IN ('colleague', 'customer')),
    message TEXT NOT NULL,
    -- the recipient's unit when given (who sees it follows from it)
    unit_id TEXT,
    -- for a customer's kudos: the survey answer that praised; one kudos per answer
    response_id TEXT UNIQUE,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX kudos_unit ON kudos (unit_id, kudos_id);
CREATE INDEX kudos_person ON kudos (to_person, kudos_id);

CREATE TABLE stories (
    story_id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    narrative TEXT NOT NULL,
    unit_id TEXT,
    -- comma-separated person ids, and the evidence as JSON
    people TEXT NOT NULL,
    evidence TEXT NOT NULL,
    author TEXT NOT NULL,
    published INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX stories_unit ON stories (unit_id, story_id);
