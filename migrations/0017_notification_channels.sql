-- Where alerts go: a signed webhook endpoint or email recipients. A webhook
-- channel's signing secret is sealed like a connection's (see crypto.rs).
CREATE TABLE notification_channels (
    project text NOT NULL,
    id text NOT NULL,
    display_name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('webhook', 'email')),
    uri text,
    recipients text[] NOT NULL DEFAULT '{}',
    signing_secret bytea,
    signing_secret_key_id text,
    signing_secret_fingerprint text,
    etag text NOT NULL,
    request_id uuid,
    request_hash bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, id),
    UNIQUE (project, request_id),
    CHECK ((kind = 'webhook') = (uri IS NOT NULL AND signing_secret IS NOT NULL))
);
