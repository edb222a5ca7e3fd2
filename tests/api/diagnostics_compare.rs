//! CompareDeployments between two servers configured differently: field
//! drift with its severity, no secret in the answer, and only listed peers
//! ever dialled.

use patchbay::{
    auth::KeySource,
    proto::v1::{CompareDeploymentsRequest, DriftSeverity},
    webhooks::WebhookConfig,
};
use tonic::Code;

use crate::helpers::{TestOptions, assert_error, spawn_app_with};

const SECRET_A: &str = "deployment-a-jwt-secret-never-shown-0123456789";
const SECRET_B: &str = "deployment-b-jwt-secret-never-shown-0123456789";

fn keys(secret: &str) -> Option<KeySource> {
    Some(crate::helpers::jwt_keys(secret.as_bytes()))
}

#[tokio::test]
async fn drift_between_two_deployments_is_reported_field_by_field() {
    let b = spawn_app_with(TestOptions {
        keys: keys(SECRET_B),
        webhooks: WebhookConfig {
            max_attempts: 9,
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let peer = b.grpc_addr.to_string();
    let a = spawn_app_with(TestOptions {
        keys: keys(SECRET_A),
        deployment_peers: vec![peer.clone()],
        ..TestOptions::default()
    })
    .await;
    let admin = a.admin_token("root");
    let b_token = b.admin_token("root");
    let compared = a
        .diagnostics(Some(&admin))
        .compare_deployments(CompareDeploymentsRequest {
            target: peer.clone(),
            bearer_token: b_token.clone(),
        })
        .await
        .expect("compare")
        .into_inner();
    assert_eq!(compared.target, peer);
    let severity = |field: &str| {
        compared
            .drift
            .iter()
            .find(|d| d.field == field)
            .map(|d| DriftSeverity::try_from(d.severity).unwrap_or(DriftSeverity::Unspecified))
    };
    assert_eq!(severity("config.webhooks"), Some(DriftSeverity::Warning));
    assert_eq!(severity("config.jwt.keys"), Some(DriftSeverity::Critical));
    assert_eq!(severity("start_time"), Some(DriftSeverity::Info));
    assert_eq!(
        severity("config.deployment_peers"),
        Some(DriftSeverity::Warning)
    );
    for same in [
        "version",
        "schema_version",
        "catalog_hash",
        "services.patchbay.v1.StatusService",
    ] {
        assert_eq!(severity(same), None, "{same} does not differ");
    }
    let webhooks = compared
        .drift
        .iter()
        .find(|d| d.field == "config.webhooks")
        .expect("webhooks drift");
    assert!(webhooks.remote.contains("max_attempts: 9"), "{webhooks:?}");
    let everything = format!("{compared:?}");
    for secret in [SECRET_A, SECRET_B, b_token.as_str()] {
        assert!(!everything.contains(secret), "a secret leaked");
    }

    // Only listed peers, only platform admins, and the peer's refusal named.
    let mut diagnostics = a.diagnostics(Some(&admin));
    let unlisted = diagnostics
        .compare_deployments(CompareDeploymentsRequest {
            target: "169.254.169.254:80".into(),
            bearer_token: b_token.clone(),
        })
        .await;
    assert_error(
        unlisted,
        Code::PermissionDenied,
        "DEPLOYMENT_PEER_NOT_LISTED",
    );
    let refused = diagnostics
        .compare_deployments(CompareDeploymentsRequest {
            target: peer.clone(),
            bearer_token: admin.clone(),
        })
        .await;
    assert_error(refused, Code::FailedPrecondition, "DEPLOYMENT_PEER_REFUSED");
    let owner = a.token("owner", &[("acme", patchbay::auth::Role::Owner)]);
    let not_admin = a
        .diagnostics(Some(&owner))
        .compare_deployments(CompareDeploymentsRequest {
            target: peer,
            bearer_token: b_token,
        })
        .await;
    assert_eq!(
        not_admin.expect_err("admins only").code(),
        Code::PermissionDenied
    );
}
