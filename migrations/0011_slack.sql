-- The built-in Slack type: its provider is src/providers/slack.rs.
-- Messaging has no category of its own in the contract yet: custom.
INSERT INTO integration_types
    (id, display_name, category, description, capabilities, popular, active, builtin, spec, etag)
VALUES
    ('slack', 'Slack', 'custom',
     'A Slack workspace: the bot token checked with auth.test, messages posted to a channel, and Slack-signed Events API requests.',
     ARRAY['webhooks', 'messaging', 'post-message'], true, true, true,
     '{"config_fields": [{"name": "channel", "type": "string", "required": true, "secret": false, "description": "The channel messages are posted to: its id (C0123...) or name."}, {"name": "bot_token", "type": "string", "required": true, "secret": true, "description": "The app''s bot token (xoxb-...), with chat:write."}], "actions": [{"action": "test-connection", "min_role": "editor", "description": "Probes the connection now and reports the result."}, {"action": "refresh", "min_role": "editor", "description": "Refreshes the status (and an expiring OAuth token)."}, {"action": "reconnect", "min_role": "admin", "description": "Re-establishes the connection with its stored credentials."}, {"action": "disconnect", "min_role": "admin", "description": "Revokes the token upstream and marks the connection REVOKED."}, {"action": "configure", "min_role": "admin", "description": "Re-applies the connection''s settings upstream."}, {"action": "post-message", "min_role": "editor", "description": "Posts params.text to the connection''s channel."}], "signature_scheme": "slack", "webhook_tolerance_secs": 300, "probe": "slack", "api_base_uri": "https://slack.com", "docs_uri": "https://api.slack.com/web"}'::jsonb,
     md5(random()::text))
ON CONFLICT (id) DO NOTHING;
