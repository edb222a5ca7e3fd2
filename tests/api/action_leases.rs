//! A worker killed mid-action: its lease expires and another replica
//! completes the action exactly once; one stopped cleanly mid-action
//! counts the attempt it gave back.

use std::{collections::HashMap, net::TcpListener, process::Stdio, time::Duration};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use patchbay::{
    actions::ActionConfig,
    auth::{KeySource, Role},
    crypto::Keyring,
    proto::v1::{ActionState, SetConnectionCredentialsRequest},
};
use serde_json::json;

use crate::{
    actions::{DISPATCH, fast_actions, owner, provider_status, start_request, wait_state},
    connections::create_request,
    database::{conninfo, fresh_database},
    fakes::{FakeProvider, Reply},
    helpers::{TestOptions, random_secret, spawn_app_with},
    status::active_github,
};

fn free_port() -> std::net::SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

#[tokio::test]
async fn a_worker_killed_mid_action_is_replaced_and_the_action_completes_once() {
    let fake = FakeProvider::start().await;
    // Replica A's request hangs: A is mid-action when it is killed.
    fake.set(
        DISPATCH,
        Reply::status(204).delayed(Duration::from_secs(60)),
    );
    let database = fresh_database().await;
    let jwt_secret = "kill-test-secret-kill-test-secret-kill-test";
    let key = [9u8; 32];
    let keys_spec = format!(
        "k1:{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
    );
    let (grpc, http) = (free_port(), free_port());
    let mut replica_a = tokio::process::Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .arg("serve")
        .args([
            "--grpc-addr",
            &grpc.to_string(),
            "--http-addr",
            &http.to_string(),
        ])
        .args(["--action-lease", "1s", "--provider-base-url"])
        .arg(format!("github={}", fake.url()))
        .env("DATABASE_URL", conninfo(&database))
        .env("PATCHBAY_ENCRYPTION_KEYS", &keys_spec)
        .env("PATCHBAY_JWT_SECRET", jwt_secret)
        .env_remove("PATCHBAY_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start replica A");

    // B shares A's database and keys; it starts only once A holds the action.
    let options = || TestOptions {
        database: Some(database.clone()),
        keys: Some(KeySource::from_secret(jwt_secret.as_bytes().to_vec()).expect("secret")),
        keyring: Some(std::sync::Arc::new(
            Keyring::parse(&keys_spec).expect("keys"),
        )),
        status: provider_status(&fake),
        actions: ActionConfig {
            lease: Duration::from_secs(1),
            ..fast_actions()
        },
        ..TestOptions::default()
    };
    let minter = patchbay::auth::TokenMinter::new(
        &KeySource::from_secret(jwt_secret.as_bytes().to_vec()).expect("secret"),
        None,
        None,
    )
    .expect("minter");
    let token: tonic::metadata::MetadataValue<_> = format!(
        "Bearer {}",
        minter
            .mint(
                "owner",
                &[("acme".to_owned(), Role::Owner)],
                false,
                Duration::from_secs(600)
            )
            .expect("mint")
    )
    .parse()
    .expect("header");
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
        .expect("uri")
        .connect_lazy();
    let authed = move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", token.clone());
        Ok(r)
    };
    let mut registry_a = patchbay::proto::v1::integration_registry_client::IntegrationRegistryClient::with_interceptor(channel.clone(), authed.clone());
    let mut actions_a =
        patchbay::proto::v1::action_service_client::ActionServiceClient::with_interceptor(
            channel, authed,
        );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let created = registry_a
            .create_connection(create_request(
                "acme",
                "web",
                "github",
                crate::connections::github_settings(),
            ))
            .await;
        if created.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica A never served: {created:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    while fake.hits_on(DISPATCH) < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A never ran the action"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pid = replica_a.id().expect("pid");
    kill(
        Pid::from_raw(i32::try_from(pid).expect("pid")),
        Signal::SIGKILL,
    )
    .expect("kill -9");
    replica_a.wait().await.expect("reaped");
    fake.set(DISPATCH, Reply::status(204));
    let replica_b = spawn_app_with(options()).await;

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
    let keyring = std::sync::Arc::new(Keyring::generate("shared"));
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
