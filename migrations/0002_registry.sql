-- The registry: catalog types, each project's connections with their sealed
-- secrets, and mapping templates. Projects belong to the host product, so
-- there is no projects table: every row starts with its project.

CREATE TABLE integration_types (
    id              text PRIMARY KEY,
    display_name    text NOT NULL,
    category        text NOT NULL,
    description     text NOT NULL DEFAULT '',
    capabilities    text[] NOT NULL DEFAULT '{}',
    popular         boolean NOT NULL DEFAULT false,
    active          boolean NOT NULL DEFAULT true,
    builtin         boolean NOT NULL DEFAULT false,
    -- config_fields, actions, signature, probe, URLs: read as a whole.
    spec            jsonb NOT NULL,
    etag            text NOT NULL,
    request_id      uuid UNIQUE,
    request_hash    bytea,
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE connections (
    project                 text NOT NULL,
    id                      text NOT NULL,
    type_id                 text NOT NULL REFERENCES integration_types (id),
    display_name            text NOT NULL DEFAULT '',
    settings                jsonb NOT NULL DEFAULT '{}',
    state                   text NOT NULL
        CHECK (state IN ('pending', 'active', 'disabled', 'revoked')),
    -- AES-256-GCM, sealed under credentials_key_id; never returned.
    credentials             bytea,
    credentials_key_id      text,
    credentials_fingerprint text,
    credentials_expire_time timestamptz,
    webhook_key             text NOT NULL UNIQUE,
    webhook_secret          bytea NOT NULL,
    webhook_secret_key_id   text NOT NULL,
    webhook_secret_fingerprint text NOT NULL,
    -- The secret before the last rotation, valid until its expiry.
    previous_webhook_secret        bytea,
    previous_webhook_secret_key_id text,
    previous_webhook_secret_expire_time timestamptz,
    etag                    text NOT NULL,
    request_id              uuid,
    request_hash            bytea,
    create_time             timestamptz NOT NULL DEFAULT now(),
    update_time             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, id),
    UNIQUE (project, request_id),
    CHECK ((credentials IS NULL) = (credentials_key_id IS NULL))
);

CREATE INDEX connections_type ON connections (type_id, state);

CREATE TABLE mapping_templates (
    project             text NOT NULL,
    id                  text NOT NULL,
    display_name        text NOT NULL DEFAULT '',
    type_id             text NOT NULL REFERENCES integration_types (id),
    entity_type         text NOT NULL,
    fields              jsonb NOT NULL,
    default_for_entity  boolean NOT NULL DEFAULT false,
    etag                text NOT NULL,
    request_id          uuid,
    request_hash        bytea,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, id),
    UNIQUE (project, request_id)
);

-- Sync picks "the" template for an entity: at most one default per entity.
CREATE UNIQUE INDEX mapping_templates_default
    ON mapping_templates (project, type_id, entity_type)
    WHERE default_for_entity;
