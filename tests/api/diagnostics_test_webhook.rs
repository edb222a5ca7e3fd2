//! SendTestWebhook: a sample event signed as each scheme's provider signs
//! it, posted to this deployment's own bridge, stored and seen on the watch.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{SendTestWebhookRequest, status_update::Event},
};
use tonic::Code;

use crate::{
    helpers::{TestOptions, assert_error, spawn_app, spawn_app_with},
    watch::{next_event, watch, watch_request},
    webhook_signing::{hook_connection, secret_for},
};

#[tokio::test]
async fn a_test_webhook_round_trips_through_the_bridge_to_the_watch() {
    let app = spawn_app().await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(60))).await;
    while !matches!(
        next_event(&mut stream).await.event,
        Some(Event::SnapshotEnd(_))
    ) {}
    let admin = app.token("admin", &[("acme", Role::Admin)]);
    // HubSpot signs the URL it calls; Standard Webhooks decodes its key.
    for scheme in ["standard", "hubspot", "stripe", "github", "shared-header"] {
        let id = format!("hook-{scheme}");
        let connection = hook_connection(&app, scheme, &id, &secret_for(scheme, 1)).await;
        let sent = app
            .diagnostics(Some(&admin))
            .send_test_webhook(SendTestWebhookRequest {
                connection: connection.name.clone(),
            })
            .await
            .expect("sent")
            .into_inner();
        assert_eq!(sent.status_code, 202, "{scheme}: {sent:?}");
        assert_eq!(
            sent.uri,
            format!(
                "http://{}/webhooks/{}",
                app.http_addr, connection.webhook_key
            )
        );
        assert!(sent.latency.is_some());
        assert!(
            sent.delivery
                .starts_with(&format!("{}/deliveries/", connection.name)),
            "{sent:?}"
        );
        let received = loop {
            if let Some(Event::WebhookReceived(w)) = next_event(&mut stream).await.event {
                break w;
            }
        };
        assert_eq!(received.delivery, sent.delivery, "{scheme}");
        assert_eq!(received.event_type, "patchbay.test", "{scheme}");
    }

    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let refused = app
        .diagnostics(Some(&editor))
        .send_test_webhook(SendTestWebhookRequest {
            connection: "projects/acme/connections/hook-standard".into(),
        })
        .await;
    assert_eq!(
        refused.expect_err("admins only").code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn a_public_url_that_does_not_reach_the_bridge_is_named() {
    let app = spawn_app_with(TestOptions {
        public_url: Some("http://127.0.0.1:9".into()),
        ..TestOptions::default()
    })
    .await;
    let connection = hook_connection(&app, "standard", "site", &secret_for("standard", 1)).await;
    let admin = app.token("admin", &[("acme", Role::Admin)]);
    let unreachable = app
        .diagnostics(Some(&admin))
        .send_test_webhook(SendTestWebhookRequest {
            connection: connection.name,
        })
        .await;
    assert_error(
        unreachable,
        Code::FailedPrecondition,
        "PUBLIC_URL_UNREACHABLE",
    );
}
