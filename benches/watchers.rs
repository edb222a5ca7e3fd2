//! Benchmark 2 of the StatusService: many concurrent watchers on one server.
//!
//! Starts `patchbay serve` (release) on an embedded PostgreSQL, opens
//! WATCHERS watches (default 10,000) over CONNECTIONS HTTP/2 connections
//! (default 50) spread over PROJECTS projects (default 500), and reports:
//! - the server's memory per idle watcher (RSS growth / watchers);
//! - commit-to-receipt latency, p50 and p99, while events are committed at
//!   RATE per second (default 100) for SECONDS (default 20), each event
//!   measured at every watcher of its project;
//! - gaps: deliveries that never arrived or arrived out of order.
//!
//! Run: `cargo bench --bench watchers` (see the README).

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use patchbay::{
    auth::{KeySource, Role, TokenMinter},
    names::ProjectId,
    proto::v1::{
        WatchProjectStatusRequest, status_service_client::StatusServiceClient, status_update::Event,
    },
    status::events::EventPayload,
    store::{self, embedded},
};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
    sync::Semaphore,
};
use tonic::{metadata::MetadataValue, transport::Channel};

const SECRET: &str = "watchers-bench-secret-watchers-bench-secret";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// What one watcher received after its snapshot: (seq, when).
type Received = Vec<(i64, Instant)>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let watchers = env_or("WATCHERS", 10_000);
    let connections = env_or("CONNECTIONS", 50);
    let projects = env_or("PROJECTS", 500);
    let rate = env_or("RATE", 100);
    let seconds = env_or("SECONDS", 20);

    let dir = tempfile::tempdir()?;
    // The embedded PostgreSQL runs as an unprivileged user when we are root.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let data = dir.path().join("data");
    let mut server = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json", "--log", "warn,patchbay::app=info"])
        .arg("--data-dir")
        .arg(&data)
        .env("PATCHBAY_JWT_SECRET", SECRET)
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().ok_or("server exited")?;
    let mut lines = BufReader::new(server.stderr.take().ok_or("no stderr")?).lines();
    let grpc_addr = loop {
        let line = lines
            .next_line()
            .await?
            .ok_or("serve exited before serving")?;
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
            && event["fields"]["message"] == "serving"
        {
            break event["fields"]["grpc_addr"]
                .as_str()
                .ok_or("no grpc_addr")?
                .to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let project_ids: Vec<String> = (0..projects).map(|i| format!("p{i}")).collect();
    let roles: Vec<(String, Role)> = project_ids
        .iter()
        .map(|p| (p.clone(), Role::Viewer))
        .collect();
    let minter = TokenMinter::new(
        &KeySource::from_secret(SECRET.as_bytes().to_vec())?,
        None,
        None,
    )?;
    let token: MetadataValue<_> = format!(
        "Bearer {}",
        minter.mint("bench", &roles, false, Duration::from_secs(7200))?
    )
    .parse()?;

    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(
            Channel::from_shared(format!("http://{grpc_addr}"))?
                .connect()
                .await?,
        );
    }
    let open = |channel: Channel, project: String| {
        let token = token.clone();
        async move {
            let mut client =
                StatusServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
                    r.metadata_mut().insert("authorization", token.clone());
                    Ok(r)
                });
            let request = WatchProjectStatusRequest {
                project: format!("projects/{project}"),
                resume_from: None,
                heartbeat_interval: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
                include_types: vec![],
            };
            let mut stream = client.watch_project_status(request).await?.into_inner();
            // Snapshot, then snapshot_end.
            stream.message().await?;
            stream.message().await?;
            Ok::<_, tonic::Status>(stream)
        }
    };

    // One watch per connection first, so connection setup is not counted.
    for channel in &channels {
        drop(open(channel.clone(), project_ids[0].clone()).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid);

    let stop = tokio_util::sync::CancellationToken::new();
    let ready = Arc::new(Semaphore::new(0));
    let mut tasks = Vec::with_capacity(watchers);
    let opening = Instant::now();
    for i in 0..watchers {
        let channel = channels[i % connections].clone();
        let project = project_ids[i % projects].clone();
        let stream = open(channel, project.clone()).await?;
        let stop = stop.clone();
        let ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            ready.add_permits(1);
            let mut stream = stream;
            let mut received: Received = Vec::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    message = stream.message() => match message {
                        Ok(Some(update)) => {
                            if matches!(update.event, Some(Event::ActionProgress(_))) {
                                received.push((update.seq, Instant::now()));
                            }
                        }
                        _ => break,
                    },
                }
            }
            (project, received)
        }));
    }
    let _ = ready.acquire_many(u32::try_from(watchers)?).await?;
    println!(
        "opened {watchers} watches over {connections} connections in {:.1?}",
        opening.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_kib(pid);
    let per_watcher = (rss_after.saturating_sub(rss_before)) as f64 / watchers as f64;

    // The writer: events committed at `rate` per second, round-robin over projects.
    let mut db = tokio_postgres::Config::new();
    db.host_path(data.join("run"))
        .port(5432)
        .user("patchbay")
        .dbname(embedded::DATABASE);
    let pool = store::pool(db, 2)?;
    let mut client = pool.get().await?;
    let committed: Arc<Mutex<HashMap<i64, (String, Instant)>>> = Arc::default();
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let writing = Instant::now();
    for k in 0..total {
        tick.tick().await;
        let project = &project_ids[k % projects];
        let tx = client.transaction().await?;
        let seq = store::status::append(
            &tx,
            &ProjectId::parse(project)?,
            &EventPayload::ActionProgress {
                action: format!("projects/{project}/actions/bench"),
                connection: String::new(),
                state: patchbay::actions::model::ActionState::Running,
                percent: i32::try_from(k % 100)?,
                message: String::new(),
            },
        )
        .await?;
        let at = Instant::now();
        tx.commit().await?;
        committed
            .lock()
            .map_err(|_| "poisoned")?
            .insert(seq, (project.clone(), at));
    }
    let achieved = total as f64 / writing.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();

    let committed = committed.lock().map_err(|_| "poisoned")?.clone();
    let mut by_project: HashMap<String, Vec<i64>> = HashMap::new();
    for (seq, (project, _)) in &committed {
        by_project.entry(project.clone()).or_default().push(*seq);
    }
    for seqs in by_project.values_mut() {
        seqs.sort_unstable();
    }
    let mut latencies = Vec::new();
    let mut expected = 0usize;
    let mut gaps = 0usize;
    for task in tasks {
        let (project, received) = task.await?;
        let wanted = by_project.get(&project).cloned().unwrap_or_default();
        expected += wanted.len();
        let got: Vec<i64> = received.iter().map(|(seq, _)| *seq).collect();
        if got != wanted {
            gaps += wanted.len().abs_diff(got.len()).max(1);
        }
        for (seq, at) in received {
            if let Some((_, sent)) = committed.get(&seq) {
                latencies.push(at.saturating_duration_since(*sent));
            }
        }
    }
    latencies.sort_unstable();

    println!("watchers:            {watchers} over {connections} connections, {projects} projects");
    println!("server RSS:          {rss_before} KiB -> {rss_after} KiB");
    println!("memory per watcher:  {per_watcher:.1} KiB (goal <= 20 KiB)");
    println!(
        "events:              {total} at {achieved:.0}/s, {expected} deliveries expected, {} received",
        latencies.len()
    );
    println!(
        "commit-to-receipt:   p50 {:.1} ms, p99 {:.1} ms (goal p99 <= 100 ms)",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!("gaps:                {gaps} (goal 0)");

    if let Some(pid) = server.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid)?),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(20), server.wait()).await;
    Ok(())
}
