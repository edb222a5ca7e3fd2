//! Credentials and webhook secrets through the API: sealed at rest, shown
//! once when generated, never echoed when supplied.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{
        ConnectionState, GetConnectionRequest, ListConnectionsRequest, RotateWebhookSecretRequest,
        SetConnectionCredentialsRequest,
    },
};
use prost_types::Struct;
use tonic::Code;

use crate::{
    connections::{create_github, create_request},
    helpers::{assert_error, spawn_app, violations},
};

#[tokio::test]
async fn create_generates_a_webhook_secret_shown_exactly_once() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let created = create_github(&app, "acme", "gh").await;
    assert_eq!(created.name, "projects/acme/connections/gh");
    assert!(
        created.webhook_secret.starts_with("whsec_"),
        "{}",
        created.webhook_secret
    );
    assert!(!created.webhook_secret_fingerprint.is_empty());
    assert!(created.webhook_key.starts_with("wh_"));
    assert_eq!(
        created.webhook_uri,
        format!("http://{}/webhooks/{}", app.http_addr, created.webhook_key)
    );
    // GitHub needs an access token: pending until credentials arrive.
    assert_eq!(created.state, i32::from(ConnectionState::Pending));
    assert!(!created.has_credentials);

    let read = registry
        .get_connection(GetConnectionRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(
        read.webhook_secret.is_empty(),
        "a generated secret is shown once"
    );
    assert_eq!(
        read.webhook_secret_fingerprint,
        created.webhook_secret_fingerprint
    );
    let listed = registry
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed
            .connections
            .iter()
            .all(|c| c.webhook_secret.is_empty())
    );

    // Rotation without a secret generates a new one, shown once too.
    let rotated = registry
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: created.name.clone(),
            webhook_secret: String::new(),
        })
        .await
        .expect("rotate")
        .into_inner();
    assert!(rotated.webhook_secret.starts_with("whsec_"));
    assert_ne!(rotated.webhook_secret, created.webhook_secret);
    assert_ne!(
        rotated.webhook_secret_fingerprint,
        created.webhook_secret_fingerprint
    );
    let read = registry
        .get_connection(GetConnectionRequest { name: created.name })
        .await
        .expect("get")
        .into_inner();
    assert!(read.webhook_secret.is_empty());
}

#[tokio::test]
async fn a_supplied_webhook_secret_is_never_echoed() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let mut request = create_request("acme", "hs", "hubspot", Struct::default());
    request.webhook_secret = "hubspot-app-client-secret".into();
    let created = registry
        .create_connection(request)
        .await
        .expect("create")
        .into_inner();
    assert!(created.webhook_secret.is_empty());
    assert!(!created.webhook_secret_fingerprint.is_empty());

    let rotated = registry
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: created.name.clone(),
            webhook_secret: "the-next-client-secret".into(),
        })
        .await
        .expect("rotate")
        .into_inner();
    assert!(rotated.webhook_secret.is_empty());
    assert_ne!(
        rotated.webhook_secret_fingerprint,
        created.webhook_secret_fingerprint
    );

    // The previous secret stays valid for the grace period.
    let row = app
        .db()
        .await
        .query_one(
            "SELECT previous_webhook_secret IS NOT NULL AS kept, \
             extract(epoch FROM previous_webhook_secret_expire_time - now())::float8 AS left \
             FROM connections WHERE project = 'acme' AND id = 'hs'",
            &[],
        )
        .await
        .expect("read row");
    assert!(row.get::<_, bool>("kept"));
    let left: f64 = row.get("left");
    assert!((86_000.0..=86_400.0).contains(&left), "grace left: {left}");
}

#[tokio::test]
async fn credentials_are_stored_sealed_and_never_returned() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let created = create_github(&app, "acme", "gh").await;
    let secret = "ghp_TopSecretAccessToken0123456789";

    let missing_required = registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([
                ("refresh_token".into(), "refresh-r-token".into()),
                ("password".into(), "password-p-1".into()),
                ("expires_at".into(), "tomorrow".into()),
            ]),
            etag: String::new(),
        })
        .await;
    let status = assert_error(missing_required, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violations(&status),
        [
            "credentials.access_token",
            "credentials.expires_at",
            "credentials.password"
        ]
    );

    let stored = registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([
                ("access_token".into(), secret.into()),
                ("expires_at".into(), "2030-01-01T00:00:00Z".into()),
            ]),
            etag: String::new(),
        })
        .await
        .expect("set credentials")
        .into_inner();
    assert!(stored.has_credentials);
    assert_eq!(stored.credentials_fingerprint.len(), 16);
    assert_eq!(
        stored.state,
        i32::from(ConnectionState::Active),
        "complete credentials activate it"
    );
    assert_eq!(
        stored.credentials_expire_time.map(|t| t.seconds),
        Some(1_893_456_000)
    );
    let debug = format!("{stored:?}");
    assert!(!debug.contains(secret));

    let rows = app
        .db()
        .await
        .query(
            "SELECT credentials, credentials_key_id, webhook_secret FROM connections",
            &[],
        )
        .await
        .expect("read rows");
    let ciphertext: Vec<u8> = rows[0].get("credentials");
    assert!(ciphertext.len() > secret.len());
    assert!(
        !ciphertext
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "the plaintext is not in the stored bytes"
    );
    let webhook: Vec<u8> = rows[0].get("webhook_secret");
    assert!(!webhook.windows(6).any(|w| w == b"whsec_"));
    assert_eq!(rows[0].get::<_, String>("credentials_key_id"), "test");

    // Same credentials, same fingerprint; different ones, a new fingerprint.
    let again = registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([
                ("access_token".into(), secret.into()),
                ("expires_at".into(), "2030-01-01T00:00:00Z".into()),
            ]),
            etag: String::new(),
        })
        .await
        .expect("set again")
        .into_inner();
    assert_eq!(
        again.credentials_fingerprint,
        stored.credentials_fingerprint
    );
    let changed = registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name,
            credentials: HashMap::from([("access_token".into(), "ghp_other".into())]),
            etag: String::new(),
        })
        .await
        .expect("set other")
        .into_inner();
    assert_ne!(
        changed.credentials_fingerprint,
        stored.credentials_fingerprint
    );
    assert!(changed.credentials_expire_time.is_none());
}
