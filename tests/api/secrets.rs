//! Secrets stay secret: absent from every log line, and re-sealed under a
//! new key by rotation without loss.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use patchbay::{
    auth::Role,
    crypto::Keyring,
    names::{ChannelName, ConnectionName},
    proto::v1::{
        GetConnectionRequest, ListConnectionsRequest, RotateWebhookSecretRequest,
        SetConnectionCredentialsRequest, integration_registry_client::IntegrationRegistryClient,
        notification_channel::Kind,
    },
    registry::{Registry, rotation},
    store,
};

use crate::{
    connections::{create_github, create_request, github_settings},
    helpers::{TestOptions, spawn_app_with},
    logged_server::{LoggedServer, assert_absent},
};

/// The real binary at trace level, with every log line captured: secrets
/// go through create, credentials, rotation, a refused request, reads.
#[tokio::test]
async fn secrets_never_reach_the_logs_at_any_level() {
    let server = LoggedServer::start(&[]).await;
    let owner = server.token("owner", "acme", Role::Owner);
    let mut registry = IntegrationRegistryClient::new(server.channel(&owner).await);

    let access_token = "ghp_LogCanaryAccessToken_7f3a9c";
    let supplied_secret = "whsec_SuppliedCanarySecret_51b2";
    let rotated_secret = "RotatedCanarySecret_0c8e";
    let mut request = create_request("acme", "gh", "github", github_settings());
    request.webhook_secret = supplied_secret.into();
    let created = registry
        .create_connection(request)
        .await
        .expect("create")
        .into_inner();
    let generated = registry
        .create_connection(create_request("acme", "gh2", "github", github_settings()))
        .await
        .expect("create with a generated secret")
        .into_inner()
        .webhook_secret;
    assert!(generated.starts_with("whsec_"));
    registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([("access_token".into(), access_token.into())]),
            etag: String::new(),
        })
        .await
        .expect("set credentials");
    registry
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: created.name.clone(),
            webhook_secret: rotated_secret.into(),
        })
        .await
        .expect("rotate");
    // A refused call with a secret in it must not log it either.
    let refused = registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([("not_a_field".into(), access_token.into())]),
            etag: String::new(),
        })
        .await;
    assert!(refused.is_err());
    registry
        .get_connection(GetConnectionRequest { name: created.name })
        .await
        .expect("get");
    registry
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("list");

    let logs = server.stop().await;

    // The capture holds the server's own spans and events, at trace level.
    assert!(
        logs.contains("connection created"),
        "no registry events captured"
    );
    assert!(
        logs.contains("SetConnectionCredentials"),
        "no RPC spans captured"
    );
    assert_absent(
        &logs,
        &[
            access_token,
            supplied_secret,
            rotated_secret,
            generated.as_str(),
        ],
    );
}

#[tokio::test]
async fn rotation_reseals_every_secret_under_the_new_key() {
    const OLD: [u8; 32] = [1; 32];
    const NEW: [u8; 32] = [9; 32];
    let old = Arc::new(Keyring::from_keys(vec![("k1".into(), OLD)]).expect("one key"));
    let app = spawn_app_with(TestOptions {
        keyring: Some(old.clone()),
        ..Default::default()
    })
    .await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let mut expected = BTreeMap::new();
    for i in 0..3 {
        let id = format!("gh-{i}");
        let created = create_github(&app, "acme", &id).await;
        let token = format!("ghp_token_{i}");
        registry
            .set_connection_credentials(SetConnectionCredentialsRequest {
                name: created.name.clone(),
                credentials: HashMap::from([("access_token".into(), token.clone())]),
                etag: String::new(),
            })
            .await
            .expect("set credentials");
        // A previous webhook secret to re-seal too.
        registry
            .rotate_webhook_secret(RotateWebhookSecretRequest {
                name: created.name.clone(),
                webhook_secret: String::new(),
            })
            .await
            .expect("rotate secret");
        expected.insert(id, token);
    }
    let channel = crate::notification_channels::create_channel(
        &app,
        "hook",
        crate::notification_channels::webhook("http://127.0.0.1:9/hook"),
    )
    .await
    .expect("a webhook channel");
    let Some(Kind::Webhook(hook)) = channel.kind else {
        panic!("a webhook channel");
    };
    let database = app.database.clone();
    let db = app.db().await;
    app.stop().await.expect("clean stop");

    let new_only = Keyring::from_keys(vec![("k2".into(), NEW)]).expect("one key");
    let pool = store::pool(database, 2).expect("pool");
    let refused = rotation::reseal_all(&pool, &new_only).await;
    assert!(refused.is_err(), "rows under k1 need k1 to re-seal");

    // How an operator rotates: the new key first, the old one still listed.
    let rotating =
        Keyring::from_keys(vec![("k2".into(), NEW), ("k1".into(), OLD)]).expect("two keys");
    let count = rotation::reseal_all(&pool, &rotating)
        .await
        .expect("rotate");
    assert_eq!(count, 4, "three connections and a channel");
    let again = rotation::reseal_all(&pool, &rotating)
        .await
        .expect("rotate again");
    assert_eq!(again, 0, "rotation is idempotent");

    let keys = db
        .query(
            "SELECT DISTINCT k FROM connections, \
             LATERAL (VALUES (credentials_key_id), (webhook_secret_key_id), (previous_webhook_secret_key_id)) v(k) \
             WHERE k IS NOT NULL",
            &[],
        )
        .await
        .expect("key ids");
    let keys: Vec<String> = keys.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, ["k2"]);
    let row = db
        .query_one(
            "SELECT signing_secret, signing_secret_key_id FROM notification_channels",
            &[],
        )
        .await
        .expect("the channel");
    let sealed = patchbay::crypto::Sealed {
        bytes: row.get(0),
        key_id: row.get(1),
    };
    assert_eq!(sealed.key_id, "k2");
    let channel_name = ChannelName::parse(&channel.name).expect("a name");
    let opened = new_only
        .open(
            &sealed,
            &patchbay::alerts::channel_seal_context(&channel_name),
        )
        .expect("opens under k2");
    assert_eq!(opened, hook.signing_secret.as_bytes());
    // One audit entry for the one batch that changed anything, on the
    // platform's chain; the refused run and the idempotent one wrote none.
    let audited = db
        .query(
            "SELECT actor, method, resource, changes FROM audit_events WHERE project = '' \
             ORDER BY seq",
            &[],
        )
        .await
        .expect("the platform's chain");
    let audited: Vec<(String, String, String, serde_json::Value)> = audited
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let entry = |field: &str, count: &str| {
        (
            "patchbay rotate-keys".to_owned(),
            "command.rotate-keys".to_owned(),
            "keyring".to_owned(),
            serde_json::json!([
                {"field": "key_id", "after": "k2"},
                {"field": field, "after": count},
            ]),
        )
    };
    assert_eq!(
        audited,
        [
            entry("resealed_connections", "3"),
            entry("resealed_channels", "1")
        ]
    );

    // Only the new key is needed now, and every credential survived.
    let registry = Registry::new(pool, Arc::new(new_only), Duration::from_secs(60));
    for (id, token) in expected {
        let name = ConnectionName::parse(&format!("projects/acme/connections/{id}")).expect("name");
        let credentials = registry
            .credentials(&name)
            .await
            .expect("opens under k2")
            .expect("has credentials");
        assert_eq!(credentials.get("access_token"), Some(&token));
    }
}
