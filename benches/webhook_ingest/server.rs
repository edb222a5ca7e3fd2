//! `patchbay serve` (release) for the benchmark: with metrics on or off,
//! optionally under callgrind, on the benchmark's database.

use std::{path::Path, process::Stdio};

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

/// A running server and the addresses it reported.
pub struct Server {
    pub child: Child,
    pub pid: u32,
    pub grpc_addr: String,
    pub http_addr: String,
}

#[derive(Clone, Copy)]
pub struct Launch<'a> {
    pub database_url: &'a str,
    pub encryption_keys: &'a str,
    pub jwt_secret: &'a str,
    pub metrics: bool,
    /// Under `valgrind --tool=callgrind`, instrumentation off until asked,
    /// writing to this file (`%p` is the pid).
    pub callgrind_out: Option<&'a Path>,
}

pub async fn start(launch: &Launch<'_>) -> Result<Server, Box<dyn std::error::Error>> {
    let binary = env!("CARGO_BIN_EXE_patchbay");
    let mut command = match launch.callgrind_out {
        Some(out) => {
            let mut c = Command::new("valgrind");
            c.args(["--tool=callgrind", "--instr-atstart=no", "-q"])
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(binary);
            c
        }
        None => Command::new(binary),
    };
    let mut child = command
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json", "--log", "warn,patchbay::app=info"])
        .arg(format!("--metrics={}", launch.metrics))
        // The load comes from one peer and one key: no limits in the way.
        .args([
            "--webhook-rate-per-key",
            "0",
            "--webhook-rate-per-peer",
            "0",
        ])
        .env("DATABASE_URL", launch.database_url)
        .env("PATCHBAY_ENCRYPTION_KEYS", launch.encryption_keys)
        .env("PATCHBAY_JWT_SECRET", launch.jwt_secret)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("server exited")?;
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    let (grpc_addr, http_addr) = loop {
        let line = lines
            .next_line()
            .await?
            .ok_or("serve exited before serving")?;
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
    Ok(Server {
        child,
        pid,
        grpc_addr,
        http_addr,
    })
}

/// Runs `callgrind_control` with `args` against `pid`.
pub async fn callgrind_control(pid: u32, args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    let status = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("callgrind_control {args:?} failed").into())
    }
}

/// The instructions a dump named `trigger` counted, from callgrind's files
/// under `dir` whose names start with `prefix`.
pub fn dumped_instructions(dir: &Path, prefix: &str, trigger: &str) -> u64 {
    let mut most = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let Ok(text) = std::fs::read(entry.path()) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        if !text.contains(&format!("desc: Trigger: dump {trigger}")) {
            continue;
        }
        for line in text.lines() {
            if let Some(rest) = line
                .strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
                && let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok())
            {
                most = most.max(n);
            }
        }
    }
    most
}
