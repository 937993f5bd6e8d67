-- The latest lifetime values of customers (CLV), for rules about the most valuable ones:
-- one snapshot, replaced whole. `rank` 1 is the most valuable (ties by customer id).
CREATE TABLE customer_values (
    customer_id TEXT PRIMARY KEY,
    value REAL NOT NULL,
    probability_alive REAL NOT NULL,
    rank INTEGER NOT NULL
);
CREATE INDEX customer_values_rank ON customer_values (rank);

-- When the snapshot was computed and from purchases up to which day.
CREATE TABLE customer_value_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    computed_at TEXT NOT NULL,
    computed_micros BIGINT NOT NULL,
    end_date TEXT NOT NULL,
    customers BIGINT NOT NULL
);
