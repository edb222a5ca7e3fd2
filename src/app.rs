//! Builds the shared state and runs the gRPC server and the HTTP bridge on
//! listeners it is given, until a shutdown future resolves.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{server::NamedService, service::Routes};
use uuid::Uuid;

use crate::{
    actions::{ActionConfig, Actions, ActionsGrpc, Effects, Workers},
    auth::{AuthInterceptor, Authenticator, JwtVerifier, KeySource},
    bridge,
    crypto::Keyring,
    diagnostics::DiagnosticsGrpc,
    grpc::{self, GrpcLimits},
    health::HealthMonitor,
    proto::v1::{
        action_service_server::ActionServiceServer, diagnostics_server::DiagnosticsServer,
        integration_registry_server::IntegrationRegistryServer,
        status_service_server::StatusServiceServer,
    },
    registry::catalog_snapshot::CatalogSnapshot,
    registry::{Registry, RegistryGrpc},
    status::{
        StatusGrpc,
        bus::{BusOptions, EventBus},
        cache::StatusCache,
        prober::{Prober, ProberConfig},
        watch::Watches,
    },
    store::{
        self, StoreError,
        migrate::{self, MigrateError},
        replicas::{self, ReplicaInfo},
    },
    webhooks::{WebhookConfig, Webhooks, processor::Processor},
};

/// How long start-up keeps retrying a database that is not up yet.
const STARTUP_DB_WAIT: Duration = Duration::from_secs(30);

/// Everything a server needs, already validated.
#[derive(Clone)]
pub struct ServerConfig {
    pub database: tokio_postgres::Config,
    pub pool_size: usize,
    pub keys: KeySource,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// Public base URL of the bridge; `None` means http://<bridge address>.
    pub public_url: Option<String>,
    pub health_interval: Duration,
    pub shutdown_grace: Duration,
    /// Seals credentials and webhook secrets at rest.
    pub keyring: Arc<Keyring>,
    /// How long a rotated webhook secret stays valid.
    pub webhook_secret_grace: Duration,
    pub status: StatusConfig,
    pub webhooks: WebhookConfig,
    pub actions: ActionConfig,
    pub grpc_limits: GrpcLimits,
}

/// Probes and the event log.
#[derive(Clone, Debug)]
pub struct StatusConfig {
    pub prober: ProberConfig,
    /// How long watch events are kept for resuming.
    pub event_retention: Duration,
    /// How often the event log is read without a notification.
    pub event_backstop: Duration,
    /// Events a watcher may fall behind before it reads the log instead.
    pub watch_buffer: usize,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            prober: ProberConfig::default(),
            event_retention: Duration::from_secs(24 * 3600),
            event_backstop: Duration::from_secs(1),
            watch_buffer: 128,
        }
    }
}

/// State shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub replica: Arc<ReplicaInfo>,
    pub started_at: DateTime<Utc>,
    pub public_url: Arc<str>,
    pub registry: Registry,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("building the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed")]
    Grpc(#[from] tonic::transport::Error),
    #[error("the HTTP bridge failed")]
    Http(#[source] std::io::Error),
    #[error("reading a listener's address")]
    Listener(#[source] std::io::Error),
}

/// The gRPC services whose health is reported by name.
pub const SERVICE_NAMES: [&str; 4] = [
    <IntegrationRegistryServer<RegistryGrpc> as NamedService>::NAME,
    <StatusServiceServer<StatusGrpc> as NamedService>::NAME,
    <ActionServiceServer<ActionsGrpc> as NamedService>::NAME,
    <DiagnosticsServer<DiagnosticsGrpc> as NamedService>::NAME,
];

/// Migrates the database, then serves gRPC on `grpc` and the bridge on
/// `http` until `shutdown` resolves; in-flight requests get
/// `config.shutdown_grace` to finish.
pub async fn run(
    config: ServerConfig,
    grpc: TcpListener,
    http: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AppError> {
    let grpc_addr = grpc.local_addr().map_err(AppError::Listener)?;
    let http_addr = http.local_addr().map_err(AppError::Listener)?;
    migrate_with_retry(&config.database).await?;

    let pool = store::pool(config.database.clone(), config.pool_size)?;
    let replica = ReplicaInfo {
        id: Uuid::new_v4(),
        hostname: hostname(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        grpc_addr: grpc_addr.to_string(),
        http_addr: http_addr.to_string(),
    };
    replicas::register(&pool, &replica).await?;
    let state = AppState {
        pool: pool.clone(),
        replica: Arc::new(replica),
        started_at: Utc::now(),
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}"))
            .trim_end_matches('/')
            .into(),
        registry: Registry::new(
            pool.clone(),
            config.keyring.clone(),
            config.webhook_secret_grace,
        )
        .with_base_urls(config.status.prober.base_uris.clone()),
    };

    let token = CancellationToken::new();
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let monitor = HealthMonitor::new(reporter, state.clone(), config.health_interval);
    let monitor_task = tokio::spawn(monitor.clone().run(token.clone()));

    let cache = StatusCache::default();
    let bus = EventBus::new(pool.clone(), cache, config.status.watch_buffer);
    bus.load().await.ok();
    let bus_task = tokio::spawn(bus.clone().run(
        config.database.clone(),
        BusOptions {
            backstop: config.status.event_backstop,
            retention: config.status.event_retention,
        },
        token.clone(),
    ));
    let catalog = CatalogSnapshot::default();
    catalog.refresh(&pool).await.ok();
    let catalog_task = tokio::spawn(catalog.clone().run(
        pool.clone(),
        Duration::from_secs(5),
        token.clone(),
    ));
    let prober = Prober::new(
        pool.clone(),
        state.registry.clone(),
        bus.clone(),
        state.replica.id,
        config.status.prober.clone(),
    );
    let prober_task = tokio::spawn(prober.clone().run(token.clone()));
    let action_config = Arc::new(config.actions.clone());
    let action_wake = Arc::new(tokio::sync::Notify::new());
    let workers = Workers::new(
        pool.clone(),
        bus.clone(),
        Effects::new(pool.clone(), state.registry.clone(), prober.clone()),
        action_config.clone(),
        state.replica.id,
        action_wake.clone(),
    );
    let workers_task = tokio::spawn(workers.run(token.clone()));
    let actions = Actions::new(pool.clone(), bus.clone(), action_config, action_wake);
    let stored = Arc::new(tokio::sync::Notify::new());
    let webhooks = Webhooks::start(
        pool.clone(),
        config.keyring.clone(),
        state.public_url.clone(),
        config.webhooks.clone(),
        stored.clone(),
    );
    let processor = Processor::new(
        pool.clone(),
        bus.clone(),
        webhooks.config.clone(),
        stored,
        catalog.clone(),
    );
    let processor_task = tokio::spawn(processor.run(token.clone()));
    let watches = Watches {
        bus: bus.clone(),
        pool: pool.clone(),
        catalog: catalog.clone(),
        shutdown: token.clone(),
    };

    let authenticator = Authenticator::new(JwtVerifier::new(
        &config.keys,
        config.jwt_issuer.as_deref(),
        config.jwt_audience.as_deref(),
    ));
    let guarded = Routes::builder()
        .add_service(IntegrationRegistryServer::with_interceptor(
            RegistryGrpc::new(state.registry.clone(), state.public_url.clone()),
            AuthInterceptor,
        ))
        .add_service(StatusServiceServer::with_interceptor(
            StatusGrpc::new(bus, catalog, prober, watches),
            AuthInterceptor,
        ))
        .add_service(ActionServiceServer::with_interceptor(
            ActionsGrpc::new(actions),
            AuthInterceptor,
        ))
        .add_service(DiagnosticsServer::with_interceptor(
            DiagnosticsGrpc::new(state.clone()),
            AuthInterceptor,
        ))
        .clone()
        .routes();
    let grpc_server = grpc::serve(
        grpc,
        guarded,
        health_service,
        authenticator,
        config.grpc_limits,
        token.clone(),
    )?;
    let bridge_server = axum::serve(
        http,
        bridge::router(state.clone(), webhooks)
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(token.clone().cancelled_owned());

    tracing::info!(%grpc_addr, %http_addr, replica = %state.replica.id, "serving");
    let mut grpc_task = tokio::spawn(grpc_server);
    let mut http_task = tokio::spawn(async move { bridge_server.await });

    let failure = tokio::select! {
        () = shutdown => None,
        result = &mut grpc_task => Some(flatten_grpc(result)),
        result = &mut http_task => Some(flatten_http(result)),
    };
    tracing::info!("shutting down: no new requests; finishing in-flight ones");
    monitor.mark_not_serving().await;
    token.cancel();
    let drain = async {
        let grpc = if grpc_task.is_finished() {
            Ok(())
        } else {
            flatten_grpc((&mut grpc_task).await)
        };
        let http = if http_task.is_finished() {
            Ok(())
        } else {
            flatten_http((&mut http_task).await)
        };
        grpc.and(http)
    };
    let drained = tokio::time::timeout(config.shutdown_grace, drain).await;
    if drained.is_err() {
        tracing::warn!(grace = ?config.shutdown_grace, "in-flight requests outlived the grace period; closing them");
        grpc_task.abort();
        http_task.abort();
    }
    let _ = monitor_task.await;
    for task in [
        bus_task,
        catalog_task,
        prober_task,
        processor_task,
        workers_task,
    ] {
        let _ = task.await;
    }
    if let Err(e) = replicas::deregister(&pool, state.replica.id).await {
        tracing::warn!(error = %e, "could not deregister this replica");
    }
    pool.close();
    match (failure, drained) {
        (Some(Err(e)), _) | (None, Ok(Err(e))) => Err(e),
        _ => Ok(()),
    }
}

fn flatten_grpc(
    result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), AppError> {
    match result {
        Ok(inner) => inner.map_err(AppError::from),
        Err(join) => Err(AppError::Http(std::io::Error::other(join))),
    }
}

fn flatten_http(
    result: Result<Result<(), std::io::Error>, tokio::task::JoinError>,
) -> Result<(), AppError> {
    match result {
        Ok(inner) => inner.map_err(AppError::Http),
        Err(join) => Err(AppError::Http(std::io::Error::other(join))),
    }
}

/// Applies migrations, waiting for a database that is still starting.
async fn migrate_with_retry(database: &tokio_postgres::Config) -> Result<(), AppError> {
    let deadline = tokio::time::Instant::now() + STARTUP_DB_WAIT;
    let mut delay = Duration::from_millis(100);
    loop {
        match store::connect(database).await {
            Ok(mut client) => {
                migrate::run(&mut client).await?;
                return Ok(());
            }
            Err(StoreError::Unavailable(e)) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, retry_in = ?delay, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
