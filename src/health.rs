//! Liveness and readiness: the database check behind `grpc.health.v1` and
//! `/readyz`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

use deadpool_postgres::Pool;

use crate::{
    app::SERVICE_NAMES,
    store::{
        self,
        replicas::{self, ReplicaInfo},
    },
};

/// Checks the database on an interval and reports every service SERVING
/// while it answers, NOT_SERVING while it does not. Each check also renews
/// this replica's heartbeat.
#[derive(Clone)]
pub struct HealthMonitor {
    reporter: HealthReporter,
    pool: Pool,
    replica: Arc<ReplicaInfo>,
    interval: Duration,
    serving: Arc<AtomicBool>,
}

impl HealthMonitor {
    pub fn new(
        reporter: HealthReporter,
        pool: Pool,
        replica: Arc<ReplicaInfo>,
        interval: Duration,
    ) -> Self {
        Self {
            reporter,
            pool,
            replica,
            interval,
            serving: Arc::new(AtomicBool::new(false)),
        }
    }

    pub async fn run(self, token: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let healthy = tokio::select! {
                () = token.cancelled() => return,
                healthy = self.check() => healthy,
            };
            self.report(healthy).await;
        }
    }

    async fn check(&self) -> bool {
        let timeout = self.interval.max(Duration::from_secs(1));
        let check = async {
            store::ping(&self.pool).await?;
            if !replicas::heartbeat(&self.pool, self.replica.id).await? {
                replicas::register(&self.pool, &self.replica).await?;
            }
            Ok::<_, store::StoreError>(())
        };
        match tokio::time::timeout(timeout, check).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "health check: database unreachable");
                false
            }
            Err(_) => {
                tracing::warn!(?timeout, "health check: database did not answer in time");
                false
            }
        }
    }

    async fn report(&self, healthy: bool) {
        let was = self.serving.swap(healthy, Ordering::SeqCst);
        if was != healthy || !healthy {
            let status = if healthy {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            if was != healthy {
                tracing::info!(?status, "health changed");
            }
            self.set_all(status).await;
        }
    }

    /// Reports NOT_SERVING so balancers drain this replica during shutdown.
    pub async fn mark_not_serving(&self) {
        self.serving.store(false, Ordering::SeqCst);
        self.set_all(ServingStatus::NotServing).await;
    }

    async fn set_all(&self, status: ServingStatus) {
        // "" is the whole server, as grpc.health.v1 defines.
        self.reporter.set_service_status("", status).await;
        for name in SERVICE_NAMES {
            self.reporter.set_service_status(name, status).await;
        }
    }
}
