-- Alert rules: a condition on a project's connections, its severity and the
-- channels notified. Conditions and resolutions are JSON of
-- alerts::model::{Condition, Resolution}.
CREATE TABLE alert_rules (
    project text NOT NULL,
    id text NOT NULL,
    display_name text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    -- Neither: the whole project.
    scope_connection text,
    scope_type text,
    -- Notification channel ids, in the rule's project.
    channels text[] NOT NULL DEFAULT '{}',
    condition jsonb NOT NULL,
    resolution jsonb NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    default_rule boolean NOT NULL DEFAULT false,
    etag text NOT NULL,
    request_id uuid,
    request_hash bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, id),
    UNIQUE (project, request_id),
    CHECK (scope_connection IS NULL OR scope_type IS NULL)
);

-- Projects that were given the default rules: once, so a default rule the
-- project deleted stays deleted.
CREATE TABLE alert_rule_defaults (
    project text PRIMARY KEY,
    create_time timestamptz NOT NULL DEFAULT now()
);
