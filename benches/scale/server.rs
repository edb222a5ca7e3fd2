//! `patchbay serve` (release) on the benchmark's database: how long it took
//! to become ready, its resident memory and its CPU time.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

pub const JWT_SECRET: &str = "scale-bench-jwt-secret-of-at-least-32-bytes";
const ENCRYPTION_KEYS: &str = "bench:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

pub struct Server {
    child: Child,
    pub pid: u32,
    pub grpc_addr: String,
    /// From spawn to `/readyz` answering 200.
    pub start_to_ready: Duration,
}

pub async fn start(
    database_url: &str,
    args: &[&str],
) -> Result<Server, Box<dyn std::error::Error>> {
    let spawned = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json", "--log", "warn,patchbay::app=info"])
        .args([
            "--metrics=false",
            "--grpc-rate-per-caller",
            "0",
            "--grpc-rate-per-peer",
            "0",
        ])
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("PATCHBAY_ENCRYPTION_KEYS", ENCRYPTION_KEYS)
        .env("PATCHBAY_JWT_SECRET", JWT_SECRET)
        .env_remove("PATCHBAY_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("server exited")?;
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    let mut logged = String::new();
    let (grpc_addr, http_addr) = loop {
        let line = lines
            .next_line()
            .await?
            .ok_or_else(|| format!("serve exited before serving:\n{logged}"))?;
        logged.push_str(&line);
        logged.push('\n');
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
            && event["fields"]["message"] == "serving"
        {
            let field = |name: &str| event["fields"][name].as_str().map(str::to_owned);
            break (
                field("grpc_addr").ok_or("no grpc_addr")?,
                field("http_addr").ok_or("no http_addr")?,
            );
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http = reqwest::Client::new();
    loop {
        let ready = http
            .get(format!("http://{http_addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Server {
        child,
        pid,
        grpc_addr,
        start_to_ready: spawned.elapsed(),
    })
}

impl Server {
    /// Resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// User plus system CPU time so far, in clock ticks (1/100 s).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are fields 14 and 15; 3 is the first after ')'.
        let at = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        at(14) + at(15)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
