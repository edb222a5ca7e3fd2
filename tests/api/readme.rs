//! The README's walkthrough runs top to bottom as written, against the real
//! binary; and the documentation it links is in the repository.

use std::{net::TcpListener, path::Path, process::Stdio, time::Duration};

use nix::{
    sys::signal::{Signal, killpg},
    unistd::Pid,
};
use tokio::process::Command;

use crate::{database, helpers::tool};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn readme() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md")
}

/// The ```sh blocks between two headings, in order.
fn shell_blocks(text: &str, from: &str, to: &str) -> Vec<String> {
    let start = text.find(from).expect("the walkthrough's heading");
    let end = start + text[start..].find(to).expect("the heading after it");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text[start..end].lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn the_readme_links_documentation_the_repository_has() {
    let text = readme();
    assert!(!text.contains("../shared"), "a clone has no ../shared");
    for (i, _) in text.match_indices("](docs/") {
        let link = &text[i + 2..];
        let target = &link[..link.find([')', '#']).expect("a closed link")];
        assert!(
            Path::new(ROOT).join(target).is_file(),
            "README links {target}, which is missing"
        );
    }
}

#[tokio::test]
async fn the_readme_walkthrough_runs_top_to_bottom_as_written() {
    if tool("grpcurl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database::fresh_database().await;
    let (grpc, http, site) = (free_port(), free_port(), free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .arg("serve")
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--http-addr", &format!("127.0.0.1:{http}")])
        .current_dir(dir.path())
        .env("DATABASE_URL", database::conninfo(&db))
        .env(
            "PATCHBAY_ENCRYPTION_KEYS",
            "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .env_remove("PATCHBAY_JWT_SECRET")
        .env_remove("PATCHBAY_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start patchbay serve");
    crate::log_scan::keep_stderr(&mut server);
    crate::log_scan::keyring_spec("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
    let ready = format!("http://127.0.0.1:{http}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(tokio::time::Instant::now() < deadline, "serve never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // As written, but on this test's ports, with the built binary for
    // `cargo run`, and from a scratch directory.
    let script = shell_blocks(&readme(), "## Talking to it", "## Configuration")
        .join("\n")
        .replace("cargo run --release -q --", env!("CARGO_BIN_EXE_patchbay"))
        .replace(
            "scripts/install-tools",
            &format!("{ROOT}/scripts/install-tools"),
        )
        .replace("127.0.0.1:50051", &format!("127.0.0.1:{grpc}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{http}"))
        .replace("9999", &site.to_string());
    assert!(script.contains("CreateConnection") && script.contains("kill $WATCH"));
    let walk = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("PATCHBAY_JWT_SECRET")
        .env_remove("PATCHBAY_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("run the walkthrough");
    let group = walk.id().and_then(|id| i32::try_from(id).ok());
    let output = tokio::time::timeout(Duration::from_secs(180), walk.wait_with_output()).await;
    // Whatever it left running in the background goes with it.
    if let Some(group) = group {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    let output = output.expect("the walkthrough finishes").expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    crate::log_scan::tokens_in(&stdout);
    stderr.lines().for_each(crate::log_scan::child_line);
    crate::log_scan::secrets_in_dir(&dir.path().join(".patchbay"));
    assert!(
        output.status.success(),
        "the walkthrough failed:\n{stdout}\n{stderr}"
    );
    for expected in [
        "\"snapshotEnd\"",
        "STATUS_LEVEL_ERROR",
        "\"delivery_id\"",
        "ACTION_STATE_PENDING",
        "HEALTH_STATE_HEALTHY",
        "DELIVERY_STATE_PROCESSED",
        "\"configFingerprint\"",
        "overall: ",
    ] {
        assert!(stdout.contains(expected), "no {expected} in:\n{stdout}");
    }
    server.kill().await.expect("stop serve");
}
