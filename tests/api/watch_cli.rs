//! `patchbay watch`, piped: a line per status change on stdout, the
//! stream's news on stderr, a resume across a server restart, and a clean
//! exit on Ctrl-C.

use std::{process::Stdio, time::Duration};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use patchbay::auth::Role;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
    sync::mpsc,
};

use crate::{
    fakes::{FakeProvider, Reply},
    helpers::{TestOptions, spawn_app_with},
    status::{active_github, fast_app, fast_status, fresh_repo},
};

/// Every line the watcher writes, stdout and stderr, as it writes them.
struct Lines {
    rx: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Lines {
    /// Waits for a line matching `wanted` (20 s at most).
    async fn until(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let line = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no line {what}; saw:\n{}", self.seen.join("\n")))
                .unwrap_or_else(|| panic!("the watcher exited; saw:\n{}", self.seen.join("\n")));
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }
}

fn collect(
    reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    tx: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
}

#[tokio::test]
async fn the_watcher_prints_changes_resumes_across_a_restart_and_stops_on_ctrl_c() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = fast_app(&fake).await;
    let token = app.token("viewer", &[("acme", Role::Viewer)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["watch", "--project", "acme", "--heartbeat", "1s"])
        .args(["--server", &format!("http://{}", app.grpc_addr)])
        .args(["--token", &token])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start patchbay watch");
    let (tx, rx) = mpsc::unbounded_channel();
    collect(child.stdout.take().expect("stdout"), tx.clone());
    collect(child.stderr.take().expect("stderr"), tx);
    let mut lines = Lines {
        rx,
        seen: Vec::new(),
    };

    active_github(&app, "web").await;
    lines
        .until("web CONNECTED", |l| l.contains(" web CONNECTED github "))
        .await;

    let (database, keys, keyring, addr) = (
        app.database.clone(),
        app.keys.clone(),
        app.keyring.clone(),
        app.grpc_addr,
    );
    app.stop().await.expect("a clean stop");
    lines
        .until("saying the stream was lost", |l| {
            l.contains("watch: stream lost") && l.contains("resuming from seq")
        })
        .await;
    // What changes while the watcher is away reaches it after the resume.
    fake.set("/repos/acme/web", Reply::status(401));
    let again = spawn_app_with(TestOptions {
        database: Some(database),
        keys: Some(keys),
        keyring: Some(keyring),
        grpc_addr: Some(addr),
        status: fast_status(&fake),
        ..TestOptions::default()
    })
    .await;
    lines
        .until("saying it resumed", |l| l.contains("watch: resumed at seq"))
        .await;
    lines
        .until("web ERROR", |l| l.contains(" web ERROR github "))
        .await;

    let pid = Pid::from_raw(i32::try_from(child.id().expect("running")).expect("pid"));
    kill(pid, Signal::SIGINT).expect("Ctrl-C");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after Ctrl-C")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    drop(again);
}
