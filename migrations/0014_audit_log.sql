-- The audit log: one entry per change, written in the change's transaction.
-- Each project's entries form a hash chain (each entry's hash covers the one
-- before), so a changed or deleted row shows; platform-wide changes (types,
-- key rotation) chain under the project ''.
CREATE TABLE audit_chains (
    project text PRIMARY KEY,
    -- The last entry's seq and hash: the next entry links to them. Locked
    -- by each append, so one project's entries are written one at a time.
    last_seq bigint NOT NULL DEFAULT 0,
    last_hash bytea NOT NULL,
    -- Where verification starts once cleanup purged the oldest entries: the
    -- hash of the last purged one (the chain's genesis hash before any purge).
    anchor_seq bigint NOT NULL DEFAULT 0,
    anchor_hash bytea NOT NULL
);

CREATE TABLE audit_events (
    project text NOT NULL,
    -- 1, 2, 3, ... within the project: a gap is a deleted entry.
    seq bigint NOT NULL,
    id uuid NOT NULL UNIQUE,
    time timestamptz NOT NULL,
    actor text NOT NULL,
    -- The RPC, e.g. `IntegrationRegistry.CreateConnection`.
    method text NOT NULL,
    resource text NOT NULL,
    request_id uuid,
    peer text NOT NULL,
    user_agent text NOT NULL,
    outcome text NOT NULL,
    -- [{"field": ..., "before": ..., "after": ...}]; secrets only as
    -- fingerprints.
    changes jsonb NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (project, seq)
);

CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_actor ON audit_events (project, actor, seq);

-- Append-only: entries are never updated, and deleted only by cleanup,
-- which says so for its transaction (`SET LOCAL patchbay.audit_purge = 'on'`).
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('patchbay.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
