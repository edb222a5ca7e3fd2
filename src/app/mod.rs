//! The server's life in four steps, on listeners it is given: `build`
//! migrates the database and builds the services, `spawn` starts the
//! background work (probes, the event log follower, action workers, the
//! webhook processor), `serve` runs gRPC and the HTTP bridge until a
//! shutdown future resolves, and `drain` lets in-flight work finish.

mod build;
mod drain;
mod serve;
mod spawn;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tonic::server::NamedService;

use crate::{
    actions::{ActionConfig, ActionsGrpc},
    alerts::AlertsGrpc,
    alerts::delivery::{AlertConfig, SenderError},
    auth::KeySource,
    automations::{AutomationConfig, AutomationsGrpc},
    crypto::Keyring,
    diagnostics::DiagnosticsGrpc,
    grpc::GrpcPolicy,
    proto::v1::{
        action_service_server::ActionServiceServer, alert_service_server::AlertServiceServer,
        automation_service_server::AutomationServiceServer, diagnostics_server::DiagnosticsServer,
        integration_registry_server::IntegrationRegistryServer,
        status_service_server::StatusServiceServer,
    },
    registry::RegistryGrpc,
    retention::RetentionConfig,
    status::{StatusGrpc, prober::ProberConfig},
    store::{StoreError, migrate::MigrateError},
    webhooks::WebhookConfig,
};

/// Everything a server needs, already validated.
#[derive(Clone)]
pub struct ServerConfig {
    pub database: tokio_postgres::Config,
    pub pool_size: usize,
    pub keys: KeySource,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// Deployments CompareDeployments may call (`host:port`); no other.
    pub deployment_peers: Vec<String>,
    /// Public base URL of the bridge; `None` means `http://<bridge address>`.
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
    /// Rate limits and the browser origins allowed.
    pub grpc: GrpcPolicy,
    /// Record metrics and serve `/metrics`.
    pub metrics: bool,
    /// How long data is kept, and how often cleanup runs.
    pub retention: RetentionConfig,
    /// How alert notifications leave the server.
    pub alerts: AlertConfig,
    /// How automation runs are worked.
    pub automations: AutomationConfig,
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
    #[error(transparent)]
    Notifications(#[from] SenderError),
}

/// The gRPC services whose health is reported by name.
pub const SERVICE_NAMES: [&str; 6] = [
    <IntegrationRegistryServer<RegistryGrpc> as NamedService>::NAME,
    <StatusServiceServer<StatusGrpc> as NamedService>::NAME,
    <ActionServiceServer<ActionsGrpc> as NamedService>::NAME,
    <DiagnosticsServer<DiagnosticsGrpc> as NamedService>::NAME,
    <AlertServiceServer<AlertsGrpc> as NamedService>::NAME,
    <AutomationServiceServer<AutomationsGrpc> as NamedService>::NAME,
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
    let (services, jobs) = build::build(&config, &grpc, &http).await?;
    let background = spawn::spawn(&services, jobs, &config);
    let mut servers = serve::Servers::start(&services, &config, grpc, http)?;
    let failure = servers.until_stopped(shutdown).await;
    drain::drain(
        services,
        background,
        servers,
        config.shutdown_grace,
        failure,
    )
    .await
}
