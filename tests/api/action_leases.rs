//! A worker killed mid-action: its lease expires and another replica
//! completes the action exactly once; one stopped cleanly mid-action
//! counts the attempt it gave back.

use std::{collections::HashMap, time::Duration};

use patchbay::{
    actions::ActionConfig,
    auth::Role,
    proto::v1::{ActionState, SetConnectionCredentialsRequest},
};
use serde_json::json;

use crate::{
    actions::{DISPATCH, fast_actions, owner, provider_status, start_request, wait_state},
    connections::create_request,
    fakes::{FakeProvider, Reply},
    faults::replica::Deployment,
    helpers::{TestOptions, random_secret, spawn_app_with},
    status::active_github,
};

#[tokio::test]
async fn a_worker_killed_mid_action_is_replaced_and_the_action_completes_once() {
    let fake = FakeProvider::start().await;
    // Replica A's request hangs: A is mid-action when it is killed.
    fake.set(
        DISPATCH,
        Reply::status(204).delayed(Duration::from_secs(60)),
    );
    let deployment = Deployment::fresh().await;
    let mut replica_a = deployment
        .start(&[
            "--action-lease",
            "1s",
            "--provider-base-url",
            &format!("github={}", fake.url()),
        ])
        .await;
    let token = deployment.token("owner", "acme", Role::Owner);
    let (mut registry_a, mut actions_a) = (replica_a.registry(&token), replica_a.actions(&token));
    registry_a
        .create_connection(create_request(
            "acme",
            "web",
            "github",
            crate::connections::github_settings(),
        ))
        .await
        .expect("create on A");
    registry_a
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: "projects/acme/connections/web".into(),
            credentials: HashMap::from([("access_token".into(), "ghp_test".into())]),
            etag: String::new(),
        })
        .await
        .expect("credentials");
    let started = actions_a
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start on A")
        .into_inner();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fake.hits_on(DISPATCH) < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A never ran the action"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    replica_a.kill9().await;
    fake.set(DISPATCH, Reply::status(204));
    // B shares A's database and keys.
    let replica_b = spawn_app_with(TestOptions {
        status: provider_status(&fake),
        actions: ActionConfig {
            lease: Duration::from_secs(1),
            ..fast_actions()
        },
        ..deployment.in_process_options()
    })
    .await;

    let done = wait_state(&replica_b, &started.name, ActionState::Succeeded).await;
    assert_eq!(done.attempts, 2, "A's attempt, then B's");
    assert_eq!(fake.hits_on(DISPATCH), 2);
    assert_eq!(done.unconfirmed_repeats, 1, "a repeat nothing could check");
    let succeeded: i64 = replica_b
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM status_events WHERE kind = 'action_progress' \
             AND payload ->> 'action' = $1 AND payload ->> 'state' = 'SUCCEEDED'",
            &[&started.name],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(succeeded, 1, "completed exactly once");
}

/// A clean shutdown lets an effect in flight finish within its grace and
/// records it, rather than dropping it for the next replica to repeat.
#[tokio::test]
async fn an_effect_in_flight_at_shutdown_finishes_and_is_not_repeated() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(204).delayed(Duration::from_secs(2)));
    let keys = random_secret();
    let keyring = crate::helpers::random_keyring("shared");
    let options = |database| TestOptions {
        database,
        keys: Some(keys.clone()),
        keyring: Some(keyring.clone()),
        status: provider_status(&fake),
        actions: fast_actions(),
        ..TestOptions::default()
    };
    let first = spawn_app_with(options(None)).await;
    active_github(&first, "web").await;
    let started = first
        .actions(Some(&owner(&first)))
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start")
        .into_inner();
    while fake.hits_on(DISPATCH) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let database = first.database.clone();
    first.stop().await.expect("a clean stop");
    let second = spawn_app_with(options(Some(database))).await;
    let done = wait_state(&second, &started.name, ActionState::Succeeded).await;
    assert_eq!(fake.hits_on(DISPATCH), 1, "the effect ran once");
    assert_eq!(done.attempts, 1, "in the first replica's attempt");
    assert_eq!(done.unconfirmed_repeats, 0);
}
