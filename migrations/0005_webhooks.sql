-- Webhook deliveries: accepted by the bridge (committed before the 2xx),
-- processed asynchronously, deduplicated per connection on the provider's
-- delivery id (or a hash of signature and body for schemes without one).

CREATE TABLE webhook_deliveries (
    -- Ours: the last segment of projects/p/connections/c/deliveries/{id}.
    id              text PRIMARY KEY,
    project         text NOT NULL,
    connection_id   text NOT NULL,
    dedupe_key      text NOT NULL,
    event_type      text NOT NULL DEFAULT '',
    body            bytea NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'processed', 'retrying', 'dead_letter')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    receive_time    timestamptz NOT NULL DEFAULT now(),
    process_time    timestamptz,
    UNIQUE (project, connection_id, dedupe_key)
);

-- The processing queue: only rows still to process are indexed.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state IN ('pending', 'retrying');

ALTER TABLE connections ADD COLUMN last_webhook_time timestamptz;
