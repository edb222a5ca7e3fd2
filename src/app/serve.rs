//! The third step: gRPC (our services behind authentication and limits,
//! health and reflection open) and the HTTP bridge, each handler given
//! only the service it translates for.

use std::future::Future;

use tokio::{net::TcpListener, task::JoinHandle};
use tonic::service::Routes;
use tonic_health::{pb::health_server::HealthServer, server::HealthService};

use super::{AppError, ServerConfig, build::Services};
use crate::{
    actions::ActionsGrpc,
    alerts::AlertsGrpc,
    auth::{AuthInterceptor, Authenticator, JwtVerifier},
    automations::AutomationsGrpc,
    bridge,
    diagnostics::DiagnosticsGrpc,
    grpc, metrics,
    proto::v1::{
        action_service_server::ActionServiceServer, alert_service_server::AlertServiceServer,
        automation_service_server::AutomationServiceServer, diagnostics_server::DiagnosticsServer,
        integration_registry_server::IntegrationRegistryServer,
        status_service_server::StatusServiceServer,
    },
    registry::RegistryGrpc,
    status::StatusGrpc,
};

/// Both servers, running.
pub(super) struct Servers {
    pub grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    pub http: JoinHandle<Result<(), std::io::Error>>,
}

impl Servers {
    pub fn start(
        services: &Services,
        config: &ServerConfig,
        grpc_listener: TcpListener,
        http_listener: TcpListener,
    ) -> Result<Self, AppError> {
        let grpc_addr = grpc_listener.local_addr().map_err(AppError::Listener)?;
        let http_addr = http_listener.local_addr().map_err(AppError::Listener)?;
        let authenticator = Authenticator::new(JwtVerifier::new(
            &config.keys,
            config.jwt_issuer.as_deref(),
            config.jwt_audience.as_deref(),
        ));
        let guarded = Routes::builder()
            .add_service(IntegrationRegistryServer::with_interceptor(
                RegistryGrpc::new(services.registry.clone(), services.public_url.clone()),
                AuthInterceptor,
            ))
            .add_service(StatusServiceServer::with_interceptor(
                StatusGrpc::new(services.status.clone()),
                AuthInterceptor,
            ))
            .add_service(ActionServiceServer::with_interceptor(
                ActionsGrpc::new(services.actions.clone()),
                AuthInterceptor,
            ))
            .add_service(DiagnosticsServer::with_interceptor(
                DiagnosticsGrpc::new(services.diagnostics.clone()),
                AuthInterceptor,
            ))
            .add_service(AlertServiceServer::with_interceptor(
                AlertsGrpc::new(
                    services.alert_rules.clone(),
                    services.channels.clone(),
                    services.alert_log.clone(),
                ),
                AuthInterceptor,
            ))
            .add_service(AutomationServiceServer::with_interceptor(
                AutomationsGrpc::new(services.automations.clone()),
                AuthInterceptor,
            ))
            .clone()
            .routes();
        let health =
            HealthServer::new(HealthService::from_health_reporter(services.health.clone()));
        let grpc_server = grpc::serve(
            grpc_listener,
            guarded,
            health,
            authenticator,
            config.grpc.clone(),
            services.metrics.clone(),
            services.token.clone(),
        )?;
        let bridge_server = axum::serve(
            http_listener,
            bridge::router(
                services.pool.clone(),
                services.webhooks.clone(),
                metrics::scrape::router(
                    services.metrics.clone(),
                    services.pool.clone(),
                    services.bus.clone(),
                ),
            )
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(services.token.clone().cancelled_owned());
        tracing::info!(%grpc_addr, %http_addr, replica = %services.replica.id, "serving");
        Ok(Self {
            grpc: tokio::spawn(grpc_server),
            http: tokio::spawn(async move { bridge_server.await }),
        })
    }

    /// Serves until `shutdown` resolves, or a server fails (its error).
    pub async fn until_stopped(
        &mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Option<Result<(), AppError>> {
        tokio::select! {
            () = shutdown => None,
            result = &mut self.grpc => Some(flatten_grpc(result)),
            result = &mut self.http => Some(flatten_http(result)),
        }
    }
}

pub(super) fn flatten_grpc(
    result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), AppError> {
    match result {
        Ok(inner) => inner.map_err(AppError::from),
        Err(join) => Err(AppError::Http(std::io::Error::other(join))),
    }
}

pub(super) fn flatten_http(
    result: Result<Result<(), std::io::Error>, tokio::task::JoinError>,
) -> Result<(), AppError> {
    match result {
        Ok(inner) => inner.map_err(AppError::Http),
        Err(join) => Err(AppError::Http(std::io::Error::other(join))),
    }
}
