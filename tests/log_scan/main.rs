//! The log scan, run by `scripts/test` after every other test: each secret
//! the suite recorded (JWT keys and tokens, encryption keys, credentials,
//! webhook secrets, tokens the fake providers issued) is looked for in each
//! log line the suite's servers wrote.
//!
//! The files come from the suite's runs (`tests/api/log_scan.rs` and the
//! clients' tests): `*.secrets` hold one JSON string per line, `*.log` one
//! log line per line.

mod scan;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use scan::{MIN_LEN, Scanner, masked};

fn dir() -> PathBuf {
    std::env::var_os("PATCHBAY_LOG_SCAN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("log-scan"))
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

fn main() -> ExitCode {
    let dir = dir();
    let recorded = files_ending(&dir, ".secrets")
        .iter()
        .flat_map(|file| {
            read(file)
                .lines()
                .filter_map(|line| serde_json::from_str::<String>(line).ok())
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    let scanner = Scanner::new(recorded);
    if scanner.secrets() == 0 {
        eprintln!(
            "log scan: no secrets recorded in {}; run the suite first (scripts/test does)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let logs = files_ending(&dir, ".log");
    let (mut lines, mut bytes, mut leaks) = (0, 0, Vec::new());
    for file in &logs {
        let log = read(file);
        lines += log.lines().count();
        bytes += log.len();
        for leak in scanner.leaks(&log) {
            let line = log.lines().nth(leak.line - 1).unwrap_or_default();
            leaks.push(format!(
                "{}:{}: {}\n    {}",
                file.display(),
                leak.line,
                masked(&leak.secret),
                line.chars().take(400).collect::<String>()
            ));
        }
    }
    println!(
        "log scan: {} secrets in {lines} log lines ({:.1} MB, {} files); \
         {} recorded values under {MIN_LEN} chars not looked for",
        scanner.secrets(),
        bytes as f64 / 1e6,
        logs.len(),
        scanner.too_short,
    );
    if leaks.is_empty() {
        println!("log scan: no secret in any line");
        return ExitCode::SUCCESS;
    }
    eprintln!("log scan: {} lines hold a secret:", leaks.len());
    for leak in leaks.iter().take(50) {
        eprintln!("{leak}");
    }
    ExitCode::FAILURE
}
