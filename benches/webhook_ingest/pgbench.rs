//! The baseline: pgbench running one INSERT per transaction.

use tokio::process::Command;

use patchbay::store;

/// One pgbench run's rate and count.
pub struct PgbenchRun {
    pub tps: f64,
    pub transactions: u64,
}

pub async fn run_pgbench(
    pgbench: &std::path::Path,
    database: &tokio_postgres::Config,
    script: &std::path::Path,
    clients: usize,
    seconds: u64,
) -> Result<PgbenchRun, Box<dyn std::error::Error>> {
    let output = Command::new(pgbench)
        .args(["-n", "-j", "2", "-c", &clients.to_string(), "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(script)
        .arg(store::conninfo(database))
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = |prefix: &str| {
        stdout.lines().find_map(|l| {
            l.trim_start()
                .strip_prefix(prefix)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        })
    };
    let run = value("tps = ")
        .and_then(|tps| tps.parse().ok())
        .zip(
            value("number of transactions actually processed: ")
                .and_then(|n| n.split('/').next().and_then(|n| n.parse().ok())),
        )
        .map(|(tps, transactions)| PgbenchRun { tps, transactions });
    run.ok_or_else(|| {
        format!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
        .into()
    })
}

pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

pub fn which_pgbench() -> Option<std::path::PathBuf> {
    which("pgbench").or_else(|| {
        Some(std::path::PathBuf::from(
            "/usr/lib/postgresql/15/bin/pgbench",
        ))
        .filter(|p| p.is_file())
    })
}
