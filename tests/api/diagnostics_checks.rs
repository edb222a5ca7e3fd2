//! DiagnoseConnection and DiagnoseProject: every check passing on a healthy
//! connection, and each failing for the cause it names.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{
        CheckResult, ConfigField, ConfigFieldType, ConnectionDiagnosis, DiagnoseConnectionRequest,
        DiagnoseProjectRequest, IntegrationType, SetConnectionCredentialsRequest,
        UpdateIntegrationTypeRequest,
    },
    webhooks::WebhookConfig,
};
use prost_types::FieldMask;

use crate::{
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, spawn_app_with},
    status::{connected_app, fast_status, wait_for},
    webhook_signing::{hook_connection, secret_for, sign},
    webhooks::{deliver, new_id, now, post, sign_now},
};

async fn diagnose(app: &TestApp, id: &str) -> ConnectionDiagnosis {
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    app.diagnostics(Some(&viewer))
        .diagnose_connection(DiagnoseConnectionRequest {
            name: format!("projects/acme/connections/{id}"),
        })
        .await
        .expect("diagnosis")
        .into_inner()
}

/// The check's result and reason.
fn check(d: &ConnectionDiagnosis, name: &str) -> (CheckResult, String) {
    let c = d
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check: {d:#?}"));
    (
        CheckResult::try_from(c.result).unwrap_or(CheckResult::Unspecified),
        c.reason.clone(),
    )
}

fn pass() -> (CheckResult, String) {
    (CheckResult::Pass, "OK".to_owned())
}

async fn app(fake: &FakeProvider) -> TestApp {
    spawn_app_with(TestOptions {
        status: fast_status(fake),
        webhooks: WebhookConfig {
            max_attempts: 1,
            poll: Duration::from_millis(20),
            refusal_flush: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_healthy_connection_passes_and_each_break_is_named() {
    let fake = FakeProvider::start().await;
    fake.set("/health", Reply::status(200));
    let app = app(&fake).await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "site", &secret).await;
    // hook types probe health_url; point it at the fake.
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    app.registry(Some(&owner))
        .update_connection(patchbay::proto::v1::UpdateConnectionRequest {
            connection: Some(patchbay::proto::v1::Connection {
                name: connection.name.clone(),
                settings: Some(crate::connections::settings(&[(
                    "health_url",
                    crate::connections::s(&format!("{}/health", fake.url())),
                )])),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["settings".into()],
            }),
        })
        .await
        .expect("point the probe at the fake");

    // Before any webhook: the one warning.
    let quiet = diagnose(&app, "site").await;
    assert_eq!(
        check(&quiet, "last_webhook"),
        (CheckResult::Warn, "NO_WEBHOOK_YET".into())
    );
    assert!(
        quiet
            .recommendations
            .iter()
            .any(|r| r.contains("SendTestWebhook")),
        "{quiet:#?}"
    );

    let good = sign_now("standard", &secret, br#"{"type":"x"}"#);
    assert_eq!(post(&app, &connection.webhook_key, &good).await.status, 202);
    wait_until(&app, "site", |d| check(d, "last_webhook") == pass()).await;
    let healthy = diagnose(&app, "site").await;
    for name in [
        "settings_valid",
        "credentials",
        "webhook_secret",
        "last_webhook",
        "refused_webhooks",
        "live_probe",
        "circuit",
        "dead_letters",
        "failed_actions",
    ] {
        assert_eq!(check(&healthy, name), pass(), "{name}: {healthy:#?}");
    }
    assert!(healthy.critical_issues.is_empty());

    // Forged requests, counted by reason.
    for _ in 0..3 {
        let forged = sign_now("standard", &secret_for("standard", 2), b"{}");
        assert_eq!(
            post(&app, &connection.webhook_key, &forged).await.status,
            401
        );
    }
    let late = sign("standard", &secret, b"{}", now() - 900, &new_id(), "");
    assert_eq!(post(&app, &connection.webhook_key, &late).await.status, 401);
    // The counts reach the store within a flush or two: wait for all four.
    let counted = |d: &ConnectionDiagnosis| {
        d.checks.iter().any(|c| {
            c.name == "refused_webhooks"
                && c.message.contains("SIGNATURE_MISMATCH ×3")
                && c.message.contains("TIMESTAMP_OUT_OF_WINDOW ×1")
        })
    };
    let refused = wait_until(&app, "site", counted).await;
    assert_eq!(
        check(&refused, "refused_webhooks"),
        (CheckResult::Warn, "WEBHOOKS_REFUSED".into())
    );

    // A dead letter.
    assert_eq!(
        deliver(
            &app,
            &connection.webhook_key,
            "standard",
            &secret,
            br#"{"truncated": "#
        )
        .await
        .status,
        202
    );
    wait_until(&app, "site", |d| {
        check(d, "dead_letters") == (CheckResult::Warn, "DEAD_LETTERS".into())
    })
    .await;

    // A setting the type now requires and the connection lacks.
    let admin = app.admin_token("root");
    let mut ty = app
        .registry(Some(&admin))
        .get_integration_type(patchbay::proto::v1::GetIntegrationTypeRequest {
            name: "integrationTypes/hook-standard".into(),
        })
        .await
        .expect("type")
        .into_inner();
    ty.config_fields.push(ConfigField {
        name: "region".into(),
        r#type: ConfigFieldType::String.into(),
        required: true,
        ..Default::default()
    });
    app.registry(Some(&admin))
        .update_integration_type(UpdateIntegrationTypeRequest {
            integration_type: Some(IntegrationType {
                name: ty.name.clone(),
                config_fields: ty.config_fields,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["config_fields".into()],
            }),
        })
        .await
        .expect("the type gains a required field");
    let invalid = diagnose(&app, "site").await;
    assert_eq!(
        check(&invalid, "settings_valid"),
        (CheckResult::Fail, "SETTINGS_INVALID".into())
    );
    assert!(
        invalid.critical_issues.iter().any(|i| i.contains("region")),
        "{invalid:#?}"
    );
    assert!(
        invalid.recommendations[0].contains("settings.region"),
        "{invalid:#?}"
    );
}

/// Polls the diagnosis until `done` holds.
async fn wait_until(
    app: &TestApp,
    id: &str,
    done: impl Fn(&ConnectionDiagnosis) -> bool,
) -> ConnectionDiagnosis {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let d = diagnose(app, id).await;
        if done(&d) {
            return d;
        }
        assert!(tokio::time::Instant::now() < deadline, "{d:#?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test]
async fn a_failing_provider_an_open_circuit_and_expired_tokens_are_named() {
    let fake = FakeProvider::start().await;
    crate::status::fresh_repo(&fake, "acme", "web", 1);
    let app = connected_app(&fake).await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let live = diagnose(&app, "web").await;
    assert_eq!(check(&live, "live_probe"), pass(), "{live:#?}");

    // A refused token: the live probe says so, and what to run.
    fake.set("/repos/acme/web", Reply::status(401));
    let refused = diagnose(&app, "web").await;
    assert_eq!(
        check(&refused, "live_probe"),
        (CheckResult::Fail, "PROBE_FAILED".into())
    );
    let probe = refused
        .checks
        .iter()
        .find(|c| c.name == "live_probe")
        .expect("check");
    assert!(probe.message.starts_with("UNAUTHORIZED"), "{probe:?}");
    assert_eq!(probe.action, "test-connection");
    assert_eq!(check(&refused, "failed_actions"), pass());
    let failed =
        crate::provider_setup::run_to_end(&app, "web", "test-connection", serde_json::json!({}))
            .await;
    assert_eq!(
        patchbay::proto::v1::ActionState::try_from(failed.state),
        Ok(patchbay::proto::v1::ActionState::Failed)
    );
    assert_eq!(
        check(&diagnose(&app, "web").await, "failed_actions"),
        (CheckResult::Warn, "ACTIONS_FAILED".into())
    );

    // Failing repeatedly: the circuit opens.
    fake.set("/repos/acme/web", Reply::status(503));
    wait_for(&app, "web", "OPEN", |i| {
        i.circuit_state == i32::from(patchbay::proto::v1::CircuitState::Open)
    })
    .await;
    let open = diagnose(&app, "web").await;
    assert_eq!(
        check(&open, "circuit"),
        (CheckResult::Warn, "CIRCUIT_OPEN".into()),
        "{open:#?}"
    );

    // An expired token with nothing to refresh it.
    let expired = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    set_token(&app, &owner, "ghp_old_token", &expired).await;
    let lapsed = diagnose(&app, "web").await;
    assert_eq!(
        check(&lapsed, "token_expiry"),
        (CheckResult::Fail, "TOKEN_EXPIRED".into())
    );
    let fresh = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    set_token(&app, &owner, "ghp_new_token", &fresh).await;
    assert_eq!(check(&diagnose(&app, "web").await, "token_expiry"), pass());

    // The project's view: one connection, failing.
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let project = app
        .diagnostics(Some(&viewer))
        .diagnose_project(DiagnoseProjectRequest {
            project: "projects/acme".into(),
        })
        .await
        .expect("project")
        .into_inner();
    let summary = project.summary.expect("summary");
    assert_eq!(summary.connections, 1);
    assert_eq!(summary.failing + summary.warning + summary.passing, 1);
}

#[tokio::test]
async fn credentials_sealed_under_a_key_rotated_away_are_named() {
    let fake = FakeProvider::start().await;
    crate::status::fresh_repo(&fake, "acme", "web", 1);
    let first = connected_app(&fake).await;
    let second = spawn_app_with(TestOptions {
        database: Some(first.database.clone()),
        keys: Some(first.keys.clone()),
        keyring: Some(crate::helpers::random_keyring("rotated")),
        status: fast_status(&fake),
        ..TestOptions::default()
    })
    .await;
    let d = diagnose(&second, "web").await;
    assert_eq!(
        check(&d, "credentials"),
        (CheckResult::Fail, "CREDENTIALS_UNREADABLE".into())
    );
    let message = &d
        .checks
        .iter()
        .find(|c| c.name == "credentials")
        .expect("check")
        .message;
    assert!(message.contains("rotated away"), "{message}");
    assert!(
        message.contains("sealed under key test"),
        "the key is named: {message}"
    );
}

/// Sets `web`'s access token and its expiry.
async fn set_token(app: &TestApp, owner: &str, token: &str, expires_at: &str) {
    app.registry(Some(owner))
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: "projects/acme/connections/web".into(),
            credentials: [("access_token", token), ("expires_at", expires_at)]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            etag: String::new(),
        })
        .await
        .expect("credentials");
}
