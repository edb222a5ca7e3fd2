-- Periodic jobs that must run on exactly one replica at a time (retention
-- cleanup): a replica claims a due job under a lease it renews, and hands
-- it back with the time of its next run. A replica that dies mid-run lets
-- the lease expire, and another takes the job over.
CREATE TABLE maintenance_jobs (
    name text PRIMARY KEY,
    next_run_at timestamptz NOT NULL DEFAULT now(),
    lease_owner uuid,
    lease_expires_at timestamptz,
    -- Completed runs, and what the last one did.
    runs bigint NOT NULL DEFAULT 0,
    last_run_at timestamptz,
    last_result jsonb
);

INSERT INTO maintenance_jobs (name) VALUES ('retention');
