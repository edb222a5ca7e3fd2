//! Accepted deliveries, processed: published on the watch stream, applied
//! to the status, retried and dead-lettered.

use std::time::Duration;

use patchbay::{auth::Role, proto::v1::status_update::Event, webhooks::WebhookConfig};
use serde_json::json;

use crate::{
    helpers::{TestOptions, spawn_app, spawn_app_with},
    watch::{next_event, watch, watch_request},
    webhook_signing::{hook_connection, secret_for, sign},
    webhooks::{new_id, now, post},
};

#[tokio::test]
async fn processed_deliveries_reach_the_watch_stream_and_the_status() {
    let app = spawn_app().await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(60))).await;
    loop {
        if matches!(
            next_event(&mut stream).await.event,
            Some(Event::SnapshotEnd(_))
        ) {
            break;
        }
    }
    // The built-in vercel type: a failed production deployment shows as ERROR.
    let secret = "vercel-webhook-secret";
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut request = crate::connections::create_request(
        "acme",
        "site",
        "vercel",
        crate::connections::settings(&[("project_id", crate::connections::s("prj_1"))]),
    );
    request.webhook_secret = secret.into();
    let connection = app
        .registry(Some(&owner))
        .create_connection(request)
        .await
        .expect("create")
        .into_inner();
    let body = serde_json::to_vec(&json!({
        "type": "deployment.error",
        "id": "evt_1",
        "payload": {"target": "production", "deployment": {"id": "dpl_1", "url": "site-abc.vercel.app"}}
    }))
    .expect("json");
    let reply = post(
        &app,
        &connection.webhook_key,
        &sign("vercel", secret, &body, now(), "", ""),
    )
    .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let delivery_id = reply.body["delivery_id"].as_str().expect("id").to_owned();

    let (mut received, mut failed) = (None, None);
    while received.is_none() || failed.is_none() {
        match next_event(&mut stream).await.event {
            Some(Event::WebhookReceived(w)) => received = Some(w),
            Some(Event::ItemChanged(item))
                if item.item.as_ref().is_some_and(|i| {
                    i.summary.contains("deployment failed") || i.summary == "A deployment failed"
                }) =>
            {
                failed = item.item
            }
            _ => {}
        }
    }
    let received = received.expect("webhook_received");
    assert_eq!(received.connection, connection.name);
    assert_eq!(received.event_type, "deployment.error");
    assert!(
        received.delivery.ends_with(&delivery_id),
        "{}",
        received.delivery
    );
    let failed = failed.expect("item_changed");
    assert_eq!(
        patchbay::proto::v1::StatusLevel::try_from(failed.status),
        Ok(patchbay::proto::v1::StatusLevel::Error)
    );
    let row = app
        .db()
        .await
        .query_one(
            "SELECT d.state, d.event_type, c.last_webhook_time IS NOT NULL \
             FROM webhook_deliveries d JOIN connections c ON c.project = d.project AND c.id = d.connection_id",
            &[],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), "processed");
    assert_eq!(row.get::<_, String>(1), "deployment.error");
    assert!(
        row.get::<_, bool>(2),
        "the connection notes its last webhook"
    );
}

#[tokio::test]
async fn failing_deliveries_are_retried_then_dead_lettered() {
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            max_attempts: 3,
            retry_base: Duration::from_millis(20),
            poll: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    let reply = post(
        &app,
        &connection.webhook_key,
        &sign(
            "github",
            &secret,
            br#"{"truncated": "#,
            now(),
            &new_id(),
            "",
        ),
    )
    .await;
    assert_eq!(reply.status, 202, "accepted: the signature is valid");
    let db = app.db().await;
    let mut seen_retrying = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = db
            .query_one(
                "SELECT state, attempts, last_error FROM webhook_deliveries",
                &[],
            )
            .await
            .expect("row");
        let (state, attempts, error): (String, i32, String) = (row.get(0), row.get(1), row.get(2));
        seen_retrying |= state == "retrying";
        if state == "dead_letter" {
            assert_eq!(attempts, 3);
            assert!(error.contains("not valid JSON"), "{error}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered: {state} after {attempts}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_retrying, "it was retried before being dead-lettered");
}
