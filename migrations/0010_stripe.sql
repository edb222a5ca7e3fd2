-- The built-in Stripe type: its provider is src/providers/stripe.rs.
-- Payments have no category of their own in the contract yet: custom.
INSERT INTO integration_types
    (id, display_name, category, description, capabilities, popular, active, builtin, spec, etag)
VALUES
    ('stripe', 'Stripe', 'custom',
     'A Stripe account: whether it can take charges, customer sync with cursor paging, and Stripe-signed webhooks.',
     ARRAY['webhooks', 'payments', 'sync', 'customers'], true, true, true,
     '{"config_fields": [{"name": "secret_key", "type": "string", "required": true, "secret": true, "description": "A secret or restricted key (sk_... or rk_...) that can read the account and the synced lists."}], "actions": [{"action": "test-connection", "min_role": "editor", "description": "Probes the connection now and reports the result."}, {"action": "refresh", "min_role": "editor", "description": "Refreshes the status (and an expiring OAuth token)."}, {"action": "reconnect", "min_role": "admin", "description": "Re-establishes the connection with its stored credentials."}, {"action": "disconnect", "min_role": "admin", "description": "Revokes the token upstream and marks the connection REVOKED."}, {"action": "configure", "min_role": "admin", "description": "Re-applies the connection''s settings upstream."}, {"action": "sync", "min_role": "editor", "description": "Pulls customers (or the lists params.entities names) page by page into records."}], "signature_scheme": "stripe", "webhook_tolerance_secs": 300, "probe": "stripe", "api_base_uri": "https://api.stripe.com", "docs_uri": "https://docs.stripe.com/api"}'::jsonb,
     md5(random()::text))
ON CONFLICT (id) DO NOTHING;
