//! The `patchbay` binary itself: `token`, `--help`, and `serve` on its
//! embedded PostgreSQL across `kill -9` and SIGTERM.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::Stdio,
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use patchbay::{
    auth::KeySource,
    config::AuthArgs,
    proto::v1::ListConnectionsRequest,
    store::{self, embedded},
};
use tokio::process::{Child, Command};

use crate::helpers::{TestOptions, spawn_app_with};

fn patchbay() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    // The binary must not pick up the test run's configuration.
    for var in ["DATABASE_URL", "PATCHBAY_JWT_SECRET", "PATCHBAY_DATA_DIR"] {
        cmd.env_remove(var);
    }
    cmd.kill_on_drop(true);
    cmd
}

fn no_auth_flags() -> AuthArgs {
    AuthArgs {
        jwt_secret: None,
        jwt_public_key: None,
        jwt_algorithm: None,
        jwt_issuer: None,
        jwt_audience: None,
    }
}

async fn mint_with_cli(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = patchbay()
        .args(["token", "--sub", "alice", "--project", "acme=owner"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run patchbay token");
    assert!(output.status.success(), "patchbay token failed: {output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    stdout
        .lines()
        .last()
        .expect("a last line")
        .trim()
        .to_owned()
}

async fn assert_accepted(app: &crate::helpers::TestApp, token: &str) {
    app.registry(Some(token))
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("the token authenticates and carries its project role");
}

#[tokio::test]
async fn a_token_minted_by_patchbay_token_is_accepted() {
    // The development secret kept in the data directory...
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let token = mint_with_cli(&["--data-dir", data_dir], &[]).await;
    let keys = KeySource::resolve(&no_auth_flags(), dir.path()).expect("dev secret");
    let app = spawn_app_with(TestOptions {
        keys: Some(keys),
        ..TestOptions::default()
    })
    .await;
    assert_accepted(&app, &token).await;

    // ...and a configured secret.
    let secret = "a-configured-secret-that-is-32-bytes-or-more";
    let token = mint_with_cli(&[], &[("PATCHBAY_JWT_SECRET", secret)]).await;
    let keys = crate::helpers::jwt_keys(secret.as_bytes());
    let app = spawn_app_with(TestOptions {
        keys: Some(keys),
        ..TestOptions::default()
    })
    .await;
    assert_accepted(&app, &token).await;
}

#[tokio::test]
async fn help_documents_the_options_and_their_environment_variables() {
    let output = patchbay()
        .args(["serve", "--help"])
        .output()
        .await
        .expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for wanted in [
        "--grpc-addr",
        "PATCHBAY_GRPC_ADDR",
        "--http-addr",
        "--data-dir",
        "PATCHBAY_DATA_DIR",
        "DATABASE_URL",
        "PATCHBAY_JWT_SECRET",
        "--log-format",
    ] {
        assert!(
            help.contains(wanted),
            "{wanted} missing from serve --help:\n{help}"
        );
    }
}

#[tokio::test]
async fn missing_postgres_binaries_name_the_package_to_install() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = patchbay()
        .args(["migrate", "--pg-bin-dir", "/nonexistent/bin", "--data-dir"])
        .arg(dir.path())
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

struct Served {
    child: Child,
    http: SocketAddr,
}

async fn serve(data_dir: &Path) -> Served {
    let (grpc, http) = (free_port(), free_port());
    let child = patchbay()
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--grpc-addr", &grpc.to_string()])
        .args(["--http-addr", &http.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start patchbay serve");
    let served = Served { child, http };
    wait_ready(&served).await;
    served
}

async fn wait_ready(served: &Served) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let ready = client
            .get(format!("http://{}/readyz", served.http))
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false);
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "serve never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let contents = std::fs::read_to_string(data_dir.join("pg/postmaster.pid")).ok()?;
    contents.lines().next()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

#[tokio::test]
async fn serve_reuses_its_embedded_database_after_kill_9_and_stops_it_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("state");
    let mut first = serve(&data_dir).await;

    // Commit something through the embedded server's own socket.
    let mut db = tokio_postgres::Config::new();
    db.host_path(data_dir.join("run"))
        .port(5432)
        .user("patchbay")
        .dbname(embedded::DATABASE);
    let client = store::connect(&db)
        .await
        .expect("connect to the embedded server");
    client
        .batch_execute("CREATE TABLE survives (v int); INSERT INTO survives VALUES (42);")
        .await
        .expect("commit a row");
    drop(client);

    // A second process on a live owner's data directory is refused: it
    // must not "take over" a server that is in use.
    let refused = patchbay()
        .args(["migrate", "--data-dir"])
        .arg(&data_dir)
        .output()
        .await
        .expect("run migrate");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("in use by another running Patchbay"),
        "{refused:?}"
    );
    assert!(alive(postmaster_pid(&data_dir).expect("running")));

    first.child.start_kill().expect("kill -9");
    first.child.wait().await.expect("reap");
    let orphan = postmaster_pid(&data_dir).expect("the killed server left its PostgreSQL");
    assert!(alive(orphan), "PostgreSQL outlives a kill -9 of its owner");

    let mut second = serve(&data_dir).await;
    assert!(
        !alive(orphan),
        "the second start took over and stopped the orphan"
    );
    let client = store::connect(&db).await.expect("connect again");
    let v: i32 = client
        .query_one("SELECT v FROM survives", &[])
        .await
        .expect("the committed row survived")
        .get(0);
    assert_eq!(v, 42);
    drop(client);

    let postmaster = postmaster_pid(&data_dir).expect("running");
    let pid = second.child.id().expect("running") as i32;
    kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(60), second.child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("reap");
    assert!(status.success(), "clean exit: {status:?}");
    assert!(!alive(postmaster), "no PostgreSQL is left behind");
    assert_eq!(
        postmaster_pid(&data_dir),
        None,
        "PostgreSQL shut down cleanly"
    );
}

#[tokio::test]
async fn patchbay_token_says_which_secret_it_signed_with() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let run = || async {
        let output = patchbay()
            .args(["token", "--sub", "alice", "--data-dir", data_dir])
            .output()
            .await
            .expect("run patchbay token");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stderr).expect("utf-8")
    };
    let first = run().await;
    assert!(
        first.starts_with("warning:") && first.contains(data_dir),
        "a new secret is announced, by where it is: {first}"
    );
    let second = run().await;
    assert!(
        !second.contains("warning") && second.contains(data_dir),
        "{second}"
    );
    let secret = std::fs::read_to_string(dir.path().join("jwt-secret")).expect("the secret");
    assert!(
        !first.contains(secret.trim()) && !second.contains(secret.trim()),
        "never the value"
    );
    let configured = patchbay()
        .args(["token", "--sub", "alice", "--data-dir", data_dir])
        .env(
            "PATCHBAY_JWT_SECRET",
            "a-configured-secret-of-32-bytes-or-more",
        )
        .output()
        .await
        .expect("run patchbay token");
    let stderr = String::from_utf8_lossy(&configured.stderr);
    assert!(stderr.contains("PATCHBAY_JWT_SECRET"), "{stderr}");
    assert!(!stderr.contains("a-configured-secret"), "{stderr}");
}
