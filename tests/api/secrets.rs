//! Secrets stay secret: absent from every log line, and re-sealed under a
//! new key by rotation without loss.

use std::{
    collections::{BTreeMap, HashMap},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use patchbay::{
    auth::{KeySource, Role, TokenMinter},
    crypto::Keyring,
    names::ConnectionName,
    proto::v1::{
        GetConnectionRequest, ListConnectionsRequest, RotateWebhookSecretRequest,
        SetConnectionCredentialsRequest, integration_registry_client::IntegrationRegistryClient,
    },
    registry::{Registry, rotation},
    store,
};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader},
    process::Command,
};
use tonic::transport::Channel;

use crate::{
    connections::{create_github, create_request, github_settings},
    database,
    helpers::{TestOptions, spawn_app_with},
};

/// The real binary at trace level, with every log line captured: secrets
/// go through create, credentials, rotation, a refused request, reads.
#[tokio::test]
async fn secrets_never_reach_the_logs_at_any_level() {
    let database = database::fresh_database().await;
    let jwt_secret = "log-test-jwt-secret-of-at-least-32-bytes";
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--log", "trace", "--log-format", "json"])
        .env("DATABASE_URL", database::conninfo(&database))
        .env("PATCHBAY_JWT_SECRET", jwt_secret)
        .env(
            "PATCHBAY_ENCRYPTION_KEYS",
            "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .env_remove("PATCHBAY_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start patchbay serve");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));

    // The bound address is in the "serving" line.
    let mut logs = String::new();
    let grpc_addr = loop {
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(60), stderr.read_line(&mut line))
            .await
            .expect("serve logs within a minute")
            .expect("read stderr");
        assert!(read > 0, "serve exited before serving:\n{logs}");
        logs.push_str(&line);
        if line.contains("\"serving\"") {
            let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
            break event["fields"]["grpc_addr"]
                .as_str()
                .expect("grpc_addr")
                .to_owned();
        }
    };
    let collector = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest).await;
        rest
    });

    let minter = TokenMinter::new(
        &KeySource::from_secret(jwt_secret.as_bytes().to_vec()).expect("long enough"),
        None,
        None,
    )
    .expect("minter");
    let owner = minter
        .mint(
            "owner",
            &[("acme".to_owned(), Role::Owner)],
            false,
            Duration::from_secs(600),
        )
        .expect("token");
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut registry =
        IntegrationRegistryClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
            let value = format!("Bearer {owner}")
                .parse()
                .map_err(|_| tonic::Status::internal("header"))?;
            req.metadata_mut().insert("authorization", value);
            Ok(req)
        });

    let access_token = "ghp_LogCanaryAccessToken_7f3a9c";
    let supplied_secret = "whsec_SuppliedCanarySecret_51b2";
    let rotated_secret = "RotatedCanarySecret_0c8e";
    let mut request = create_request("acme", "gh", "github", github_settings());
    request.webhook_secret = supplied_secret.into();
    let created = registry
        .create_connection(request)
        .await
        .expect("create")
        .into_inner();
    let generated = registry
        .create_connection(create_request("acme", "gh2", "github", github_settings()))
        .await
        .expect("create with a generated secret")
        .into_inner()
        .webhook_secret;
    assert!(generated.starts_with("whsec_"));
    registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([("access_token".into(), access_token.into())]),
            etag: String::new(),
        })
        .await
        .expect("set credentials");
    registry
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: created.name.clone(),
            webhook_secret: rotated_secret.into(),
        })
        .await
        .expect("rotate");
    // A refused call with a secret in it must not log it either.
    let refused = registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: created.name.clone(),
            credentials: HashMap::from([("not_a_field".into(), access_token.into())]),
            etag: String::new(),
        })
        .await;
    assert!(refused.is_err());
    registry
        .get_connection(GetConnectionRequest { name: created.name })
        .await
        .expect("get");
    registry
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("list");

    let pid = Pid::from_raw(i32::try_from(child.id().expect("running")).expect("pid fits"));
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    logs.push_str(&collector.await.expect("collector"));

    // The capture holds the server's own spans and events, at trace level.
    assert!(
        logs.contains("connection created"),
        "no registry events captured"
    );
    assert!(
        logs.contains("SetConnectionCredentials"),
        "no RPC spans captured"
    );
    assert!(logs.contains("\"level\":\"TRACE\""), "not at trace level");
    for secret in [
        access_token,
        supplied_secret,
        rotated_secret,
        generated.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret}"
        );
    }
}

#[tokio::test]
async fn rotation_reseals_every_secret_under_the_new_key() {
    const OLD: [u8; 32] = [1; 32];
    const NEW: [u8; 32] = [9; 32];
    let old = Arc::new(Keyring::from_keys(vec![("k1".into(), OLD)]).expect("one key"));
    let app = spawn_app_with(TestOptions {
        keyring: Some(old.clone()),
        ..Default::default()
    })
    .await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let mut expected = BTreeMap::new();
    for i in 0..3 {
        let id = format!("gh-{i}");
        let created = create_github(&app, "acme", &id).await;
        let token = format!("ghp_token_{i}");
        registry
            .set_connection_credentials(SetConnectionCredentialsRequest {
                name: created.name.clone(),
                credentials: HashMap::from([("access_token".into(), token.clone())]),
                etag: String::new(),
            })
            .await
            .expect("set credentials");
        // A previous webhook secret to re-seal too.
        registry
            .rotate_webhook_secret(RotateWebhookSecretRequest {
                name: created.name.clone(),
                webhook_secret: String::new(),
            })
            .await
            .expect("rotate secret");
        expected.insert(id, token);
    }
    let database = app.database.clone();
    let db = app.db().await;
    app.stop().await.expect("clean stop");

    let new_only = Keyring::from_keys(vec![("k2".into(), NEW)]).expect("one key");
    let pool = store::pool(database, 2).expect("pool");
    let refused = rotation::reseal_all(&pool, &new_only).await;
    assert!(refused.is_err(), "rows under k1 need k1 to re-seal");

    // How an operator rotates: the new key first, the old one still listed.
    let rotating =
        Keyring::from_keys(vec![("k2".into(), NEW), ("k1".into(), OLD)]).expect("two keys");
    let count = rotation::reseal_all(&pool, &rotating)
        .await
        .expect("rotate");
    assert_eq!(count, 3);
    let again = rotation::reseal_all(&pool, &rotating)
        .await
        .expect("rotate again");
    assert_eq!(again, 0, "rotation is idempotent");

    let keys = db
        .query(
            "SELECT DISTINCT k FROM connections, \
             LATERAL (VALUES (credentials_key_id), (webhook_secret_key_id), (previous_webhook_secret_key_id)) v(k) \
             WHERE k IS NOT NULL",
            &[],
        )
        .await
        .expect("key ids");
    let keys: Vec<String> = keys.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, ["k2"]);

    // Only the new key is needed now, and every credential survived.
    let registry = Registry::new(pool, Arc::new(new_only), Duration::from_secs(60));
    for (id, token) in expected {
        let name = ConnectionName::parse(&format!("projects/acme/connections/{id}")).expect("name");
        let credentials = registry
            .credentials(&name)
            .await
            .expect("opens under k2")
            .expect("has credentials");
        assert_eq!(credentials.get("access_token"), Some(&token));
    }
}
