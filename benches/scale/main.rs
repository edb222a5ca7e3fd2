//! `cargo bench --bench scale`: what Patchbay's costs do as the work grows.
//! Loads 100,000 connections (about 10,000 projects) and, in the same run,
//! 1,000 as the baseline, and reports for each, with each round's figure:
//! start to ready (the status cache loaded from the database), resident
//! memory, GetProjectStatus latency for a 20-connection project, the first
//! and the deepest pages of ListConnections and ListActions in a large
//! project, and the prober's CPU per probe with up to 10,000 connections
//! due on the 10-45 s TTL against a local fake. `SCALE_SIZES=1000,20000`
//! picks other sizes (the first is the baseline).

mod load;
mod report;
mod server;

use std::{
    error::Error,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use patchbay::{
    auth::{KeySource, Role, TokenMinter},
    proto::v1::{
        Connection, CreateConnectionRequest, GetProjectStatusRequest, ListActionsRequest,
        ListConnectionsRequest, action_service_client::ActionServiceClient,
        integration_registry_client::IntegrationRegistryClient,
        status_service_client::StatusServiceClient,
    },
    store::{
        self,
        embedded::{self, EmbeddedOptions, EmbeddedPostgres},
    },
};
use report::{Report, ms, percentile};
use tonic::{
    metadata::MetadataValue, service::interceptor::InterceptedService, transport::Channel,
};

type Authed = InterceptedService<Channel, Bearer>;
type Result<T> = std::result::Result<T, Box<dyn Error>>;

const ROUNDS: usize = 3;
const STATUS_CALLS: usize = 2000;
const PAGE_SIZE: i32 = 50;
const PROBE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut r: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes: Vec<i64> = std::env::var("SCALE_SIZES")
        .unwrap_or_else(|_| "1000,100000".to_owned())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<std::result::Result<_, _>>()?;
    let dir = tempfile::tempdir()?;
    // The embedded PostgreSQL runs as an unprivileged user when we are root.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: dir.path().join("pg"),
        bin_dir: None,
        ephemeral: true,
    })
    .await?;
    let (fake_url, probes) = fake_provider().await?;
    let minter = TokenMinter::new(
        &KeySource::from_secret(server::JWT_SECRET.as_bytes().to_vec())?,
        None,
        None,
    )?;
    let mut reports = Vec::new();
    for &size in &sizes {
        println!("scale: {size} connections: loading");
        reports.push(measure(&pg, size, &fake_url, &probes, &minter).await?);
    }
    report::print(&reports);
    Ok(())
}

async fn measure(
    pg: &EmbeddedPostgres,
    size: i64,
    fake_url: &str,
    probes: &AtomicU64,
    minter: &TokenMinter,
) -> Result<Report> {
    let admin = store::connect(&pg.config(embedded::DATABASE)).await?;
    let name = format!("scale_{size}");
    // One statement each: neither runs in a transaction block.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let database = pg.config(&name);
    let url = store::conninfo(&database);
    let token = |project: &str| -> Result<Bearer> {
        let jwt = minter.mint(
            "bench",
            &[(project.to_owned(), Role::Owner)],
            false,
            Duration::from_secs(3600),
        )?;
        Ok(Bearer(format!("Bearer {jwt}").parse()?))
    };

    // The schema, and the template every connection is cloned from.
    let first = server::start(&url, &[]).await?;
    let channel = Channel::from_shared(format!("http://{}", first.grpc_addr))?
        .connect()
        .await?;
    IntegrationRegistryClient::with_interceptor(channel, token("tpl")?)
        .create_connection(template(fake_url))
        .await?;
    first.stop().await;
    let layout = load::Layout::for_size(size);
    let loading = Instant::now();
    load::populate(&store::connect(&database).await?, &layout).await?;
    println!(
        "scale: {size} connections: loaded in {:.1} s",
        loading.elapsed().as_secs_f64()
    );

    let mut report = Report {
        layout,
        start_to_ready_s: Vec::new(),
        rss_kib: 0,
        status_p50_ms: Vec::new(),
        status_p99_ms: Vec::new(),
        connections_first_ms: Vec::new(),
        connections_deep_ms: Vec::new(),
        actions_first_ms: Vec::new(),
        actions_deep_ms: Vec::new(),
        cpu_us_per_probe: Vec::new(),
        probes_per_s: Vec::new(),
    };
    let args = ["--probe-ttl-min", "10s", "--probe-ttl-max", "45s"];
    let mut serving = None;
    for _ in 0..ROUNDS {
        if let Some(server) = serving.take() {
            server::Server::stop(server).await;
        }
        let server = server::start(&url, &args).await?;
        report
            .start_to_ready_s
            .push(server.start_to_ready.as_secs_f64());
        serving = Some(server);
    }
    let server = serving.ok_or("no server")?;
    let channel = Channel::from_shared(format!("http://{}", server.grpc_addr))?
        .connect()
        .await?;
    let mut status = StatusServiceClient::with_interceptor(channel.clone(), token("p20")?);
    let mut registry = IntegrationRegistryClient::with_interceptor(channel.clone(), token("big")?);
    let mut actions = ActionServiceClient::with_interceptor(channel, token("big")?);

    for _ in 0..ROUNDS {
        let mut latencies = Vec::with_capacity(STATUS_CALLS);
        for _ in 0..STATUS_CALLS {
            let started = Instant::now();
            let envelope = status
                .get_project_status(GetProjectStatusRequest {
                    project: "projects/p20".into(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            latencies.push(ms(started));
            // Its 20 connections (and placeholders for types it lacks).
            let connections = envelope
                .items
                .iter()
                .filter(|i| !i.connection.is_empty())
                .count();
            if connections != 20 {
                return Err(format!("p20 has {connections} connections").into());
            }
        }
        report.status_p50_ms.push(percentile(&mut latencies, 0.50));
        report.status_p99_ms.push(percentile(&mut latencies, 0.99));
        let (first, deep) = walk_connections(&mut registry).await?;
        report.connections_first_ms.push(first);
        report.connections_deep_ms.push(deep);
        let (first, deep) = walk_actions(&mut actions).await?;
        report.actions_first_ms.push(first);
        report.actions_deep_ms.push(deep);
    }
    report.rss_kib = server.rss_kib();

    // The prober: once every due connection has had its first probe, CPU
    // over probes in fixed windows.
    let started = probes.load(Ordering::SeqCst);
    load::make_due(&store::connect(&database).await?, &report.layout).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while probes.load(Ordering::SeqCst) - started < u64::try_from(report.layout.due)?
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..ROUNDS {
        let (ticks, seen) = (server.cpu_ticks(), probes.load(Ordering::SeqCst));
        tokio::time::sleep(PROBE_WINDOW).await;
        let done = (probes.load(Ordering::SeqCst) - seen).max(1);
        let cpu_us = (server.cpu_ticks() - ticks) as f64 * 10_000.0;
        report.cpu_us_per_probe.push(cpu_us / done as f64);
        report
            .probes_per_s
            .push(done as f64 / PROBE_WINDOW.as_secs_f64());
    }
    server.stop().await;
    admin
        .batch_execute(&format!("DROP DATABASE {name}"))
        .await?;
    Ok(report)
}

fn template(fake_url: &str) -> CreateConnectionRequest {
    let health = prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue(format!(
            "{fake_url}/health"
        ))),
    };
    CreateConnectionRequest {
        parent: "projects/tpl".into(),
        connection_id: "tpl".into(),
        connection: Some(Connection {
            integration_type: "integrationTypes/http".into(),
            display_name: "Health endpoint".into(),
            settings: Some(prost_types::Struct {
                fields: [("health_url".to_owned(), health)].into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every page of `big`'s connections: the median latency of the first
/// three pages and of the last three.
async fn walk_connections(registry: &mut IntegrationRegistryClient<Authed>) -> Result<(f64, f64)> {
    walk(async |page_token| {
        let request = ListConnectionsRequest {
            parent: "projects/big".into(),
            page_size: PAGE_SIZE,
            page_token,
            ..Default::default()
        };
        Ok(registry
            .list_connections(request)
            .await?
            .into_inner()
            .next_page_token)
    })
    .await
}

/// The same for `big`'s actions.
async fn walk_actions(actions: &mut ActionServiceClient<Authed>) -> Result<(f64, f64)> {
    walk(async |page_token| {
        let request = ListActionsRequest {
            parent: "projects/big".into(),
            page_size: PAGE_SIZE,
            page_token,
            ..Default::default()
        };
        Ok(actions
            .list_actions(request)
            .await?
            .into_inner()
            .next_page_token)
    })
    .await
}

/// Follows `next_page_token`s from the first page to the last, timing each
/// `page` call.
async fn walk(mut page: impl AsyncFnMut(String) -> Result<String>) -> Result<(f64, f64)> {
    let mut latencies = Vec::new();
    let mut token = String::new();
    loop {
        let started = Instant::now();
        token = page(token).await?;
        latencies.push(ms(started));
        if token.is_empty() {
            return Ok(ends(&latencies));
        }
    }
}

fn ends(pages: &[f64]) -> (f64, f64) {
    let n = pages.len().min(3);
    let mut first = pages[..n].to_vec();
    let mut last = pages[pages.len() - n..].to_vec();
    (percentile(&mut first, 0.5), percentile(&mut last, 0.5))
}

/// The fake provider every probe goes to: `GET /health`, counted.
async fn fake_provider() -> Result<(String, Arc<AtomicU64>)> {
    let probes = Arc::new(AtomicU64::new(0));
    let counted = probes.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            async { axum::Json(serde_json::json!({"status": "ok"})) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, probes))
}
