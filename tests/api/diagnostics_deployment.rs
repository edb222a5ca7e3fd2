//! GetDeploymentInfo: the build, the schema, the served services, the
//! catalog's hash and the effective configuration, with no secret value
//! anywhere in it.

use patchbay::{
    diagnostics::deployment::GIT_COMMIT,
    proto::v1::{GetDeploymentInfoRequest, IntegrationType, UpdateIntegrationTypeRequest},
    store::migrate,
};
use prost_types::FieldMask;

use crate::{
    actions::fast_actions,
    helpers::{TestOptions, spawn_app_with},
    status::fast_status,
};

const JWT_SECRET: &str = "a-jwt-secret-that-must-never-be-shown-0123456789";
const URL_PASSWORD: &str = "base-url-password-canary";

#[tokio::test]
async fn deployment_info_describes_the_build_and_hides_every_secret() {
    let fake = crate::fakes::FakeProvider::start().await;
    let mut status = fast_status(&fake);
    status.prober.base_uris.insert(
        "vercel",
        format!("http://proxy:{URL_PASSWORD}@{}", fake.addr),
    );
    let app = spawn_app_with(TestOptions {
        keys: Some(crate::helpers::jwt_keys(JWT_SECRET.as_bytes())),
        status,
        actions: fast_actions(),
        ..TestOptions::default()
    })
    .await;
    let admin = app.admin_token("root");
    let info = app
        .diagnostics(Some(&admin))
        .get_deployment_info(GetDeploymentInfoRequest {})
        .await
        .expect("info")
        .into_inner();

    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.git_commit, GIT_COMMIT);
    assert_eq!(info.schema_version, migrate::latest_version());
    let status_service = info
        .services
        .iter()
        .find(|s| s.name == "patchbay.v1.StatusService")
        .expect("the status service is listed");
    assert!(
        status_service
            .methods
            .iter()
            .any(|m| m == "WatchProjectStatus"),
        "{status_service:?}"
    );
    assert!(info.start_time.is_some());
    assert_eq!(info.config_fingerprint.len(), 16);

    // Secrets appear as keyed hashes only.
    let jwt = &info.config["jwt.keys"];
    assert!(jwt.starts_with("HS256 hmac:"), "{jwt}");
    let vercel = &info.config["providers.base_url.vercel"];
    assert!(
        vercel.starts_with("hmac:"),
        "a URL with credentials: {vercel}"
    );
    let everything = format!("{info:?}");
    for secret in [JWT_SECRET, URL_PASSWORD] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    let again = app
        .diagnostics(Some(&admin))
        .get_deployment_info(GetDeploymentInfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!(again.config_fingerprint, info.config_fingerprint, "stable");
    assert_eq!(again.catalog_hash, info.catalog_hash, "stable");

    // An edited catalog hashes differently.
    app.registry(Some(&admin))
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(IntegrationType {
                name: "integrationTypes/github".into(),
                description: "Edited by an admin".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("edit the catalog");
    let edited = app
        .diagnostics(Some(&admin))
        .get_deployment_info(GetDeploymentInfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_ne!(edited.catalog_hash, info.catalog_hash);
    assert_eq!(edited.config_fingerprint, info.config_fingerprint);

    // Platform admins only: it describes the deployment's configuration.
    let owner = app.token("owner", &[("acme", patchbay::auth::Role::Owner)]);
    let refused = app
        .diagnostics(Some(&owner))
        .get_deployment_info(GetDeploymentInfoRequest {})
        .await
        .expect_err("an owner is not an operator");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}
