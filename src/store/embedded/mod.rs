//! A PostgreSQL server Patchbay runs itself when no `DATABASE_URL` is given:
//! started from the system's binaries, listening only on a Unix socket in the
//! data directory, reused across restarts and stopped on exit.
//!
//! When Patchbay was killed without stopping it (`kill -9`), the next start
//! finds the old postmaster through `postmaster.pid`, stops it cleanly (a
//! fast shutdown checkpoints everything committed) and starts its own.

use std::{
    fs, io,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use nix::{
    fcntl::Flock,
    sys::signal::Signal,
    unistd::{Gid, Uid},
};

mod cluster;
mod host;

pub use host::find_binaries;
use host::{check_traversable, chown_to, create_dir, lock_owner, stop_child, unprivileged_user};

/// The superuser and database Patchbay creates in its own cluster.
const SUPERUSER: &str = "patchbay";
pub const DATABASE: &str = "patchbay";
/// Only the socket file name depends on it: the server opens no TCP port.
const SOCKET_PORT: u16 = 5432;
/// `sun_path` holds 108 bytes including the NUL.
const MAX_SOCKET_PATH: usize = 107;
const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "the data directory {0} is in use by another running Patchbay; stop it first, or \
         use another --data-dir"
    )]
    InUse(PathBuf),
    #[error(
        "no PostgreSQL server binaries found (looked for initdb and postgres on PATH and \
         under /usr/lib/postgresql/*/bin). Install them (Debian/Ubuntu: `apt-get install \
         postgresql`; Fedora: `dnf install postgresql-server`; macOS: `brew install \
         postgresql`), pass --pg-bin-dir, or set DATABASE_URL"
    )]
    BinariesNotFound,
    #[error(
        "running as root, and no unprivileged user to run PostgreSQL as (tried `postgres` \
         and `nobody`)"
    )]
    NoUnprivilegedUser,
    #[error("{path} is not reachable by user {user}; choose a --data-dir it can enter")]
    NotTraversable { path: PathBuf, user: String },
    #[error("the socket path {0} is too long for a Unix socket; choose a shorter --data-dir")]
    SocketPathTooLong(PathBuf),
    #[error("{action} ({path})")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("initdb failed with {status}: {log}")]
    InitDb { status: String, log: String },
    #[error("PostgreSQL exited during start-up with {status}; its log ends with: {log}")]
    ExitedEarly { status: String, log: String },
    #[error("PostgreSQL did not accept connections within {0:?}; see {1}")]
    StartTimeout(Duration, PathBuf),
    #[error("an earlier PostgreSQL (pid {0}) in this data directory did not stop")]
    StaleServerStuck(i32),
    #[error("creating the patchbay database")]
    CreateDatabase(#[source] tokio_postgres::Error),
}

/// How to start the embedded server.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Root of Patchbay's local state; PostgreSQL lives in `pg/` below it.
    pub data_dir: PathBuf,
    /// Where the binaries are; found automatically when `None`.
    pub bin_dir: Option<PathBuf>,
    /// Trade durability for speed (tests): no fsync, immediate shutdown.
    pub ephemeral: bool,
}

/// A running embedded PostgreSQL. Stopped by [`EmbeddedPostgres::stop`], or
/// on drop.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    child: Option<Child>,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(Uid, Gid)>,
    ephemeral: bool,
    /// Held while this process owns the data directory. The kernel drops it
    /// when the process dies, even by `kill -9`, which is what tells a left
    /// behind server (safe to take over) from a live owner's (refused).
    _owner_lock: Flock<fs::File>,
}

impl EmbeddedPostgres {
    /// Initialises the cluster if needed, takes over from a server left
    /// behind, starts PostgreSQL and waits until it accepts connections.
    pub async fn start(options: &EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let bin_dir = match &options.bin_dir {
            Some(dir) => dir.clone(),
            None => find_binaries().ok_or(EmbeddedError::BinariesNotFound)?,
        };
        if !bin_dir.join("postgres").is_file() || !bin_dir.join("initdb").is_file() {
            return Err(EmbeddedError::BinariesNotFound);
        }
        let run_as = unprivileged_user()?;

        create_dir(&options.data_dir, 0o755)?;
        let root = fs::canonicalize(&options.data_dir).map_err(|source| EmbeddedError::Io {
            action: "resolving the data directory",
            path: options.data_dir.clone(),
            source,
        })?;
        let owner_lock = lock_owner(&root)?;
        let pgdata = root.join("pg");
        let socket_dir = root.join("run");
        let log_file = root.join("postgres.log");
        let socket = socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(EmbeddedError::SocketPathTooLong(socket));
        }
        if let Some((uid, gid)) = run_as {
            check_traversable(&root, uid, gid)?;
        }
        for dir in [&pgdata, &socket_dir] {
            create_dir(dir, 0o700)?;
            chown_to(dir, run_as)?;
        }
        // PostgreSQL appends its log here; it must be able to write it.
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
            .map_err(|source| EmbeddedError::Io {
                action: "opening the PostgreSQL log",
                path: log_file.clone(),
                source,
            })?;
        chown_to(&log_file, run_as)?;

        let mut server = Self {
            child: None,
            pgdata,
            socket_dir,
            log_file,
            bin_dir,
            run_as,
            ephemeral: options.ephemeral,
            _owner_lock: owner_lock,
        };
        if !server.pgdata.join("PG_VERSION").exists() {
            server.initdb()?;
        }
        server.stop_left_behind_server().await?;
        server.spawn()?;
        server.wait_until_ready().await?;
        server.ensure_database().await?;
        Ok(server)
    }

    /// Connection settings for `dbname` on this server.
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(SOCKET_PORT)
            .user(SUPERUSER)
            .dbname(dbname)
            .application_name("patchbay")
            .connect_timeout(Duration::from_secs(5));
        config
    }

    pub fn data_dir(&self) -> &Path {
        &self.pgdata
    }

    /// The postmaster's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server: a fast shutdown (aborts sessions, checkpoints), or
    /// an immediate one for ephemeral clusters.
    pub async fn stop(&mut self) -> Result<(), EmbeddedError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let signal = self.shutdown_signal();
        tokio::task::spawn_blocking(move || stop_child(&mut child, signal))
            .await
            .map_err(|e| EmbeddedError::Io {
                action: "stopping PostgreSQL",
                path: PathBuf::new(),
                source: io::Error::other(e),
            })?
    }

    /// Starts a stopped server again in the same data directory.
    pub async fn restart(&mut self) -> Result<(), EmbeddedError> {
        self.stop().await?;
        self.spawn()?;
        self.wait_until_ready().await
    }

    fn shutdown_signal(&self) -> Signal {
        if self.ephemeral {
            Signal::SIGQUIT
        } else {
            Signal::SIGINT
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(self.pgdata.parent().unwrap_or(Path::new("/")))
            .env("LC_ALL", "C")
            .env_remove("PGDATA")
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = stop_child(&mut child, self.shutdown_signal());
        }
    }
}
