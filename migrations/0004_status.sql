-- Status: the latest probe result per connection (shared by every replica),
-- and the event log that watch streams replay and follow.

CREATE TABLE connection_status (
    project              text NOT NULL,
    id                   text NOT NULL,
    -- The item as GetProjectStatus serves it (JSON of status::model::ItemStatus).
    item                 jsonb NOT NULL,
    -- The last successful probe's item: the stale fallback.
    last_good            jsonb,
    consecutive_failures integer NOT NULL DEFAULT 0,
    circuit              text NOT NULL DEFAULT 'closed'
        CHECK (circuit IN ('closed', 'open', 'half_open')),
    circuit_opened_at    timestamptz,
    next_probe_at        timestamptz NOT NULL DEFAULT now(),
    -- The replica probing it now; two replicas never probe one connection.
    lease_owner          uuid,
    lease_expires_at     timestamptz,
    PRIMARY KEY (project, id),
    FOREIGN KEY (project, id) REFERENCES connections (project, id) ON DELETE CASCADE
);

CREATE INDEX connection_status_due ON connection_status (next_probe_at);

-- Writers take pg_advisory_xact_lock(7301) before inserting, so seq order is
-- commit order and a reader that saw seq N has seen every event below it.
CREATE TABLE status_events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project     text NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX status_events_project ON status_events (project, seq);
CREATE INDEX status_events_created ON status_events (created_at);

-- Sanity serves each project on its own host.
UPDATE integration_types
SET spec = jsonb_set(spec, '{api_base_uri}', '"https://{project_id}.api.sanity.io"')
WHERE id = 'sanity' AND spec ->> 'api_base_uri' = 'https://api.sanity.io';

-- GitHub revokes with DELETE /applications/{client_id}/token and a JSON
-- body, which the generic revoker (token in the URI: DELETE; otherwise an
-- RFC 7009 form POST) does not speak; leave it to the reconnect flow.
UPDATE integration_types
SET spec = jsonb_set(spec, '{oauth,revoke_uri}', '""')
WHERE id = 'github' AND spec #>> '{oauth,revoke_uri}' = 'https://api.github.com/applications/{client_id}/token';
