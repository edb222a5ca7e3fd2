//! The real binary with every log line captured (JSON, trace level), for
//! tests that look for secrets in the logs.

use std::{process::Stdio, time::Duration};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use patchbay::auth::{Role, TokenMinter};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
    task::JoinHandle,
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use crate::{
    database,
    helpers::{Authed, Bearer},
    log_scan,
    secret_tap::SecretTap,
};

const JWT_SECRET: &str = "log-test-jwt-secret-of-at-least-32-bytes";
const ENCRYPTION_KEYS: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

pub struct LoggedServer {
    child: Child,
    pub grpc_addr: String,
    logs: String,
    collector: JoinHandle<String>,
    minter: TokenMinter,
}

impl LoggedServer {
    /// `patchbay serve` on a fresh database with `args` added.
    pub async fn start(args: &[String]) -> Self {
        let database = database::fresh_database().await;
        log_scan::keyring_spec(ENCRYPTION_KEYS);
        let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
            .args([
                "serve",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(["--log", "trace", "--log-format", "json"])
            .args(args)
            .env("DATABASE_URL", database::conninfo(&database))
            .env("PATCHBAY_JWT_SECRET", JWT_SECRET)
            .env("PATCHBAY_ENCRYPTION_KEYS", ENCRYPTION_KEYS)
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
                let event: serde_json::Value =
                    serde_json::from_str(&line).expect("a JSON log line");
                break event["fields"]["grpc_addr"]
                    .as_str()
                    .expect("grpc_addr")
                    .to_owned();
            }
        };
        logs.lines().for_each(log_scan::child_line);
        // Each line is kept for the scan as it comes, so a test that fails
        // half-way still leaves its server's logs behind.
        let collector = tokio::spawn(async move {
            let mut rest = String::new();
            let mut line = String::new();
            while stderr.read_line(&mut line).await.unwrap_or(0) > 0 {
                log_scan::child_line(line.trim_end_matches('\n'));
                rest.push_str(&line);
                line.clear();
            }
            rest
        });
        let minter = TokenMinter::new(&crate::helpers::jwt_keys(JWT_SECRET.as_bytes()), None, None)
            .expect("minter");
        Self {
            child,
            grpc_addr,
            logs,
            collector,
            minter,
        }
    }

    pub fn token(&self, sub: &str, project: &str, role: Role) -> String {
        self.minter
            .mint(
                sub,
                &[(project.to_owned(), role)],
                false,
                Duration::from_secs(600),
            )
            .inspect(|token| log_scan::secret(token))
            .expect("token")
    }

    /// A channel whose calls carry `token`.
    pub async fn channel(&self, token: &str) -> Authed {
        let channel = Channel::from_shared(format!("http://{}", self.grpc_addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        InterceptedService::new(SecretTap::new(channel), Bearer::new(token))
    }

    /// SIGTERM, a clean exit, and every line logged.
    pub async fn stop(mut self) -> String {
        let pid = Pid::from_raw(i32::try_from(self.child.id().expect("running")).expect("pid"));
        kill(pid, Signal::SIGTERM).expect("SIGTERM");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops within 30 s")
            .expect("wait");
        assert!(status.success(), "{status:?}");
        self.logs
            .push_str(&self.collector.await.expect("collector"));
        assert!(
            self.logs.contains("\"level\":\"TRACE\""),
            "not at trace level"
        );
        self.logs
    }
}

#[track_caller]
pub fn assert_absent(logs: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret}"
        );
    }
}
