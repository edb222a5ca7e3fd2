//! Caller-supplied webhook secrets are checked against their type's
//! signature scheme at create and at rotate time.

use patchbay::{
    auth::Role,
    proto::v1::{GetConnectionRequest, RotateWebhookSecretRequest},
};
use tonic::Code;

use crate::{
    connections::{create_request, github_settings, s, settings},
    helpers::{assert_error, spawn_app, violations},
};

#[tokio::test]
async fn a_secret_the_scheme_cannot_use_is_refused_at_create_and_rotate() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let site = settings(&[("health_url", s("http://127.0.0.1:9/health"))]);

    // `http` signs with Standard Webhooks: the key is base64 after whsec_.
    for bad in ["whsec_!!!notbase64", "whsec_", "not base64 at all"] {
        let mut request = create_request("acme", "site", "http", site.clone());
        request.webhook_secret = bad.into();
        let refused = assert_error(
            registry.create_connection(request).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(violations(&refused), ["webhook_secret"], "{bad}");
    }
    assert_error(
        registry
            .get_connection(GetConnectionRequest {
                name: "projects/acme/connections/site".into(),
            })
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );
    let mut request = create_request("acme", "site", "http", site);
    request.webhook_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into();
    let created = registry
        .create_connection(request)
        .await
        .expect("a Standard Webhooks secret")
        .into_inner();

    let refused = assert_error(
        registry
            .rotate_webhook_secret(RotateWebhookSecretRequest {
                name: created.name.clone(),
                webhook_secret: "whsec_!!!notbase64".into(),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violations(&refused), ["webhook_secret"]);
    let unchanged = registry
        .get_connection(GetConnectionRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        unchanged.webhook_secret_fingerprint, created.webhook_secret_fingerprint,
        "a refused rotation changes nothing"
    );
    registry
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: created.name,
            webhook_secret: "whsec_c2Vjb25kLXNlY3JldC1rZXktYnl0ZXM=".into(),
        })
        .await
        .expect("a valid one rotates");

    // GitHub uses the secret's bytes as they are: anything goes.
    let mut request = create_request("acme", "gh", "github", github_settings());
    request.webhook_secret = "!!!notbase64".into();
    registry
        .create_connection(request)
        .await
        .expect("a raw secret is fine for github");
}
