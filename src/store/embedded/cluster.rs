//! The cluster's life on disk and as a process: initdb, a server left
//! behind by a killed Patchbay, starting the postmaster, waiting for it, and
//! the database Patchbay uses.

use std::{
    fs,
    os::unix::process::CommandExt as _,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio_postgres::NoTls;

use super::{
    DATABASE, EmbeddedError, EmbeddedPostgres, SOCKET_PORT, START_TIMEOUT, STOP_TIMEOUT, SUPERUSER,
    host::{is_postgres_process, log_tail, read_postmaster_pid, wait_for_exit},
};

impl EmbeddedPostgres {
    pub(super) fn initdb(&self) -> Result<(), EmbeddedError> {
        tracing::info!(pgdata = %self.pgdata.display(), "initialising embedded PostgreSQL");
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.pgdata)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ])
            .args(if self.ephemeral {
                &["--no-sync"][..]
            } else {
                &[]
            })
            .output()
            .map_err(|source| EmbeddedError::Io {
                action: "running initdb",
                path: self.bin_dir.join("initdb"),
                source,
            })?;
        if !output.status.success() {
            return Err(EmbeddedError::InitDb {
                status: output.status.to_string(),
                log: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(())
    }

    /// A postmaster from an earlier run whose owner was killed: stop it
    /// cleanly so this process owns the one it talks to.
    pub(super) async fn stop_left_behind_server(&self) -> Result<(), EmbeddedError> {
        let Some(pid) = read_postmaster_pid(&self.pgdata) else {
            return Ok(());
        };
        if !is_postgres_process(pid) {
            // A stale pid file: PostgreSQL removes it itself and recovers.
            return Ok(());
        }
        tracing::warn!(
            pid,
            "found a PostgreSQL left running by an earlier Patchbay; stopping it cleanly"
        );
        let pid = Pid::from_raw(pid);
        tokio::task::spawn_blocking(move || {
            let _ = kill(pid, Signal::SIGINT);
            wait_for_exit(pid, STOP_TIMEOUT) || {
                let _ = kill(pid, Signal::SIGQUIT);
                wait_for_exit(pid, Duration::from_secs(10))
            }
        })
        .await
        .ok()
        .filter(|stopped| *stopped)
        .map(|_| ())
        .ok_or(EmbeddedError::StaleServerStuck(pid.as_raw()))
    }

    pub(super) fn spawn(&mut self) -> Result<(), EmbeddedError> {
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&self.log_file)
            .map_err(|source| EmbeddedError::Io {
                action: "opening the PostgreSQL log",
                path: self.log_file.clone(),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| EmbeddedError::Io {
            action: "opening the PostgreSQL log",
            path: self.log_file.clone(),
            source,
        })?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&self.pgdata)
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-p", &SOCKET_PORT.to_string()])
            .args(["-c", "listen_addresses="])
            .args(["-c", "unix_socket_permissions=0700"])
            .args(["-c", "max_connections=200"]);
        if self.ephemeral {
            // Survives process crashes (the OS keeps the writes), not
            // machine crashes. synchronous_commit stays on: with it off, an
            // immediate shutdown could drop commits already acknowledged.
            cmd.args(["-c", "fsync=off"])
                .args(["-c", "full_page_writes=off"]);
        }
        // Its own process group: a terminal's Ctrl-C reaches Patchbay only,
        // which then stops PostgreSQL after its own requests have finished.
        cmd.process_group(0).stdout(log).stderr(log_err);
        let child = cmd.spawn().map_err(|source| EmbeddedError::Io {
            action: "starting postgres",
            path: self.bin_dir.join("postgres"),
            source,
        })?;
        tracing::info!(pid = child.id(), socket_dir = %self.socket_dir.display(), "started embedded PostgreSQL");
        self.child = Some(child);
        Ok(())
    }

    pub(super) async fn wait_until_ready(&mut self) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let config = self.config("postgres");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(EmbeddedError::ExitedEarly {
                    status: status.to_string(),
                    log: log_tail(&self.log_file),
                });
            }
            if let Ok((client, connection)) = config.connect(NoTls).await {
                drop(client);
                let _ = connection.await;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(EmbeddedError::StartTimeout(
                    START_TIMEOUT,
                    self.log_file.clone(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let (client, connection) = self
            .config("postgres")
            .connect(NoTls)
            .await
            .map_err(EmbeddedError::CreateDatabase)?;
        let driver = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
            .await
            .map_err(EmbeddedError::CreateDatabase)?
            .is_some();
        if !exists {
            match client
                .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                .await
            {
                Ok(()) => {}
                // Another process created it between our check and now.
                Err(e)
                    if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
                Err(e) => return Err(EmbeddedError::CreateDatabase(e)),
            }
        }
        drop(client);
        let _ = driver.await;
        Ok(())
    }
}
