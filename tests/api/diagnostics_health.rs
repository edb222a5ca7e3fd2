//! GetServiceHealth from real component checks: a healthy server, then
//! each component made to fail its check.

use std::time::Duration;

use patchbay::{
    proto::v1::{GetServiceHealthRequest, HealthState, ServiceHealth},
    webhooks::WebhookConfig,
};

use crate::{
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, spawn_app, spawn_app_with},
    status::{connected_app, wait_for},
    webhook_signing::{hook_connection, secret_for},
    webhooks::deliver,
};

async fn health(app: &TestApp) -> ServiceHealth {
    let token = app.token("operator", &[]);
    app.diagnostics(Some(&token))
        .get_service_health(GetServiceHealthRequest {})
        .await
        .expect("health")
        .into_inner()
}

fn component<'a>(
    health: &'a ServiceHealth,
    name: &str,
) -> &'a patchbay::proto::v1::ComponentHealth {
    health
        .components
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component {name}: {health:#?}"))
}

fn state(health: &ServiceHealth, name: &str) -> HealthState {
    HealthState::try_from(component(health, name).state).unwrap_or(HealthState::Unspecified)
}

#[tokio::test]
async fn a_fresh_server_is_healthy_in_every_component() {
    let app = spawn_app().await;
    let health = health(&app).await;
    for name in [
        "database",
        "migrations",
        "event_log",
        "action_queue",
        "webhook_backlog",
        "replicas",
    ] {
        assert_eq!(
            state(&health, name),
            HealthState::Healthy,
            "{name}: {health:#?}"
        );
    }
    assert_eq!(
        HealthState::try_from(health.overall),
        Ok(HealthState::Healthy)
    );
    let database = component(&health, "database");
    assert!(database.latency.is_some(), "the round trip is measured");
    assert!(
        component(&health, "replicas").detail.starts_with("1 live"),
        "{health:#?}"
    );

    let anonymous = app
        .diagnostics(None)
        .get_service_health(GetServiceHealthRequest {})
        .await;
    assert_eq!(
        anonymous.expect_err("a token is needed").code(),
        tonic::Code::Unauthenticated
    );
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_degraded() {
    let app = spawn_app().await;
    app.db()
        .await
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (9999, 'from_a_newer_release', '2026-12-01T00:00:00Z', '0')",
            &[],
        )
        .await
        .expect("a newer replica's migration");
    let health = health(&app).await;
    assert_eq!(state(&health, "migrations"), HealthState::Degraded);
    assert!(
        component(&health, "migrations").detail.contains("9999"),
        "{health:#?}"
    );
    assert_eq!(
        HealthState::try_from(health.overall),
        Ok(HealthState::Degraded)
    );
}

#[tokio::test]
async fn an_open_circuit_degrades_its_provider() {
    let fake = FakeProvider::start().await;
    crate::status::fresh_repo(&fake, "acme", "web", 1);
    let app = connected_app(&fake).await;
    let health_before = health(&app).await;
    assert_eq!(
        state(&health_before, "provider/github"),
        HealthState::Healthy
    );

    // The provider fails until the circuit opens.
    fake.set("/repos/acme/web", Reply::status(503));
    wait_for(&app, "web", "OPEN", |i| {
        i.circuit_state == i32::from(patchbay::proto::v1::CircuitState::Open)
    })
    .await;
    let open = health(&app).await;
    assert_eq!(state(&open, "provider/github"), HealthState::Degraded);
    assert!(
        component(&open, "provider/github")
            .detail
            .starts_with("1 of 1 circuits open"),
        "{open:#?}"
    );
}

#[tokio::test]
async fn a_dead_letter_degrades_the_webhook_backlog() {
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            max_attempts: 1,
            poll: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    assert_eq!(
        deliver(
            &app,
            &connection.webhook_key,
            "github",
            &secret,
            br#"{"truncated": "#
        )
        .await
        .status,
        202
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let degraded = loop {
        let health = health(&app).await;
        if state(&health, "webhook_backlog") == HealthState::Degraded {
            break health;
        }
        assert!(tokio::time::Instant::now() < deadline, "{health:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        component(&degraded, "webhook_backlog").detail,
        "0 waiting, 0 retrying, 1 dead letters"
    );
}
