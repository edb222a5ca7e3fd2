//! CPU time of the processes a run involves, read from `/proc`: the server,
//! the PostgreSQL cluster and this process. Backends that exit during a run
//! still count: a parent accumulates the time of the children it reaps (the
//! postmaster its backends', this process pgbench's).

use std::ops::{AddAssign, Sub};

/// CPU seconds used so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub server: f64,
    /// The postmaster, its live children and the ones it has reaped.
    pub postgres: f64,
    /// This process (the load generator) and its reaped children (pgbench).
    pub load: f64,
}

impl Sub for Usage {
    type Output = Usage;

    fn sub(self, earlier: Usage) -> Usage {
        Usage {
            server: self.server - earlier.server,
            postgres: self.postgres - earlier.postgres,
            load: self.load - earlier.load,
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.server += other.server;
        self.postgres += other.postgres;
        self.load += other.load;
    }
}

/// One process's ticks from `/proc/{pid}/stat`.
struct Stat {
    ppid: u32,
    /// utime + stime.
    own: u64,
    /// cutime + cstime: reaped children.
    children: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised name, from field 3 (state) on.
    let fields: Vec<&str> = text
        .get(text.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        own: field(14)? + field(15)?,
        children: field(16)? + field(17)?,
    })
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

const TICKS_PER_SECOND: f64 = 100.0;

/// CPU so far of `server`, of the cluster under `postmaster`, and of this
/// process.
pub fn usage(server: u32, postmaster: u32) -> Usage {
    let own = |pid| stat(pid).map_or(0, |s| s.own);
    let with_reaped = |pid| stat(pid).map_or(0, |s| s.own + s.children);
    let backends: u64 = pids()
        .into_iter()
        .filter_map(stat)
        .filter(|s| s.ppid == postmaster)
        .map(|s| s.own)
        .sum();
    Usage {
        server: own(server) as f64 / TICKS_PER_SECOND,
        postgres: (with_reaped(postmaster) + backends) as f64 / TICKS_PER_SECOND,
        load: with_reaped(std::process::id()) as f64 / TICKS_PER_SECOND,
    }
}
