-- Every running server registers itself here. Leases (probes, actions) name
-- their holder by replica id, and Diagnostics reads who is alive.
CREATE TABLE replicas (
    id           uuid PRIMARY KEY,
    hostname     text        NOT NULL,
    version      text        NOT NULL,
    grpc_addr    text        NOT NULL,
    http_addr    text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX replicas_heartbeat_at ON replicas (heartbeat_at);
