-- An evaluation after an ingest reads only the cases triggered within the longest
-- cooldown before the ingest's earliest record: by trigger time.
CREATE INDEX cases_triggered ON cases (triggered_micros);
