//! The first step: the database migrated and pooled, this replica
//! registered, and every service built, nothing running yet.

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::server::HealthReporter;
use uuid::Uuid;

use super::{AppError, ServerConfig};
use crate::{
    actions::{Actions, Effects, Workers},
    alerts::{
        AlertLog, AlertRules, Alerting, Channels, announcer::Announcer, delivery::Sender,
        dispatch::Dispatcher,
    },
    automations::{Automations, executor::Executor, trigger::Matcher},
    diagnostics::{Diagnostics, Parts, deployment::DeploymentFacts},
    health::HealthMonitor,
    metrics::Metrics,
    registry::{Registry, catalog_snapshot::CatalogSnapshot},
    status::{StatusBoard, bus::EventBus, cache::StatusCache, prober::Prober, watch::Watches},
    store::{
        self, StoreError, migrate,
        replicas::{self, ReplicaInfo},
    },
    webhooks::{Webhooks, processor::Processor},
};

/// How long start-up keeps retrying a database that is not up yet.
const STARTUP_DB_WAIT: Duration = Duration::from_secs(30);

/// The services the servers hand requests to, and what shutdown needs.
pub(super) struct Services {
    pub pool: Pool,
    pub replica: Arc<ReplicaInfo>,
    pub public_url: Arc<str>,
    /// Cancelled at shutdown: stops the background work and the servers.
    pub token: CancellationToken,
    pub health: HealthReporter,
    pub monitor: HealthMonitor,
    pub registry: Registry,
    pub status: StatusBoard,
    pub actions: Actions,
    pub webhooks: Webhooks,
    pub diagnostics: Diagnostics,
    pub alert_rules: AlertRules,
    pub channels: Channels,
    pub alert_log: AlertLog,
    pub automations: Automations,
    pub metrics: Metrics,
    /// For the gauges `/metrics` reads when scraped.
    pub bus: EventBus,
}

/// The background work, built and not yet started.
pub(super) struct Jobs {
    pub bus: EventBus,
    pub catalog: CatalogSnapshot,
    pub prober: Prober,
    pub workers: Workers,
    pub processor: Processor,
    pub refusals: crate::webhooks::refusals::Refusals,
    pub cleanup: crate::retention::Cleanup,
    pub dispatcher: Dispatcher,
    pub announcer: Announcer,
    pub executor: Executor,
}

pub(super) async fn build(
    config: &ServerConfig,
    grpc: &TcpListener,
    http: &TcpListener,
) -> Result<(Services, Jobs), AppError> {
    let grpc_addr = grpc.local_addr().map_err(AppError::Listener)?;
    let http_addr = http.local_addr().map_err(AppError::Listener)?;
    migrate_with_retry(&config.database).await?;
    let pool = store::pool(config.database.clone(), config.pool_size)?;
    let replica = Arc::new(ReplicaInfo {
        id: Uuid::new_v4(),
        hostname: hostname(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        grpc_addr: grpc_addr.to_string(),
        http_addr: http_addr.to_string(),
    });
    replicas::register(&pool, &replica).await?;
    let public_url: Arc<str> = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"))
        .trim_end_matches('/')
        .into();
    let token = CancellationToken::new();
    let metrics = if config.metrics {
        Metrics::new()
    } else {
        Metrics::off()
    };

    let alerting = Alerting::default();
    let registry = Registry::new(
        pool.clone(),
        config.keyring.clone(),
        config.webhook_secret_grace,
    )
    .with_base_urls(config.status.prober.base_uris.clone())
    .with_alerting(alerting.clone());
    let (health, _) = tonic_health::server::health_reporter();
    let monitor = HealthMonitor::new(
        health.clone(),
        pool.clone(),
        replica.clone(),
        config.health_interval,
    );

    let bus = EventBus::new(
        pool.clone(),
        StatusCache::default(),
        config.status.watch_buffer,
    );
    // Both are read at once by requests: load them before serving, and
    // let their background loops retry when the database is not up yet.
    bus.load().await.ok();
    let catalog = CatalogSnapshot::default();
    catalog.refresh(&pool).await.ok();
    let prober = Prober::new(
        pool.clone(),
        registry.clone(),
        bus.clone(),
        replica.id,
        config.status.prober.clone(),
        metrics.clone(),
        alerting.clone(),
    );
    let watches = Watches {
        bus: bus.clone(),
        pool: pool.clone(),
        catalog: catalog.clone(),
        shutdown: token.clone(),
        metrics: metrics.clone(),
    };
    let status = StatusBoard::new(bus.clone(), catalog.clone(), prober.clone(), watches);

    let action_config = Arc::new(crate::actions::ActionConfig {
        stop_grace: config.shutdown_grace,
        ..config.actions.clone()
    });
    let action_wake = Arc::new(tokio::sync::Notify::new());
    let workers = Workers::new(
        pool.clone(),
        bus.clone(),
        Effects::new(pool.clone(), registry.clone(), prober.clone()),
        action_config.clone(),
        replica.id,
        action_wake.clone(),
        metrics.clone(),
    )
    .with_alerting(alerting.clone());
    let actions = Actions::new(pool.clone(), bus.clone(), action_config, action_wake);
    let runs_wake = Arc::new(tokio::sync::Notify::new());
    let automations = Automations::new(
        pool.clone(),
        bus.clone(),
        registry.clone(),
        config.automations.clone(),
        runs_wake.clone(),
    );
    let executor = Executor::new(
        pool.clone(),
        bus.clone(),
        actions.clone(),
        alerting.clone(),
        config.automations.clone(),
        runs_wake.clone(),
    );

    let stored = Arc::new(tokio::sync::Notify::new());
    let webhooks = Webhooks::start(
        pool.clone(),
        config.keyring.clone(),
        public_url.clone(),
        config.webhooks.clone(),
        stored.clone(),
        metrics.clone(),
    );
    let processor = Processor::new(
        pool.clone(),
        bus.clone(),
        webhooks.config.clone(),
        stored,
        catalog.clone(),
        metrics.clone(),
        alerting.clone(),
    )
    .with_automations(Matcher::new(config.automations.loop_depth), runs_wake);

    let diagnostics = Diagnostics::new(Parts {
        pool: pool.clone(),
        bus: bus.clone(),
        facts: Arc::new(DeploymentFacts::new(config)),
        peers: config.deployment_peers.clone(),
        webhooks: webhooks.clone(),
        registry: registry.clone(),
        prober: prober.clone(),
        keyring: config.keyring.clone(),
        alerting: alerting.clone(),
    });

    let refusals = webhooks.refusals.clone();
    let alert_rules = AlertRules::new(pool.clone(), alerting.clone());
    let channels = Channels::new(
        pool.clone(),
        config.keyring.clone(),
        config.alerts.allow_private_outbound,
    );
    let sender = Arc::new(Sender::new(&config.alerts, config.keyring.clone())?);
    let alert_log = AlertLog::new(pool.clone(), sender.clone());
    let announcer = Announcer::new(
        pool.clone(),
        bus.clone(),
        alerting.events_wake(),
        config.alerts.poll,
    );
    let dispatcher = Dispatcher::new(pool.clone(), alerting, sender, config.alerts.clone());
    let services = Services {
        pool,
        replica,
        public_url,
        token,
        health,
        monitor,
        registry,
        status,
        actions,
        webhooks,
        diagnostics,
        alert_rules,
        channels,
        alert_log,
        automations,
        metrics,
        bus: bus.clone(),
    };
    let cleanup = crate::retention::Cleanup::new(services.pool.clone(), config.retention.clone());
    let jobs = Jobs {
        bus,
        catalog,
        prober,
        workers,
        processor,
        refusals,
        cleanup,
        dispatcher,
        announcer,
        executor,
    };
    Ok((services, jobs))
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
