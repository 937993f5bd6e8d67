-- Every page of the case inbox says how many cases match. Each process keeps the counts it
-- made and reuses them while the cases' generation stands: every transaction that opens
-- cases, or changes a case's status or owner (the columns a count filters on besides the
-- fixed ones), raises it last, just before it commits.
CREATE TABLE change_generations (
    name TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO change_generations (name, generation) VALUES ('cases', 0);
-- An evaluation reads earlier cases per rule and customer (cases_rule_customer); nothing
-- reads cases by trigger time alone any more, and each case written paid for this index.
DROP INDEX cases_triggered;
