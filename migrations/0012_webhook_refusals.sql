-- Refused webhook requests per connection, reason and hour. The bridge
-- counts in memory and adds its counts here every few seconds, so a flood
-- of forged requests costs one upsert per connection and reason, not one
-- write per request.
CREATE TABLE webhook_refusals (
    project       text NOT NULL,
    connection_id text NOT NULL,
    reason        text NOT NULL,
    hour          timestamptz NOT NULL,
    count         bigint NOT NULL,
    last_time     timestamptz NOT NULL,
    PRIMARY KEY (project, connection_id, reason, hour),
    FOREIGN KEY (project, connection_id) REFERENCES connections (project, id) ON DELETE CASCADE
);
