//! OAuth against a fake provider: tokens refreshed once before they expire,
//! a refused refresh meaning the grant is revoked, and the refresh token
//! revoked upstream when its connection is deleted.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{
        DeleteConnectionRequest, IntegrationType, OAuthConfig, ProblemCode,
        SetConnectionCredentialsRequest, StatusLevel, UpdateIntegrationTypeRequest,
    },
};
use prost_types::FieldMask;
use serde_json::json;

use crate::{
    actions::provider_status,
    connections::{create_github, create_request},
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, spawn_app_with},
    status::{fast_app, fresh_repo, level, wait_for},
};

#[tokio::test]
async fn expiring_oauth_tokens_are_refreshed_once_and_refusals_mean_revoked() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    fake.set(
        "/oauth/token",
        Reply::json(
            200,
            json!({"access_token": "gho_new_token", "refresh_token": "refresh-2-token", "expires_in": 3600}),
        ),
    );
    let app = fast_app(&fake).await;
    set_oauth(
        &app,
        "github",
        format!("{}/oauth/token", fake.url()),
        String::new(),
    )
    .await;
    create_github(&app, "acme", "web").await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc3339();
    set_credentials(
        &app,
        &owner,
        "web",
        &[
            ("access_token", "gho_old_token"),
            ("refresh_token", "refresh-1-token"),
            ("expires_at", &soon),
            ("client_id", "client-id-1"),
            ("client_secret", "client-secret-1"),
        ],
    )
    .await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    // Three more probes, each of which would refresh a token still due.
    fake.hit_again("/repos/acme/web", 3).await;
    assert_eq!(fake.hits_on("/oauth/token"), 1, "refreshed exactly once");
    let refresh = fake
        .seen()
        .into_iter()
        .find(|s| s.path == "/oauth/token")
        .expect("refresh request");
    let form = String::from_utf8_lossy(&refresh.body).into_owned();
    assert!(
        form.contains("grant_type=refresh_token") && form.contains("refresh_token=refresh-1-token"),
        "{form}"
    );
    let probes: Vec<String> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/repos/acme/web")
        .filter_map(|s| {
            s.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect();
    assert!(
        probes.iter().all(|h| h == "Bearer gho_new_token"),
        "{probes:?}"
    );

    // A refused refresh means the grant is gone.
    fake.set(
        "/oauth/token",
        Reply::json(400, json!({"error": "invalid_grant"})),
    );
    let expired = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
    set_credentials(
        &app,
        &owner,
        "web",
        &[
            ("access_token", "gho_old_token"),
            ("refresh_token", "refresh-dead-token"),
            ("expires_at", &expired),
        ],
    )
    .await;
    let revoked = wait_for(&app, "web", "OAUTH_REVOKED", |i| {
        i.problem.as_ref().map(|p| p.code) == Some(i32::from(ProblemCode::OauthRevoked))
    })
    .await;
    assert_eq!(level(&revoked), StatusLevel::Error);
    // Diagnosis names it, with the action that fixes it.
    let diagnosis = app
        .diagnostics(Some(&owner))
        .diagnose_connection(patchbay::proto::v1::DiagnoseConnectionRequest {
            name: "projects/acme/connections/web".into(),
        })
        .await
        .expect("diagnosis")
        .into_inner();
    let live = diagnosis
        .checks
        .iter()
        .find(|c| c.name == "live_probe")
        .expect("live probe check");
    assert_eq!(live.reason, "OAUTH_REVOKED", "{diagnosis:#?}");
    assert_eq!(live.action, "reconnect");
    let expiry = diagnosis
        .checks
        .iter()
        .find(|c| c.name == "token_expiry")
        .expect("token expiry check");
    assert_eq!(expiry.reason, "TOKEN_EXPIRING", "inside the refresh buffer");
}

#[tokio::test]
async fn deleting_a_connection_revokes_its_token_upstream() {
    let fake = FakeProvider::start().await;
    let app = fast_app(&fake).await;
    set_oauth(
        &app,
        "hubspot",
        format!("{}/oauth/v1/token", fake.url()),
        format!("{}/oauth/v1/refresh-tokens/{{refresh_token}}", fake.url()),
    )
    .await;
    fake.set(
        "/oauth/v1/refresh-tokens/refresh-123-token",
        Reply::status(204),
    );
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    create_hubspot(&app, &owner, "crm").await;
    set_credentials(
        &app,
        &owner,
        "crm",
        &[
            ("access_token", "access-a-token"),
            ("refresh_token", "refresh-123-token"),
        ],
    )
    .await;
    delete_connection(&app, &owner, "crm").await;
    let revoked = fake
        .seen()
        .into_iter()
        .any(|s| s.path == "/oauth/v1/refresh-tokens/refresh-123-token");
    assert!(revoked, "the refresh token was revoked at the provider");
}

#[tokio::test]
async fn github_tokens_are_revoked_the_way_github_takes_them() {
    // DELETE /applications/{client_id}/token, as the OAuth app (basic
    // auth), the access token in a JSON body.
    let fake = FakeProvider::start().await;
    let app = fast_app(&fake).await;
    set_oauth(
        &app,
        "github",
        format!("{}/login/oauth/access_token", fake.url()),
        format!("{}/applications/{{client_id}}/token", fake.url()),
    )
    .await;
    fake.set("/applications/Iv1.app-client/token", Reply::status(204));
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    create_github(&app, "acme", "web").await;
    set_credentials(
        &app,
        &owner,
        "web",
        &[
            ("access_token", "gho_live"),
            ("client_id", "Iv1.app-client"),
            ("client_secret", "app-secret"),
        ],
    )
    .await;
    delete_connection(&app, &owner, "web").await;
    let revocation = fake
        .seen()
        .into_iter()
        .find(|s| s.path == "/applications/Iv1.app-client/token")
        .expect("the token was revoked at GitHub");
    assert_eq!(revocation.method, "DELETE");
    let basic = format!("Basic {}", base64_of("Iv1.app-client:app-secret"));
    assert_eq!(
        revocation
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(basic.as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&revocation.body).expect("json");
    assert_eq!(body, json!({"access_token": "gho_live"}));
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn refresh_and_revocation_honour_the_provider_base_url() {
    // The built-in hubspot type keeps its real OAuth endpoints; only
    // --provider-base-url points hubspot at the fake.
    let fake = FakeProvider::start().await;
    fake.set(
        "/oauth/v1/token",
        Reply::json(
            200,
            json!({"access_token": "access-new-token", "refresh_token": "refresh-next-token", "expires_in": 3600}),
        ),
    );
    fake.set(
        "/account-info/v3/details",
        Reply::json(200, json!({"portalId": 7})),
    );
    fake.set(
        "/oauth/v1/refresh-tokens/refresh-next-token",
        Reply::status(204),
    );
    let app = spawn_app_with(TestOptions {
        status: provider_status(&fake),
        ..TestOptions::default()
    })
    .await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    create_hubspot(&app, &owner, "crm").await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339();
    set_credentials(
        &app,
        &owner,
        "crm",
        &[
            ("access_token", "access-old-token"),
            ("refresh_token", "refresh-first-token"),
            ("expires_at", &soon),
        ],
    )
    .await;
    wait_for(&app, "crm", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    assert_eq!(fake.hits_on("/oauth/v1/token"), 1, "refreshed at the fake");
    delete_connection(&app, &owner, "crm").await;
    let revocation = fake
        .seen()
        .into_iter()
        .find(|s| s.path == "/oauth/v1/refresh-tokens/refresh-next-token");
    assert!(
        revocation.is_some(),
        "the rotated refresh token was revoked at the fake"
    );
}

/// Points an integration type's OAuth endpoints at the fake provider.
async fn set_oauth(app: &TestApp, type_id: &str, token_uri: String, revoke_uri: String) {
    let admin = app.admin_token("root");
    app.registry(Some(&admin))
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(IntegrationType {
                name: format!("integrationTypes/{type_id}"),
                oauth: Some(OAuthConfig {
                    token_uri,
                    revoke_uri,
                }),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["oauth".into()],
            }),
        })
        .await
        .expect("point the type's OAuth endpoints at the fake");
}

/// Creates a hubspot connection in project `acme`, as `token`'s caller.
async fn create_hubspot(app: &TestApp, token: &str, connection: &str) {
    app.registry(Some(token))
        .create_connection(create_request(
            "acme",
            connection,
            "hubspot",
            prost_types::Struct::default(),
        ))
        .await
        .expect("create");
}

/// Deletes a connection in project `acme`, which revokes its token upstream.
async fn delete_connection(app: &TestApp, token: &str, connection: &str) {
    app.registry(Some(token))
        .delete_connection(DeleteConnectionRequest {
            name: format!("projects/acme/connections/{connection}"),
            etag: String::new(),
        })
        .await
        .expect("delete");
}

/// Sets a connection's credentials in project `acme`, as `token`'s caller.
async fn set_credentials(app: &TestApp, token: &str, connection: &str, pairs: &[(&str, &str)]) {
    app.registry(Some(token))
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: format!("projects/acme/connections/{connection}"),
            credentials: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
            etag: String::new(),
        })
        .await
        .expect("credentials");
}
