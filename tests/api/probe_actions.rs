//! Actions that probe (test-connection) against live providers: they report
//! what the provider answers now, wait for a probe in flight instead of
//! failing, and never run a second probe of a connection at once, across
//! replicas or within one. A forced probe in flight at shutdown still
//! stores its result.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{Action, ActionState, RefreshStatusRequest, StatusLevel, refresh_status_response},
    status::circuit::ProbePolicy,
};
use tonic_types::StatusExt as _;

use crate::{
    action_effects::result,
    actions::{fast_actions, provider_status, start_request, state},
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, random_secret, spawn_app_with},
    status::{active_github, fresh_repo, level, wait_for},
};

const REPO: &str = "/repos/acme/web";

/// The ErrorInfo reason of a failed action's error.
pub fn error_reason(action: &Action) -> String {
    let error = action.error.as_ref().expect("a failed action has an error");
    let status = tonic::Status::with_details(
        tonic::Code::from(error.code),
        error.message.clone(),
        prost::Message::encode_to_vec(error).into(),
    );
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// Polls until the action has ended (20 s at most).
pub async fn ended(app: &TestApp, name: &str) -> Action {
    let token = app.token("owner", &[("acme", Role::Owner)]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let action = app
            .actions(Some(&token))
            .get_action(patchbay::proto::v1::GetActionRequest { name: name.into() })
            .await
            .expect("get")
            .into_inner();
        if matches!(
            state(&action),
            ActionState::Succeeded | ActionState::Failed | ActionState::Cancelled
        ) {
            return action;
        }
        assert!(tokio::time::Instant::now() < deadline, "{action:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn start(app: &TestApp, action: &str) -> String {
    let token = app.token("editor", &[("acme", Role::Editor)]);
    app.actions(Some(&token))
        .start_action(start_request("web", action, serde_json::json!({})))
        .await
        .expect("start")
        .into_inner()
        .name
}

/// Probes every ~100 ms with a 2 s timeout; actions retry fast.
fn options(fake: &FakeProvider) -> TestOptions {
    TestOptions {
        status: provider_status(fake),
        actions: fast_actions(),
        ..TestOptions::default()
    }
}

#[tokio::test]
async fn test_connection_reports_the_live_answer_not_the_stale_fallback() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = spawn_app_with(options(&fake)).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    // The provider stops answering within the probe timeout (2 s).
    fake.set(
        REPO,
        Reply::json(200, serde_json::json!({})).delayed(Duration::from_secs(4)),
    );
    let failed = ended(&app, &start(&app, "test-connection").await).await;
    assert_eq!(state(&failed), ActionState::Failed, "{failed:#?}");
    assert_eq!(error_reason(&failed), "TIMEOUT");
    assert_eq!(failed.attempts, 1, "a test's answer is not retried");
}

#[tokio::test]
async fn test_connection_waits_for_a_probe_in_flight_on_one_replica() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = spawn_app_with(options(&fake)).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    // Every probe now takes 300 ms, and background ones come every ~100 ms:
    // each test-connection starts while one is in flight.
    let when = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    fake.set(
        REPO,
        Reply::json(
            200,
            serde_json::json!({"default_branch": "main", "private": true, "pushed_at": when}),
        )
        .delayed(Duration::from_millis(300)),
    );
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(start(&app, "test-connection").await);
    }
    for name in &names {
        let done = ended(&app, name).await;
        assert_eq!(state(&done), ActionState::Succeeded, "{done:#?}");
        assert_eq!(result(&done)["status"], "CONNECTED");
        assert_eq!(done.attempts, 1, "waiting for the lease costs no attempt");
    }
    assert_eq!(
        fake.max_in_flight(REPO),
        1,
        "one probe of a connection at a time"
    );
}

#[tokio::test]
async fn test_connections_on_two_replicas_during_background_probes_all_succeed() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let keys = random_secret();
    let keyring = crate::helpers::random_keyring("shared");
    let first = spawn_app_with(TestOptions {
        keys: Some(keys.clone()),
        keyring: Some(keyring.clone()),
        ..options(&fake)
    })
    .await;
    let second = spawn_app_with(TestOptions {
        database: Some(first.database.clone()),
        keys: Some(keys),
        keyring: Some(keyring),
        ..options(&fake)
    })
    .await;
    active_github(&first, "web").await;
    wait_for(&first, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    let when = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    fake.set(
        REPO,
        Reply::json(
            200,
            serde_json::json!({"default_branch": "main", "private": true, "pushed_at": when}),
        )
        .delayed(Duration::from_millis(400)),
    );
    let mut names = Vec::new();
    for app in [&first, &second, &first, &second, &first, &second] {
        names.push(start(app, "test-connection").await);
    }
    for name in &names {
        let done = ended(&first, name).await;
        assert_eq!(state(&done), ActionState::Succeeded, "{done:#?}");
        assert_eq!(result(&done)["status"], "CONNECTED", "the live answer");
    }
    assert_eq!(
        fake.max_in_flight(REPO),
        1,
        "one probe at a time, cluster-wide"
    );
}

#[tokio::test]
async fn a_forced_probe_in_flight_at_shutdown_stores_its_result() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let mut status = provider_status(&fake);
    // No background probe after the first: only the forced one runs.
    status.prober.policy = ProbePolicy {
        ttl: (Duration::from_secs(3600), Duration::from_secs(3600)),
        ..status.prober.policy
    };
    let app = spawn_app_with(TestOptions {
        status,
        ..TestOptions::default()
    })
    .await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    let seen = fake.hits_on(REPO);
    // The provider now refuses the token, slowly.
    fake.set(REPO, Reply::status(401).delayed(Duration::from_millis(800)));
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let mut client = app.status(Some(&editor));
    let refresh = tokio::spawn(async move {
        client
            .refresh_status(RefreshStatusRequest {
                name: "projects/acme/connections/web".into(),
            })
            .await
    });
    while fake.hits_on(REPO) == seen {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let db = app.db().await;
    app.stop().await.expect("a clean stop");
    let answered = refresh
        .await
        .expect("the refresh task")
        .expect("the refresh finishes during the drain")
        .into_inner();
    let Some(refresh_status_response::Result::ConnectionStatus(item)) = answered.result else {
        panic!("a connection's status")
    };
    assert_eq!(level(&item), StatusLevel::Error);
    let stored: serde_json::Value = db
        .query_one(
            "SELECT item::jsonb FROM connection_status WHERE project = 'acme' AND id = 'web'",
            &[],
        )
        .await
        .expect("status row")
        .get(0);
    assert_eq!(stored["level"], "error", "the answered result was stored");
    let logged: i64 = db
        .query_one(
            "SELECT count(*) FROM status_events \
             WHERE payload::jsonb->>'kind' = 'item_changed' \
               AND payload::jsonb#>>'{item,level}' = 'error'",
            &[],
        )
        .await
        .expect("events")
        .get(0);
    assert_eq!(logged, 1, "and its event written, so other replicas see it");
}
