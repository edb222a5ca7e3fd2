//! The last step: health says NOT_SERVING, the servers stop taking
//! requests and finish in-flight ones within the grace period, the
//! background loops end (probes in flight finish first), and the replica
//! deregisters.

use std::time::Duration;

use super::{
    AppError,
    build::Services,
    serve::{Servers, flatten_grpc, flatten_http},
    spawn::Background,
};
use crate::store::replicas;

pub(super) async fn drain(
    services: Services,
    background: Background,
    mut servers: Servers,
    grace: Duration,
    failure: Option<Result<(), AppError>>,
) -> Result<(), AppError> {
    tracing::info!("shutting down: no new requests; finishing in-flight ones");
    services.monitor.mark_not_serving().await;
    services.token.cancel();
    let finish = async {
        let grpc = if servers.grpc.is_finished() {
            Ok(())
        } else {
            flatten_grpc((&mut servers.grpc).await)
        };
        let http = if servers.http.is_finished() {
            Ok(())
        } else {
            flatten_http((&mut servers.http).await)
        };
        grpc.and(http)
    };
    let drained = tokio::time::timeout(grace, finish).await;
    if drained.is_err() {
        tracing::warn!(
            ?grace,
            "in-flight requests outlived the grace period; closing them"
        );
        servers.grpc.abort();
        servers.http.abort();
    }
    let _ = background.monitor.await;
    for task in background.loops {
        let _ = task.await;
    }
    if let Err(e) = replicas::deregister(&services.pool, services.replica.id).await {
        tracing::warn!(error = %crate::error::ErrorChain(&e), "could not deregister this replica");
    }
    services.pool.close();
    match (failure, drained) {
        (Some(Err(e)), _) | (None, Ok(Err(e))) => Err(e),
        _ => Ok(()),
    }
}
