-- Actions: the queue is the table. Workers claim rows with
-- FOR UPDATE SKIP LOCKED under a lease they keep alive; an expired lease
-- lets any replica resume the action.

CREATE TABLE actions (
    project          text NOT NULL,
    id               text NOT NULL,
    connection_id    text NOT NULL,
    action           text NOT NULL,
    state            text NOT NULL
        CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    params           jsonb NOT NULL DEFAULT '{}',
    result           jsonb,
    -- google.rpc.Status, protobuf-encoded.
    error            bytea,
    progress_percent integer NOT NULL DEFAULT 0,
    progress_message text NOT NULL DEFAULT '',
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL,
    requested_by     text NOT NULL,
    request_id       uuid NOT NULL,
    request_hash     bytea NOT NULL,
    cancel_requested boolean NOT NULL DEFAULT false,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      uuid,
    lease_expires_at timestamptz,
    create_time      timestamptz NOT NULL DEFAULT now(),
    start_time       timestamptz,
    update_time      timestamptz NOT NULL DEFAULT now(),
    end_time         timestamptz,
    PRIMARY KEY (project, id),
    UNIQUE (project, request_id),
    FOREIGN KEY (project, connection_id) REFERENCES connections (project, id) ON DELETE CASCADE
);

CREATE INDEX actions_due ON actions (next_attempt_at) WHERE state IN ('pending', 'running');
CREATE INDEX actions_listing ON actions (project, create_time DESC, id DESC);
-- The rate limit counts a caller's recent starts.
CREATE INDEX actions_recent ON actions (project, requested_by, create_time);

-- What sync pulls: one row per provider record, mapped through the
-- project's default template for its entity when there is one.
CREATE TABLE records (
    project       text NOT NULL,
    connection_id text NOT NULL,
    entity        text NOT NULL,
    external_id   text NOT NULL,
    data          jsonb NOT NULL,
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, connection_id, entity, external_id),
    FOREIGN KEY (project, connection_id) REFERENCES connections (project, id) ON DELETE CASCADE
);
