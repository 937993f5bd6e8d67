-- The inbox lists active cases (open, in progress) most urgent first: indexes over active
-- cases alone, in due order, let it read the first hundred and count them without sorting
-- every case. Queries must name the statuses as `status IN ('open', 'in_progress')`.
CREATE INDEX cases_active_due ON cases (due_at, case_id)
    WHERE status IN ('open', 'in_progress');
CREATE INDEX cases_owner_active_due ON cases (owner_id, due_at, case_id)
    WHERE status IN ('open', 'in_progress');
