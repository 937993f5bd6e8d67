-- Targets: a value per metric, scope (an org unit or a person) and period. The period is a
-- label (2025, 2025-Q1, 2025-03, 2025-W10, 2025-03-04) or '*' for every period; the most
-- specific target that covers a period applies.
CREATE TABLE targets (
    metric TEXT NOT NULL,
    scope_kind TEXT NOT NULL CHECK (scope_kind IN ('unit', 'person')),
    scope_id TEXT NOT NULL,
    period TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (metric, scope_kind, scope_id, period)
);
