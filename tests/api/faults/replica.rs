//! `patchbay serve` as a child process: replicas of one deployment sharing
//! a database and keys, started, killed with SIGKILL or stopped with
//! SIGTERM, with every log line kept.

use std::{
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use patchbay::{
    auth::{Role, TokenMinter},
    crypto::Keyring,
    proto::v1::{
        action_service_client::ActionServiceClient,
        integration_registry_client::IntegrationRegistryClient,
        status_service_client::StatusServiceClient,
    },
};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};
use tonic::transport::Channel;

use crate::{
    database,
    helpers::{Authed, Bearer, TestOptions},
    log_scan,
    secret_tap::SecretTap,
};

const JWT_SECRET: &str = "fault-suite-jwt-secret-of-at-least-32-bytes";
const ENCRYPTION_KEYS: &str = "k1:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// What every replica of one deployment shares: its database and keys.
pub struct Deployment {
    pub database: tokio_postgres::Config,
    minter: TokenMinter,
}

impl Deployment {
    pub fn on(database: tokio_postgres::Config) -> Self {
        let keys = crate::helpers::jwt_keys(JWT_SECRET.as_bytes());
        log_scan::keyring_spec(ENCRYPTION_KEYS);
        Self {
            database,
            minter: TokenMinter::new(&keys, None, None).expect("HS256 mints"),
        }
    }

    /// On a fresh database of the shared test server.
    pub async fn fresh() -> Self {
        Self::on(database::fresh_database().await)
    }

    /// A replica with `args` added to `serve`, once it is serving.
    pub async fn start(&self, args: &[&str]) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
            .args([
                "serve",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(["--log-format", "json", "--log", "info,tokio_postgres=warn"])
            .args(["--shutdown-grace", "5s", "--health-interval", "200ms"])
            .args(args)
            .env("DATABASE_URL", database::conninfo(&self.database))
            .env("PATCHBAY_JWT_SECRET", JWT_SECRET)
            .env("PATCHBAY_ENCRYPTION_KEYS", ENCRYPTION_KEYS)
            .env_remove("PATCHBAY_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start patchbay serve");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let logs = Arc::new(Mutex::new(String::new()));
        let (grpc_addr, http_addr, id) = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("serving within a minute")
                .expect("read stderr");
            let Some(line) = line else {
                panic!("serve exited before serving:\n{}", lock(&logs));
            };
            push_line(&logs, &line);
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["fields"]["message"] == "serving" {
                let field = |name: &str| {
                    event["fields"][name]
                        .as_str()
                        .expect("an address")
                        .to_owned()
                };
                break (field("grpc_addr"), field("http_addr"), field("replica"));
            }
        };
        let collected = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                push_line(&collected, &line);
            }
        });
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .expect("uri")
            .connect_lazy();
        Replica {
            child,
            id,
            http_addr,
            channel,
            logs,
        }
    }

    pub fn token(&self, sub: &str, project: &str, role: Role) -> String {
        self.minter
            .mint(
                sub,
                &[(project.to_owned(), role)],
                false,
                Duration::from_secs(3600),
            )
            .inspect(|token| log_scan::secret(token))
            .expect("token")
    }

    /// What an in-process server needs to join the deployment as a replica.
    pub fn in_process_options(&self) -> TestOptions {
        TestOptions {
            database: Some(self.database.clone()),
            keys: Some(crate::helpers::jwt_keys(JWT_SECRET.as_bytes())),
            keyring: Some(Arc::new(Keyring::parse(ENCRYPTION_KEYS).expect("keys"))),
            ..TestOptions::default()
        }
    }

    /// A direct connection to the deployment's database.
    pub async fn db(&self) -> tokio_postgres::Client {
        patchbay::store::connect(&self.database)
            .await
            .expect("connect to the database")
    }
}

pub struct Replica {
    child: Child,
    /// The replica id its leases carry.
    pub id: String,
    pub http_addr: String,
    pub channel: Channel,
    logs: Arc<Mutex<String>>,
}

impl Replica {
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    pub fn registry(&self, token: &str) -> IntegrationRegistryClient<Authed> {
        IntegrationRegistryClient::with_interceptor(self.tapped(), Bearer::new(token))
    }

    pub fn status(&self, token: &str) -> StatusServiceClient<Authed> {
        StatusServiceClient::with_interceptor(self.tapped(), Bearer::new(token))
    }

    pub fn actions(&self, token: &str) -> ActionServiceClient<Authed> {
        ActionServiceClient::with_interceptor(self.tapped(), Bearer::new(token))
    }

    /// The channel, recording the secrets its calls carry.
    fn tapped(&self) -> SecretTap {
        SecretTap::new(self.channel.clone())
    }

    /// Asserts no line logged so far holds the deployment's keys or any
    /// of `secrets`.
    #[track_caller]
    pub fn assert_no_secrets_logged(&self, secrets: &[&str]) {
        let logs = lock(&self.logs);
        let key = ENCRYPTION_KEYS.split_once(':').map_or("", |(_, key)| key);
        crate::logged_server::assert_absent(&logs, &[JWT_SECRET, key]);
        crate::logged_server::assert_absent(&logs, secrets);
        assert!(logs.contains("\"serving\""), "the logs were kept");
    }

    /// Waits until a line logged holds `text`.
    pub async fn wait_for_log(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !lock(&self.logs).contains(text) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never logged {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`: no drain, no cleanup.
    pub async fn kill9(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reap");
    }

    /// Sends SIGTERM without waiting.
    pub fn sigterm(&self) {
        let pid = i32::try_from(self.child.id().expect("running")).expect("pid");
        kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM");
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn exited(&mut self, limit: Duration) -> ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("exits in time")
            .expect("reap")
    }

    /// Polls `/readyz` until its status is `wanted`; how long that took.
    pub async fn wait_ready(&self, wanted: u16, limit: Duration) -> Duration {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let started = tokio::time::Instant::now();
        loop {
            let status = http
                .get(self.http_url("/readyz"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == wanted {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "/readyz stayed {status}, wanted {wanted}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn lock(logs: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    logs.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn push_line(logs: &Mutex<String>, line: &str) {
    log_scan::child_line(line);
    let mut logs = lock(logs);
    logs.push_str(line);
    logs.push('\n');
}
