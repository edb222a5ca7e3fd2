//! The built-in Slack type end to end against a fake Slack: `auth.test` as
//! the probe, `post-message` to the configured channel, and Slack-signed
//! Events API requests.

use patchbay::{auth::Role, proto::v1::StatusLevel};
use serde_json::{Value, json};

use crate::{
    action_effects::{result, run},
    connections::{s, settings},
    fakes::{FakeProvider, Reply},
    probe_actions::error_reason,
    provider_setup::{app_calling, connect, run_to_end, signed_webhooks_reach_watchers},
    status::{level, wait_for},
};

const BOT_TOKEN: &str = "xoxb-fake";
const SIGNING_SECRET: &str = "slack-signing-secret-e2e";

fn auth_ok() -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "team": "Acme", "user": "patchbay-bot", "team_id": "T1"}),
    )
}

async fn slack_app(fake: &FakeProvider) -> crate::helpers::TestApp {
    let app = app_calling(fake, "slack").await;
    connect(
        &app,
        "chat",
        "slack",
        settings(&[("channel", s("C0123"))]),
        &[("bot_token", BOT_TOKEN)],
        SIGNING_SECRET,
    )
    .await;
    app
}

#[tokio::test]
async fn slack_probes_with_auth_test_and_reads_errors_from_the_body() {
    let fake = FakeProvider::start().await;
    fake.set("/api/auth.test", auth_ok());
    let app = slack_app(&fake).await;
    let item = wait_for(&app, "chat", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    assert_eq!(item.summary, "patchbay-bot in workspace Acme");
    let seen = fake.seen();
    let asked = seen
        .iter()
        .find(|s| s.path == "/api/auth.test")
        .expect("auth.test was called");
    assert_eq!(
        asked
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer xoxb-fake")
    );

    // Slack says "no" with a 200 and `ok: false`.
    fake.set(
        "/api/auth.test",
        Reply::json(200, json!({"ok": false, "error": "invalid_auth"})),
    );
    let failed = run_to_end(&app, "chat", "test-connection", json!({})).await;
    assert_eq!(error_reason(&failed), "UNAUTHORIZED");
}

#[tokio::test]
async fn post_message_sends_the_text_to_the_configured_channel() {
    let fake = FakeProvider::start().await;
    fake.set("/api/auth.test", auth_ok());
    fake.set(
        "/api/chat.postMessage",
        Reply::json(
            200,
            json!({"ok": true, "channel": "C0123", "ts": "1700000000.000100"}),
        ),
    );
    let app = slack_app(&fake).await;

    let posted = run(
        &app,
        Role::Editor,
        "chat",
        "post-message",
        json!({"text": "Deploy finished"}),
    )
    .await;
    assert_eq!(
        result(&posted),
        json!({"channel": "C0123", "ts": "1700000000.000100"})
    );
    let sent: Vec<Value> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/chat.postMessage")
        .map(|s| serde_json::from_slice(&s.body).expect("json body"))
        .collect();
    assert_eq!(
        sent,
        [json!({"channel": "C0123", "text": "Deploy finished"})]
    );

    // No text: the caller's error, and nothing is sent.
    let refused = run_to_end(&app, "chat", "post-message", json!({})).await;
    assert_eq!(
        refused.error.as_ref().map(|e| e.code),
        Some(tonic::Code::InvalidArgument as i32)
    );
    // A channel the bot is not in is a configuration problem, not retried.
    fake.set(
        "/api/chat.postMessage",
        Reply::json(200, json!({"ok": false, "error": "not_in_channel"})),
    );
    let failed = run_to_end(&app, "chat", "post-message", json!({"text": "hi"})).await;
    assert_eq!(error_reason(&failed), "MISCONFIGURED");
    assert_eq!(failed.attempts, 1);
    assert_eq!(fake.hits_on("/api/chat.postMessage"), 2);
}

#[tokio::test]
async fn slack_signed_events_are_verified_and_processed() {
    let fake = FakeProvider::start().await;
    fake.set("/api/auth.test", auth_ok());
    let app = slack_app(&fake).await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let connection = app
        .registry(Some(&owner))
        .get_connection(patchbay::proto::v1::GetConnectionRequest {
            name: "projects/acme/connections/chat".into(),
        })
        .await
        .expect("get")
        .into_inner();
    let body =
        br#"{"type":"event_callback","team_id":"T1","event":{"type":"app_mention","text":"hi"}}"#;
    let received =
        signed_webhooks_reach_watchers(&app, &connection, "slack", SIGNING_SECRET, body).await;
    assert_eq!(received.event_type, "event_callback");
}
