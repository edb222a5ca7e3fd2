//! The webhook bridge's ingest rate against PostgreSQL's own single-row
//! INSERT, on the same server, at the same concurrency, in one run.
//!
//! Starts a private, durable PostgreSQL (fsync on) and `patchbay serve`
//! (release) on it, creates one `http` connection (Standard Webhooks),
//! then for each concurrency in CLIENTS (default "16,64") alternates ROUNDS
//! (default 3) of:
//! - webhook ingest: that many clients, each on its own keep-alive
//!   connection, POST deliveries with valid signatures and unique ids for
//!   SECONDS (default 10); 202s per second are counted;
//! - pgbench: the same number of clients run one INSERT of the same row
//!   shape (a copy of `webhook_deliveries` with its indexes) per
//!   transaction for the same time.
//!
//! Both loads first run WARMUP seconds (default 3) unmeasured. Reports the
//! medians and their ratio (and each round's), the CPU each side used per row
//! (server, PostgreSQL, load generator or pgbench), and checks that the
//! deliveries stored equal the 202s answered.
//!
//! METRICS=on,off runs two servers side by side on the one database, one
//! with metrics on and one with them off (`--metrics=false`); RULES=100,0
//! likewise runs two servers whose deliveries go to projects with 100
//! alert rules and with none, and AUTOMATIONS=100,0 with 100 published
//! automations listening to the connection (each evaluates its filter on
//! every delivery, and none matches) and with none. Each variant posts to
//! its own project's
//! connection; each round drives every variant, and the first's ratio over
//! the second's is printed. Then, where valgrind is installed, each variant
//! alone under callgrind for CALLGRIND_SECONDS (default 10; 0 skips it):
//! instructions per accepted delivery, its processing included.
//!
//! Run: `cargo bench --bench webhook_ingest` (see the README).

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use patchbay::store::{
    self,
    embedded::{self, EmbeddedOptions, EmbeddedPostgres},
};

mod cpu;
mod pgbench;
mod sender;
mod server;
mod setup;
mod variant;

use pgbench::{run_pgbench, which, which_pgbench};
use sender::drive_webhooks;
use server::Launch;

const JWT_SECRET: &str = "ingest-bench-secret-ingest-bench-secret";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The body every delivery carries (and every pgbench row stores).
pub fn body(n: u64) -> String {
    format!(
        r#"{{"type":"record.updated","timestamp":"2026-11-22T12:00:00Z","data":{{"id":"rec_{n:012}","object":"contact","email":"someone@example.com","changes":["email","phone","owner"]}}}}"#
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clients: Vec<usize> = std::env::var("CLIENTS")
        .unwrap_or_else(|_| "16,64".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let rounds: usize = env_or("ROUNDS", 3);
    let seconds: u64 = env_or("SECONDS", 10);

    let variants = variant::from_env()?;

    let dir = tempfile::tempdir()?;
    // The embedded PostgreSQL runs as an unprivileged user when we are root.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let mut pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: dir.path().join("pg"),
        bin_dir: None,
        // Durable, as in production: a 202 means the delivery's commit is
        // flushed, and flushing is what group commit shares.
        ephemeral: false,
    })
    .await?;
    let database = pg.config(embedded::DATABASE);
    let database_url = store::conninfo(&database);
    let keys = format!("bench:{}", STANDARD.encode([7u8; 32]));
    let base = Launch {
        database_url: &database_url,
        encryption_keys: &keys,
        jwt_secret: JWT_SECRET,
        metrics: true,
        callgrind_out: None,
    };
    // One server per variant, side by side on the one database (as
    // replicas), so every round measures each under the same conditions.
    let mut servers = Vec::new();
    for v in &variants {
        servers.push(
            server::start(&Launch {
                metrics: v.metrics,
                ..base
            })
            .await?,
        );
    }
    let postmaster = pg.pid().ok_or("PostgreSQL exited")?;

    let secret = format!("whsec_{}", STANDARD.encode([42u8; 32]));
    let mut targets = Vec::new();
    for (i, (v, s)) in variants.iter().zip(&servers).enumerate() {
        let project = format!("bench-{i}");
        let api = setup::Api::connect(&s.grpc_addr, JWT_SECRET, &project).await?;
        let connection = api.create_connection(&project, &secret).await?;
        if let Some(n) = v.rules {
            api.set_rules(&project, n).await?;
        }
        if let Some(n) = v.automations {
            api.set_automations(&project, n).await?;
        }
        targets.push(sender::Target {
            addr: s.http_addr.parse()?,
            path: format!("/webhooks/{}", connection.webhook_key),
        });
    }
    let key = Arc::new(STANDARD.decode(secret.trim_start_matches("whsec_"))?);

    let db = store::connect(&database).await?;
    db.batch_execute(
        "CREATE TABLE bench_rows (LIKE webhook_deliveries INCLUDING ALL); \
         ALTER TABLE bench_rows ALTER COLUMN id SET DEFAULT md5(random()::text)",
    )
    .await?;
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        format!(
            "INSERT INTO bench_rows (project, connection_id, dedupe_key, event_type, body) \
             VALUES ('bench', 'hooks', md5(random()::text), '', convert_to('{}', 'UTF8'));\n",
            body(0)
        ),
    )?;
    let pgbench = which_pgbench().ok_or("pgbench not found (it ships with PostgreSQL)")?;

    println!(
        "webhook ingest ({}) vs pgbench single-row INSERT: {seconds} s per run, {rounds} rounds",
        variants
            .iter()
            .map(|v| v.label())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let next_id = Arc::new(AtomicU64::new(0));
    let mut accepted_total = 0u64;
    // Unmeasured: the first measured round would otherwise also pay for the
    // servers' and PostgreSQL's warm-up (pool connections, caches, the
    // tables' first pages).
    let warmup: u64 = env_or("WARMUP", 3);
    if warmup > 0
        && let Some(&c) = clients.first()
    {
        for target in &targets {
            let (_, accepted) =
                drive_webhooks(c, warmup, target, key.clone(), next_id.clone()).await;
            accepted_total += accepted;
        }
        run_pgbench(&pgbench, &database, &script, c, warmup).await?;
    }
    for &c in &clients {
        let mut ingest = vec![Vec::new(); targets.len()];
        let mut ingest_cpu = vec![cpu::Usage::default(); targets.len()];
        let mut rows = vec![0u64; targets.len()];
        let mut inserts = Vec::new();
        let mut insert_cpu = cpu::Usage::default();
        let mut transactions = 0u64;
        for _ in 0..rounds {
            for (i, target) in targets.iter().enumerate() {
                let before = cpu::usage(servers[i].pid, postmaster);
                let (rate, accepted) =
                    drive_webhooks(c, seconds, target, key.clone(), next_id.clone()).await;
                ingest_cpu[i] += cpu::usage(servers[i].pid, postmaster) - before;
                accepted_total += accepted;
                rows[i] += accepted;
                ingest[i].push(rate);
            }
            let before = cpu::usage(servers[0].pid, postmaster);
            let run = run_pgbench(&pgbench, &database, &script, c, seconds).await?;
            insert_cpu += cpu::usage(servers[0].pid, postmaster) - before;
            transactions += run.transactions;
            inserts.push(run.tps);
        }
        let us = |seconds: f64, n: u64| seconds * 1e6 / n.max(1) as f64;
        let p = median(inserts.clone());
        let mut ratios = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            let w = median(ingest[i].clone());
            let paired: Vec<f64> = ingest[i].iter().zip(&inserts).map(|(w, p)| w / p).collect();
            println!(
                "clients {c:>3}, {}: webhooks {w:>8.0} accepted/s (runs {}), pgbench {p:>8.0} tps (runs {}); ratio {:.2} (by round {})",
                v.label(),
                fmt_runs(&ingest[i]),
                fmt_runs(&inserts),
                w / p,
                fmt_ratios(&paired)
            );
            println!(
                "  CPU per accepted delivery: server {:.0} us, postgres {:.0} us, load generator {:.0} us",
                us(ingest_cpu[i].server, rows[i]),
                us(ingest_cpu[i].postgres, rows[i]),
                us(ingest_cpu[i].load, rows[i]),
            );
            ratios.push(paired);
        }
        println!(
            "  CPU per pgbench transaction: postgres {:.0} us, pgbench {:.0} us",
            us(insert_cpu.postgres, transactions),
            us(insert_cpu.load, transactions),
        );
        if let ([first, second], [a, b]) = (&ratios[..], &variants[..]) {
            let by_round: Vec<f64> = first.iter().zip(second).map(|(x, y)| x / y).collect();
            println!(
                "  {} / {}: {:.3} (median of rounds {}; goal >= 0.95)",
                a.label(),
                b.label(),
                median(by_round.clone()),
                fmt_ratios(&by_round)
            );
        }
    }
    // Every delivery processed before the stored rows are counted, and
    // before any instruction count, so no backlog spills into one.
    wait_for_backlog(&db).await?;
    let stored: i64 = db
        .query_one("SELECT count(*) FROM webhook_deliveries", &[])
        .await?
        .get(0);
    println!(
        "rows stored: {stored}; 202 responses: {accepted_total}; {}",
        if u64::try_from(stored).ok() == Some(accepted_total) {
            "equal"
        } else {
            "MISMATCH"
        }
    );
    for mut s in servers {
        s.child.kill().await.ok();
    }

    // Instructions per accepted delivery, by callgrind: each variant's
    // server alone under valgrind, counted over CALLGRIND_SECONDS of load.
    let callgrind_seconds: u64 = env_or("CALLGRIND_SECONDS", 10);
    if callgrind_seconds > 0 && which("valgrind").is_some() {
        println!("callgrind: {callgrind_seconds} s of ingest per variant, 4 clients");
        for (v, t) in variants.iter().zip(&targets) {
            let prefix = format!("callgrind-{}", v.label().replace(' ', "-"));
            let out = dir.path().join(format!("{prefix}.%p"));
            let mut s = server::start(&Launch {
                metrics: v.metrics,
                callgrind_out: Some(&out),
                ..base
            })
            .await?;
            let target = sender::Target {
                addr: s.http_addr.parse()?,
                path: t.path.clone(),
            };
            server::callgrind_control(s.pid, &["-i", "on"]).await?;
            // The first requests after instrumentation starts pay for it.
            drive_webhooks(4, 2, &target, key.clone(), next_id.clone()).await;
            wait_for_backlog(&db).await?;
            server::callgrind_control(s.pid, &["-z"]).await?;
            let (_, accepted) =
                drive_webhooks(4, callgrind_seconds, &target, key.clone(), next_id.clone()).await;
            wait_for_backlog(&db).await?;
            server::callgrind_control(s.pid, &["-d", "ingest"]).await?;
            s.child.kill().await.ok();
            s.child.wait().await.ok();
            let instructions = server::dumped_instructions(dir.path(), &prefix, "ingest");
            println!(
                "  {}: {:.0} instructions per accepted delivery, its processing included ({accepted} accepted)",
                v.label(),
                instructions as f64 / accepted.max(1) as f64
            );
        }
    }
    drop(db);
    pg.stop().await?;
    Ok(())
}

fn fmt_ratios(ratios: &[f64]) -> String {
    ratios
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Until no delivery waits to be processed: none after the processing
/// cursor (first attempts) and none waiting for a retry.
async fn wait_for_backlog(db: &tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
    for _ in 0..6000 {
        let waiting: i64 = db
            .query_one(
                "SELECT (SELECT count(*) FROM webhook_deliveries d, webhook_cursor c WHERE d.seq > c.seq) \
                      + (SELECT count(*) FROM webhook_deliveries WHERE state = 'retrying')",
                &[],
            )
            .await?
            .get(0);
        if waiting == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the webhook backlog never drained".into())
}

fn fmt_runs(runs: &[f64]) -> String {
    runs.iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
