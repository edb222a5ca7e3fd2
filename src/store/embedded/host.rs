//! Host-side helpers of the embedded server: finding binaries, users and
//! permissions, pid files, signals and the data-directory lock.

use std::{
    fs,
    os::unix::fs::{PermissionsExt as _, chown},
    path::{Path, PathBuf},
    process::Child,
    time::{Duration, Instant},
};

use nix::{
    fcntl::{Flock, FlockArg},
    sys::signal::{Signal, kill},
    unistd::{Gid, Pid, Uid, User},
};

use super::{EmbeddedError, STOP_TIMEOUT};

pub(super) fn stop_child(child: &mut Child, signal: Signal) -> Result<(), EmbeddedError> {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, signal);
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                tracing::warn!(
                    pid = pid.as_raw(),
                    "PostgreSQL did not stop in time; forcing"
                );
                let _ = kill(pid, Signal::SIGQUIT);
                let _ = child.wait();
                return Ok(());
            }
            Err(source) => {
                return Err(EmbeddedError::Io {
                    action: "waiting for PostgreSQL to stop",
                    path: PathBuf::new(),
                    source,
                });
            }
        }
    }
}

/// The directory holding `initdb` and `postgres`: PATH first, then the
/// newest Debian-style install.
pub fn find_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                return Some(dir);
            }
            // PATH often holds only symlinks (pg_ctl → …/15/bin/pg_ctl):
            // follow one to the real bin directory.
            if let Ok(real) = fs::canonicalize(dir.join("initdb"))
                && let Some(parent) = real.parent()
                && has_both(parent)
            {
                return Some(parent.to_path_buf());
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// PostgreSQL refuses to run as root: pick the user to run it as.
pub(super) fn unprivileged_user() -> Result<Option<(Uid, Gid)>, EmbeddedError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = User::from_name(name) {
            return Ok(Some((user.uid, user.gid)));
        }
    }
    Err(EmbeddedError::NoUnprivilegedUser)
}

pub(super) fn create_dir(path: &Path, mode: u32) -> Result<(), EmbeddedError> {
    let io_err = |action| {
        move |source| EmbeddedError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    fs::create_dir_all(path).map_err(io_err("creating a directory"))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_err("setting directory permissions"))
}

pub(super) fn chown_to(path: &Path, run_as: Option<(Uid, Gid)>) -> Result<(), EmbeddedError> {
    let Some((uid, gid)) = run_as else {
        return Ok(());
    };
    chown(path, Some(uid.as_raw()), Some(gid.as_raw())).map_err(|source| EmbeddedError::Io {
        action: "handing a directory to the PostgreSQL user",
        path: path.to_path_buf(),
        source,
    })
}

/// Every ancestor of `path` must let `uid` pass through (execute bit).
pub(super) fn check_traversable(path: &Path, uid: Uid, gid: Gid) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::MetadataExt as _;
    for dir in path.ancestors() {
        let Ok(meta) = fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let ok = if meta.uid() == uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            let user = User::from_uid(uid)
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name);
            return Err(EmbeddedError::NotTraversable {
                path: dir.to_path_buf(),
                user,
            });
        }
    }
    Ok(())
}

pub(super) fn read_postmaster_pid(pgdata: &Path) -> Option<i32> {
    let contents = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    contents.lines().next()?.trim().parse().ok()
}

/// Guards against a recycled pid: only a live `postgres` process counts.
pub(super) fn is_postgres_process(pid: i32) -> bool {
    if is_gone(Pid::from_raw(pid)) {
        return false;
    }
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains("postgres"))
        .unwrap_or(false)
}

pub(super) fn wait_for_exit(pid: Pid, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    is_gone(pid)
}

/// Takes `<root>/patchbay.lock` for this process, or says who holds it.
pub(super) fn lock_owner(root: &Path) -> Result<Flock<fs::File>, EmbeddedError> {
    let path = root.join("patchbay.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| EmbeddedError::Io {
            action: "opening the data directory lock",
            path: path.clone(),
            source,
        })?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| EmbeddedError::InUse(root.to_path_buf()))
}

/// Exited, or a zombie nobody has reaped yet (an orphan's parent is init).
pub(super) fn is_gone(pid: Pid) -> bool {
    if kill(pid, None).is_err() {
        return true;
    }
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the parenthesised command name.
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(false)
}

pub(super) fn log_tail(path: &Path) -> String {
    let contents = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = contents.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
