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
//! Run: `cargo bench --bench webhook_ingest` (see the README).

use std::{
    process::Stdio,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use patchbay::{
    auth::{KeySource, Role, TokenMinter},
    proto::v1::{
        Connection, CreateConnectionRequest, integration_registry_client::IntegrationRegistryClient,
    },
    store::{
        self,
        embedded::{self, EmbeddedOptions, EmbeddedPostgres},
    },
};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
};
use tonic::{metadata::MetadataValue, transport::Channel};

mod cpu;
mod sender;

use sender::drive_webhooks;

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
    let keys = format!("bench:{}", STANDARD.encode([7u8; 32]));
    let mut server = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json", "--log", "warn,patchbay::app=info"])
        // The load comes from one peer and one key: no limits in the way.
        .args([
            "--webhook-rate-per-key",
            "0",
            "--webhook-rate-per-peer",
            "0",
        ])
        .env("DATABASE_URL", store::conninfo(&database))
        .env("PATCHBAY_ENCRYPTION_KEYS", keys)
        .env("PATCHBAY_JWT_SECRET", JWT_SECRET)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let server_pid = server.id().ok_or("server exited")?;
    let postmaster = pg.pid().ok_or("PostgreSQL exited")?;
    let mut lines = BufReader::new(server.stderr.take().ok_or("no stderr")?).lines();
    let (grpc_addr, http_addr) = loop {
        let line = lines
            .next_line()
            .await?
            .ok_or("serve exited before serving")?;
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
            && event["fields"]["message"] == "serving"
        {
            let field = |name: &str| event["fields"][name].as_str().map(str::to_owned);
            break (
                field("grpc_addr").ok_or("no grpc_addr")?,
                field("http_addr").ok_or("no http_addr")?,
            );
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let secret = format!("whsec_{}", STANDARD.encode([42u8; 32]));
    let connection = create_connection(&grpc_addr, &secret).await?;
    let target = sender::Target {
        addr: http_addr.parse()?,
        path: format!("/webhooks/{}", connection.webhook_key),
    };
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

    println!("webhook ingest vs pgbench single-row INSERT: {seconds} s per run, {rounds} rounds");
    let next_id = Arc::new(AtomicU64::new(0));
    let mut accepted_total = 0u64;
    // Unmeasured: the first measured round would otherwise also pay for the
    // server's and PostgreSQL's warm-up (pool connections, caches, the
    // tables' first pages).
    let warmup: u64 = env_or("WARMUP", 3);
    if warmup > 0
        && let Some(&c) = clients.first()
    {
        let (_, accepted) = drive_webhooks(c, warmup, &target, key.clone(), next_id.clone()).await;
        accepted_total += accepted;
        run_pgbench(&pgbench, &database, &script, c, warmup).await?;
    }
    for &c in &clients {
        let mut ingest = Vec::new();
        let mut inserts = Vec::new();
        let (mut ingest_cpu, mut insert_cpu) = (cpu::Usage::default(), cpu::Usage::default());
        let (mut rows, mut transactions) = (0u64, 0u64);
        for _ in 0..rounds {
            let before = cpu::usage(server_pid, postmaster);
            let (rate, accepted) =
                drive_webhooks(c, seconds, &target, key.clone(), next_id.clone()).await;
            let between = cpu::usage(server_pid, postmaster);
            ingest_cpu += between - before;
            accepted_total += accepted;
            rows += accepted;
            ingest.push(rate);
            let run = run_pgbench(&pgbench, &database, &script, c, seconds).await?;
            insert_cpu += cpu::usage(server_pid, postmaster) - between;
            transactions += run.transactions;
            inserts.push(run.tps);
        }
        let us = |seconds: f64, n: u64| seconds * 1e6 / n.max(1) as f64;
        let (w, p) = (median(ingest.clone()), median(inserts.clone()));
        let paired: Vec<String> = ingest
            .iter()
            .zip(&inserts)
            .map(|(w, p)| format!("{:.2}", w / p))
            .collect();
        println!(
            "clients {c:>3}: webhooks {w:>8.0} accepted/s (runs {}), pgbench {p:>8.0} tps (runs {}); ratio {:.2} (by round {})",
            fmt_runs(&ingest),
            fmt_runs(&inserts),
            w / p,
            paired.join(", ")
        );
        println!(
            "  CPU per accepted delivery: server {:.0} us, postgres {:.0} us, load generator {:.0} us",
            us(ingest_cpu.server, rows),
            us(ingest_cpu.postgres, rows),
            us(ingest_cpu.load, rows),
        );
        println!(
            "  CPU per pgbench transaction: postgres {:.0} us, pgbench {:.0} us",
            us(insert_cpu.postgres, transactions),
            us(insert_cpu.load, transactions),
        );
    }
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
    drop(db);
    server.kill().await.ok();
    pg.stop().await?;
    Ok(())
}

fn fmt_runs(runs: &[f64]) -> String {
    runs.iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn create_connection(
    grpc_addr: &str,
    secret: &str,
) -> Result<Connection, Box<dyn std::error::Error>> {
    let minter = TokenMinter::new(
        &KeySource::from_secret(JWT_SECRET.as_bytes().to_vec())?,
        None,
        None,
    )?;
    let token: MetadataValue<_> = format!(
        "Bearer {}",
        minter.mint(
            "bench",
            &[("bench".to_owned(), Role::Owner)],
            false,
            Duration::from_secs(3600)
        )?
    )
    .parse()?;
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))?
        .connect()
        .await?;
    let mut registry =
        IntegrationRegistryClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", token.clone());
            Ok(r)
        });
    let settings = prost_types::Struct {
        fields: [(
            "health_url".to_owned(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(
                    "http://127.0.0.1:9/health".into(),
                )),
            },
        )]
        .into(),
    };
    Ok(registry
        .create_connection(CreateConnectionRequest {
            parent: "projects/bench".into(),
            connection_id: "hooks".into(),
            connection: Some(Connection {
                integration_type: "integrationTypes/http".into(),
                settings: Some(settings),
                ..Default::default()
            }),
            request_id: String::new(),
            webhook_secret: secret.to_owned(),
        })
        .await?
        .into_inner())
}

/// One pgbench run's rate and count.
struct PgbenchRun {
    tps: f64,
    transactions: u64,
}

async fn run_pgbench(
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

fn which_pgbench() -> Option<std::path::PathBuf> {
    let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("pgbench"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push("/usr/lib/postgresql/15/bin/pgbench".into());
    candidates.into_iter().find(|p| p.is_file())
}
