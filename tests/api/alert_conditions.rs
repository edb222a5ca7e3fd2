//! The rule kinds the end-to-end tests in `alerts.rs` leave out: dead
//! letters, which fire as deliveries die and resolve as they are redriven,
//! and a status level, which fires when a probe leaves the connection there.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{
        AlertResolution, AlertRule, AlertSeverity, AlertState, CreateAlertRuleRequest,
        DeadLettersCondition, RedriveDeliveriesRequest, StatusCondition, StatusLevel,
        alert_rule::Condition,
    },
    webhooks::WebhookConfig,
};

use crate::{
    alerts::{alerts, state, unbroken_status, wait_for_alerts},
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, spawn_app_with},
    status::{active_github, fresh_repo, level, wait_for},
    webhook_signing::{hook_connection, secret_for},
    webhooks::{post, sign_now},
};

async fn create_rule(app: &TestApp, id: &str, condition: Condition, healthy: i32) {
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.alerts(Some(&editor))
        .create_alert_rule(CreateAlertRuleRequest {
            parent: "projects/acme".into(),
            alert_rule_id: id.into(),
            alert_rule: Some(AlertRule {
                display_name: id.into(),
                severity: AlertSeverity::Warning.into(),
                condition: Some(condition),
                resolution: Some(AlertResolution {
                    healthy_observations: healthy,
                    quiet_period: None,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create the rule");
}

async fn dead_letters(app: &TestApp) -> i64 {
    app.db()
        .await
        .query_one(
            "SELECT count(*) FROM webhook_deliveries WHERE state = 'dead_letter'",
            &[],
        )
        .await
        .expect("count")
        .get(0)
}

async fn wait_dead_letters(app: &TestApp, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dead_letters(app).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {want} dead letters"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn dead_letters_fire_past_their_count_and_resolve_when_redriven() {
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            max_attempts: 1,
            poll: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    create_rule(
        &app,
        "dead",
        Condition::DeadLetters(DeadLettersCondition { more_than: 1 }),
        1,
    )
    .await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    // Not JSON: each delivery dies on its one attempt.
    let broken = || sign_now("github", &secret, br#"{"truncated": "#);

    assert_eq!(
        post(&app, &connection.webhook_key, &broken()).await.status,
        202
    );
    wait_dead_letters(&app, 1).await;
    // Evaluated in the transaction that dead-lettered it: one is not more
    // than one.
    assert!(alerts(&app, "dead").await.is_empty());

    assert_eq!(
        post(&app, &connection.webhook_key, &broken()).await.status,
        202
    );
    wait_dead_letters(&app, 2).await;
    let fired = alerts(&app, "dead").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].summary, "2 dead-lettered deliveries");
    assert_eq!(fired[0].connection, "projects/acme/connections/gh");

    // Redriven, there are none: one healthy observation resolves it (the
    // deliveries then die again, and a new alert fires for them).
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let moved = app
        .diagnostics(Some(&owner))
        .redrive_deliveries(RedriveDeliveriesRequest {
            parent: "projects/acme/connections/gh".into(),
            ..Default::default()
        })
        .await
        .expect("redrive")
        .into_inner()
        .redriven_count;
    assert_eq!(moved, 2);
    let both = wait_for_alerts(&app, "dead", "resolved, then fired again", |a| {
        a.len() == 2 && a.iter().any(|a| state(a) == AlertState::Resolved)
    })
    .await;
    let resolved = both
        .iter()
        .find(|a| state(a) == AlertState::Resolved)
        .expect("the first alert");
    assert_eq!(resolved.name, fired[0].name);
    assert_eq!(resolved.resolve_reason, "HEALTHY_OBSERVATIONS");
}

#[tokio::test]
async fn a_status_rule_fires_when_a_probe_leaves_the_connection_in_error() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = spawn_app_with(TestOptions {
        status: unbroken_status(&fake),
        ..TestOptions::default()
    })
    .await;
    create_rule(
        &app,
        "in-error",
        Condition::Status(StatusCondition {
            level: StatusLevel::Error.into(),
            reason: String::new(),
        }),
        3,
    )
    .await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    assert!(alerts(&app, "in-error").await.is_empty());

    // The repository is gone: a definitive answer, and an ERROR status.
    fake.set("/repos/acme/web", Reply::status(404));
    let fired = wait_for_alerts(&app, "in-error", "fired", |a| !a.is_empty()).await;
    assert_eq!(fired[0].summary, "status ERROR (MISCONFIGURED)");

    fresh_repo(&fake, "acme", "web", 1);
    let resolved = wait_for_alerts(&app, "in-error", "resolved", |a| {
        a.first().is_some_and(|a| state(a) == AlertState::Resolved)
    })
    .await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].resolve_reason, "HEALTHY_OBSERVATIONS");
}
