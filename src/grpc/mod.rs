//! The gRPC server: our services behind authentication and request rate
//! limits, health and reflection open to everyone (the local health prober
//! included), gRPC-Web for the browser origins allowed, and one write per
//! HTTP/2 turn.

use std::future::Future;

mod cors;
mod limits;
mod rpc_log;
mod rpc_metrics;
mod undecodable;

use axum::{body::Body, http::Request};
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tower::{ServiceBuilder, util::MapResponseLayer};
use tower_governor::GovernorLayer;
use tower_http::trace::TraceLayer;

pub use self::cors::{BrowserOrigin, InvalidOrigin};
use self::limits::{CallerOrPeer, Peer, refuse};
use crate::{
    auth::Authenticator,
    coalesced_writes::CoalescedWrites,
    metrics::Metrics,
    proto,
    rate_limit::{self, RateLimit},
};

/// HTTP/2 streams one client connection may hold open (watches included).
const MAX_STREAMS_PER_CONNECTION: u32 = 1000;

/// Who may call the gRPC server from where, and how often.
#[derive(Debug, Clone, Default)]
pub struct GrpcPolicy {
    pub limits: GrpcLimits,
    /// Browser origins allowed to call over gRPC-Web; none by default.
    pub browser_origins: Vec<BrowserOrigin>,
}

/// Request rate limits of the gRPC services; `None` turns one off.
#[derive(Debug, Clone, Copy)]
pub struct GrpcLimits {
    /// Per token subject; calls without a valid token count per peer here.
    pub per_caller: Option<RateLimit>,
    /// Per peer address, every call: a flood guard before any token check.
    pub per_peer: Option<RateLimit>,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        Self {
            per_caller: Some(RateLimit {
                per_second: 100,
                burst: 200,
            }),
            per_peer: Some(RateLimit {
                per_second: 1000,
                burst: 5000,
            }),
        }
    }
}

/// Builds the server on `listener`: `guarded` (our services, each with the
/// [`crate::auth::AuthInterceptor`]) get authentication and limits, health
/// and reflection do not. Runs until `shutdown` is cancelled.
pub fn serve(
    listener: TcpListener,
    guarded: Routes,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    authenticator: Authenticator,
    policy: GrpcPolicy,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<
    impl Future<Output = Result<(), tonic::transport::Error>>,
    tonic_reflection::server::Error,
> {
    // One stack, so the router boxes it once: the peer guard first (before
    // any token is checked), then authentication, then the per-caller limit
    // that keys on its result.
    let limits = policy.limits;
    let per_peer = limits
        .per_peer
        .and_then(|l| rate_limit::buckets(l, Peer))
        .map(|config| GovernorLayer::new(config).error_handler(refuse));
    let per_caller = limits
        .per_caller
        .and_then(|l| rate_limit::buckets(l, CallerOrPeer))
        .map(|config| GovernorLayer::new(config).error_handler(refuse));
    let router = guarded.into_axum_router().layer(
        ServiceBuilder::new()
            .option_layer(per_peer)
            .map_request(move |mut request: Request<Body>| {
                authenticator.authenticate(&mut request);
                request
            })
            .option_layer(per_caller),
    );
    // Health and google.rpc descriptors too, so tools can describe health
    // and decode error details.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let routes = Routes::from(router)
        .add_service(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    Ok(tonic::transport::Server::builder()
        .accept_http1(true)
        // Watch-heavy clients multiplex many streams on few connections.
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(rpc_log::rpc_span)
                .on_failure(rpc_log::log_failure),
        )
        // Outside authentication: preflights carry no token.
        .layer(tower::util::option_layer(cors::layer(
            &policy.browser_origins,
        )))
        .layer(tonic_web::GrpcWebLayer::new())
        // Inside gRPC-Web, which moves the trailers into the body.
        .layer(rpc_metrics::RpcMetricsLayer::new(
            &metrics,
            &[
                proto::FILE_DESCRIPTOR_SET,
                tonic_health::pb::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            ],
        ))
        // Innermost, so it sees native gRPC statuses.
        .layer(MapResponseLayer::new(undecodable::as_client_error))
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY, multi-frame responses wait on delayed ACKs;
            // with it, coalescing keeps one write per turn, not per frame.
            TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .map(|accepted| accepted.map(CoalescedWrites::new)),
            shutdown.cancelled_owned(),
        ))
}
