-- Reference data: customers, the org tree, people, memberships, topics.
-- Timestamps are RFC 3339 text in UTC with microseconds (they sort as text).
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    segment TEXT,
    region TEXT,
    joined_at TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    row_hash INTEGER NOT NULL
);

CREATE TABLE org_units (
    unit_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id TEXT,
    level TEXT NOT NULL,
    row_hash INTEGER NOT NULL
);
CREATE INDEX org_units_parent ON org_units (parent_id);

CREATE TABLE people (
    person_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    row_hash INTEGER NOT NULL
);

CREATE TABLE memberships (
    membership_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    row_hash INTEGER NOT NULL
);
CREATE INDEX memberships_person ON memberships (person_id, valid_from);
CREATE INDEX memberships_unit ON memberships (unit_id);

CREATE TABLE topics (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    keywords TEXT NOT NULL DEFAULT '[]',
    row_hash INTEGER NOT NULL
);
