-- Automations: a draft, and the versions publishing froze. Runs use the
-- published version; every run records the version it ran.
CREATE TABLE automations (
    project text NOT NULL,
    id text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    draft jsonb NOT NULL,
    published_version integer NOT NULL DEFAULT 0,
    etag text NOT NULL,
    request_id uuid,
    request_hash bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, id),
    UNIQUE (project, request_id)
);

CREATE TABLE automation_versions (
    project text NOT NULL,
    automation text NOT NULL,
    version integer NOT NULL,
    spec jsonb NOT NULL,
    -- What the trigger listens to, for matching deliveries by index.
    trigger_connection text,
    trigger_type text,
    -- Who published it, and the role runs act with.
    published_by text NOT NULL,
    published_role text NOT NULL,
    publish_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, automation, version),
    FOREIGN KEY (project, automation) REFERENCES automations (project, id) ON DELETE CASCADE
);
-- The versions deliveries are matched against: each automation's current one.
CREATE INDEX automation_versions_trigger_connection
    ON automation_versions (project, trigger_connection) WHERE trigger_connection IS NOT NULL;
CREATE INDEX automation_versions_trigger_type
    ON automation_versions (project, trigger_type) WHERE trigger_type IS NOT NULL;

-- Runs: one per (automation, version, delivery) for delivery-started runs,
-- so a delivery posted again or redriven starts nothing more.
CREATE TABLE automation_runs (
    project text NOT NULL,
    automation text NOT NULL,
    id text NOT NULL,
    version integer NOT NULL,
    -- 'delivery', 'manual' or 'replay'.
    trigger text NOT NULL CHECK (trigger IN ('delivery', 'manual', 'replay')),
    delivery_id text,
    event jsonb NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'running', 'waiting', 'succeeded',
        'failed', 'cancelled', 'skipped', 'held', 'buffered')),
    reason text NOT NULL DEFAULT '',
    -- The step to run next (or being waited on), and each step's record.
    step integer NOT NULL DEFAULT 0,
    steps jsonb NOT NULL DEFAULT '[]',
    log jsonb NOT NULL DEFAULT '[]',
    depth integer NOT NULL DEFAULT 0,
    cause_chain text[] NOT NULL DEFAULT '{}',
    replay_of text,
    request_id uuid,
    request_hash bytea,
    -- When a pending, waiting or held run is next looked at.
    next_at timestamptz NOT NULL DEFAULT now(),
    -- When it was let through the automation's rate limit (runs per minute
    -- count these).
    admit_time timestamptz,
    -- The action a waiting run waits for (its id in the project).
    awaiting_action text,
    lease_owner uuid,
    lease_expires_at timestamptz,
    create_time timestamptz NOT NULL DEFAULT clock_timestamp(),
    start_time timestamptz,
    end_time timestamptz,
    PRIMARY KEY (project, automation, id),
    UNIQUE (project, automation, version, delivery_id),
    UNIQUE (project, automation, request_id),
    FOREIGN KEY (project, automation) REFERENCES automations (project, id) ON DELETE CASCADE
);
CREATE INDEX automation_runs_due ON automation_runs (next_at)
    WHERE state IN ('pending', 'waiting', 'held');
CREATE INDEX automation_runs_listing ON automation_runs (project, automation, create_time DESC, id DESC);
CREATE INDEX automation_runs_active ON automation_runs (project, automation)
    WHERE state IN ('pending', 'running', 'waiting', 'buffered', 'held');
CREATE INDEX automation_runs_admitted ON automation_runs (project, automation, admit_time)
    WHERE admit_time IS NOT NULL;
CREATE INDEX automation_runs_awaiting ON automation_runs (project, awaiting_action)
    WHERE state = 'waiting';

-- An action a run started carries the runs that led to it, oldest first.
ALTER TABLE actions ADD COLUMN cause_chain text[] NOT NULL DEFAULT '{}';
