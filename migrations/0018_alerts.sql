-- Health history: one row per probe or action outcome, the evidence the
-- alert rules' windows read. Retention cleanup purges rows older than
-- --history-retention (30 days).
CREATE TABLE health_samples (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project text NOT NULL,
    connection text NOT NULL,
    time timestamptz NOT NULL DEFAULT clock_timestamp(),
    source text NOT NULL CHECK (source IN ('probe', 'action')),
    ok boolean NOT NULL,
    -- The problem code of a failure, or of a warning short of one.
    reason text,
    -- What the provider reported left of its rate limit, when it did.
    rate_limit_remaining bigint
);
CREATE INDEX health_samples_by_connection ON health_samples (project, connection, time DESC, id DESC);
CREATE INDEX health_samples_by_time ON health_samples (time);

-- Alerts: a rule's condition holding for a connection. At most one alert
-- per (rule, connection) fires at a time (the dedupe key); it resolves
-- after its rule's healthy observations or quiet period.
CREATE TABLE alerts (
    project text NOT NULL,
    id text NOT NULL,
    rule_id text NOT NULL,
    connection text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    state text NOT NULL CHECK (state IN ('firing', 'resolved')),
    summary text NOT NULL,
    fire_time timestamptz NOT NULL DEFAULT now(),
    resolve_time timestamptz,
    resolve_reason text,
    -- The last observation the condition held on, and the healthy ones
    -- seen in a row since.
    last_held_at timestamptz NOT NULL DEFAULT now(),
    healthy_streak integer NOT NULL DEFAULT 0,
    observations bigint NOT NULL DEFAULT 1,
    acknowledge_time timestamptz,
    acknowledged_by text,
    etag text NOT NULL,
    PRIMARY KEY (project, id),
    CHECK ((state = 'resolved') = (resolve_time IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_dedupe ON alerts (project, rule_id, connection) WHERE state = 'firing';
CREATE INDEX alerts_by_fire_time ON alerts (project, fire_time DESC, id DESC);
CREATE INDEX alerts_resolved ON alerts (resolve_time) WHERE state = 'resolved';

-- The outbox of alert notifications: one row per (alert change, channel),
-- written in the transaction that fired or resolved the alert, delivered
-- by any replica under a lease, retried with backoff, dead-lettered after
-- the last attempt.
CREATE TABLE alert_notifications (
    project text NOT NULL,
    id text NOT NULL,
    channel text NOT NULL,
    alert text,
    event_type text NOT NULL CHECK (event_type IN ('alert.fired', 'alert.resolved', 'alert.test')),
    payload jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead_letter')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner uuid,
    lease_expires_at timestamptz,
    last_error text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    deliver_time timestamptz,
    PRIMARY KEY (project, id),
    FOREIGN KEY (project, channel) REFERENCES notification_channels (project, id) ON DELETE CASCADE
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_notifications_by_channel ON alert_notifications (project, channel, create_time DESC, id DESC);

-- Every try of a notification, kept with it.
CREATE TABLE notification_attempts (
    project text NOT NULL,
    notification text NOT NULL,
    attempt integer NOT NULL,
    time timestamptz NOT NULL DEFAULT now(),
    ok boolean NOT NULL,
    -- The receiver's HTTP status or the SMTP reply code, when one came.
    status_code integer,
    error text NOT NULL DEFAULT '',
    duration_ms integer NOT NULL,
    PRIMARY KEY (project, notification, attempt),
    FOREIGN KEY (project, notification) REFERENCES alert_notifications (project, id) ON DELETE CASCADE
);

-- Dead-letter rules count a connection's dead letters when they change.
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (project, connection_id)
    WHERE state = 'dead_letter';
