//! The suite's half of the log scan: every log line its servers write goes to
//! a file, and so does every secret the tests hand a server or get back from
//! one. `tests/log_scan.rs`, the last step of `scripts/test`, then looks for
//! each secret in each line.
//!
//! The in-process servers log through one global subscriber at `trace`, in
//! the JSON format production uses; servers run as child processes add the
//! lines they were captured with.

use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use nix::unistd::Pid;
use tracing_subscriber::{
    EnvFilter, Layer as _, fmt, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

/// Where the files go: `PATCHBAY_LOG_SCAN_DIR`, or the target's scratch
/// directory. `scripts/test` empties it before the suite runs.
pub fn dir() -> PathBuf {
    std::env::var_os("PATCHBAY_LOG_SCAN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("log-scan"))
}

struct Files {
    secrets: Mutex<File>,
    child_logs: Mutex<File>,
}

/// This process's files, named by its pid so parallel runs keep apart.
fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| Files {
        secrets: Mutex::new(open("secrets")),
        child_logs: Mutex::new(open("child.log")),
    })
}

fn open(kind: &str) -> File {
    let dir = dir();
    std::fs::create_dir_all(&dir).expect("create the log scan directory");
    remove_finished_runs(&dir);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("api-{}.{kind}", std::process::id())))
        .expect("open a log scan file")
}

/// The files of earlier runs of this suite: the scan covers the latest.
fn remove_finished_runs(dir: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("api-")
                .and_then(|rest| rest.split('.').next())
                .and_then(|pid| pid.parse::<i32>().ok());
            let running = |pid| nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok();
            if pid.is_some_and(|pid| !running(pid)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
}

/// Installs the global subscriber, once per process. `PATCHBAY_TEST_LOG`
/// (a filter) also shows the logs as text on stderr.
pub fn capture() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let file = fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(Mutex::new(open("log")))
            .with_filter(EnvFilter::new("trace"));
        let shown = std::env::var("PATCHBAY_TEST_LOG").ok().map(|filter| {
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(EnvFilter::new(filter))
        });
        tracing_subscriber::registry()
            .with(file)
            .with(shown)
            .try_init()
            .expect("the only global subscriber");
    });
}

/// A secret the suite used, as text.
pub fn secret(value: &str) {
    if value.is_empty() {
        return;
    }
    let line = serde_json::to_string(value).expect("a string serializes");
    let mut file = files().secrets.lock().unwrap_or_else(|e| e.into_inner());
    writeln!(file, "{line}").expect("record a secret");
}

/// A secret the suite used, as bytes: in the forms a log line could show it.
pub fn secret_bytes(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        secret(text);
    }
    secret(&STANDARD.encode(bytes));
    secret(&URL_SAFE_NO_PAD.encode(bytes));
    secret(&bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
}

/// The keys of a keyring spec (`id:base64,...`), as the server reads it.
pub fn keyring_spec(spec: &str) {
    for entry in spec.split(',') {
        if let Some((_, material)) = entry.split_once(':') {
            secret(material.trim());
        }
    }
}

/// Every JWT in `text` (a command's output that shows the tokens it minted).
pub fn tokens_in(text: &str) {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .filter(|word| word.starts_with("eyJ") && word.matches('.').count() == 2)
        .for_each(secret);
}

/// Every file in `dir`: the secrets a server generated into its data dir.
pub fn secrets_in_dir(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            secret_bytes(String::from_utf8_lossy(&bytes).trim().as_bytes());
            keyring_spec(String::from_utf8_lossy(&bytes).trim());
        }
    }
}

/// Keeps a child server's stderr, line by line, for the scan.
pub fn keep_stderr(child: &mut tokio::process::Child) {
    use tokio::io::AsyncBufReadExt as _;
    let Some(stderr) = child.stderr.take() else {
        return;
    };
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            child_line(&line);
        }
    });
}

/// A line a server run as a child process logged.
pub fn child_line(line: &str) {
    let mut file = files().child_logs.lock().unwrap_or_else(|e| e.into_inner());
    writeln!(file, "{line}").expect("record a child's log line");
}

/// The scan itself, as `tests/log_scan` runs it.
#[path = "../log_scan/scan.rs"]
mod scan;

#[test]
fn the_scan_finds_each_secret_raw_and_json_escaped_and_nothing_else() {
    let scanner = scan::Scanner::new([
        "plain-secret-1".to_owned(),
        "quote\"d-secret".to_owned(),
        "short".to_owned(),
    ]);
    let log = [
        r#"{"fields":{"message":"token plain-secret-1 seen"}}"#,
        r#"{"fields":{"message":"nothing here; plain-secret-2 differs"}}"#,
        r#"{"fields":{"value":"quote\"d-secret"}}"#,
        r#"{"fields":{"message":"short"}}"#,
    ]
    .join("\n");
    let leaks: Vec<(usize, String)> = scanner
        .leaks(&log)
        .into_iter()
        .map(|leak| (leak.line, leak.secret))
        .collect();
    assert_eq!(
        leaks,
        [
            (1, "plain-secret-1".to_owned()),
            (3, "quote\"d-secret".to_owned())
        ]
    );
    assert_eq!((scanner.secrets(), scanner.too_short), (2, 1));
    assert_eq!(scan::masked("plain-secret-1"), "plai… (14 chars)");
}
