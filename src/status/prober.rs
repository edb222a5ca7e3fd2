//! Who probes when: claim due connections under a lease (so no connection
//! is probed twice at once, across replicas or within one) at bounded
//! concurrency, forced probes for RefreshStatus and actions, and a
//! shutdown that lets probes in flight write their results. One probe's
//! work is in `probe`.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use deadpool_postgres::Pool;
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use super::{bus::EventBus, circuit::ProbePolicy, model::ItemStatus, probe::Probed};
use crate::{
    alerts::Alerting,
    error::ApiError,
    metrics::Metrics,
    names::ConnectionName,
    providers::{self, BaseUrls, ProbeError},
    registry::Registry,
    store::{self, StoreError, probes::ProbeJob},
};

#[derive(Debug, Clone)]
pub struct ProberConfig {
    pub policy: ProbePolicy,
    /// Each probe's time limit.
    pub timeout: Duration,
    /// Probes running at once in this replica.
    pub concurrency: usize,
    /// How often due connections are claimed.
    pub tick: Duration,
    /// Server-wide base URL overrides by type id (e.g. a proxy or fakes).
    pub base_uris: BaseUrls,
}

impl Default for ProberConfig {
    fn default() -> Self {
        Self {
            policy: ProbePolicy::default(),
            timeout: Duration::from_secs(10),
            concurrency: 16,
            tick: Duration::from_secs(1),
            base_uris: BaseUrls::default(),
        }
    }
}

#[derive(Clone)]
pub struct Prober {
    pub(super) pool: Pool,
    pub(super) registry: Registry,
    pub(super) bus: EventBus,
    owner: Uuid,
    pub(super) http: reqwest::Client,
    pub(super) config: Arc<ProberConfig>,
    permits: Arc<Semaphore>,
    /// Every probe in flight, background and forced: shutdown waits for
    /// them to write their results before it releases their leases.
    in_flight: TaskTracker,
    /// Set (under the lock) when shutdown begins: no probe starts after.
    stopping: Arc<Mutex<bool>>,
    pub(super) metrics: Metrics,
    pub(super) alerting: Alerting,
}

/// A forced probe: what the provider answered now, and the item it left.
#[derive(Debug, Clone)]
pub struct LiveProbe {
    /// The stored item after the probe (a stale fallback when it failed).
    pub item: ItemStatus,
    /// The provider's answer, never a cached one.
    pub answer: Result<providers::Observation, ProbeError>,
    /// How long the provider took to give it.
    pub latency: Duration,
}

/// How long a forced probe waits, at most, between tries for a busy lease.
const LEASE_POLL_MAX: Duration = Duration::from_millis(200);

impl Prober {
    pub fn new(
        pool: Pool,
        registry: Registry,
        bus: EventBus,
        owner: Uuid,
        config: ProberConfig,
        metrics: Metrics,
        alerting: Alerting,
    ) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            pool,
            registry,
            bus,
            owner,
            http,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config: Arc::new(config),
            in_flight: TaskTracker::new(),
            stopping: Arc::new(Mutex::new(false)),
            metrics,
            alerting,
        }
    }

    /// The lease outlives the probe's timeout with room to write the result.
    /// Each probe's time limit.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    pub(super) fn lease(&self) -> Duration {
        self.config.timeout * 2 + Duration::from_secs(5)
    }

    /// Runs `job`'s probe as a task of its own, so a caller that goes away
    /// never leaves a probe half done; `None` once shutdown has begun.
    fn spawn_probe(
        &self,
        job: ProbeJob,
        forced: bool,
    ) -> Option<tokio::task::JoinHandle<Result<Probed, ApiError>>> {
        let stopping = self
            .stopping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *stopping {
            return None;
        }
        let prober = self.clone();
        Some(
            self.in_flight
                .spawn(async move { prober.probe(job, forced).await }),
        )
    }

    /// Claims and probes due connections until `token` is cancelled, then
    /// lets the probes in flight finish and releases this replica's leases.
    pub async fn run(self, token: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Set when the last claim took every free permit: more may be due,
        // so claim again as soon as half the permits are back rather than
        // at the next tick (which would cap probes at `concurrency` a tick).
        let mut backlog = false;
        let refill = u32::try_from((self.config.concurrency / 2).max(1)).unwrap_or(1);
        loop {
            if backlog {
                tokio::select! {
                    () = token.cancelled() => break,
                    permits = self.permits.clone().acquire_many_owned(refill) => drop(permits),
                }
            } else {
                tokio::select! {
                    () = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
            }
            let free = self.permits.available_permits();
            backlog = false;
            if free == 0 {
                continue;
            }
            let jobs = async {
                let client = self.pool.get().await?;
                store::probes::claim_due(
                    &client,
                    self.owner,
                    self.lease(),
                    i64::try_from(free).unwrap_or(1),
                )
                .await
            }
            .await;
            let jobs = match jobs {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::debug!(error = %crate::error::ErrorChain(&e), "claiming due probes failed");
                    continue;
                }
            };
            backlog = jobs.len() >= free;
            for job in jobs {
                let Ok(permit) = self.permits.clone().acquire_owned().await else {
                    break;
                };
                let name = job.name.clone();
                let Some(probe) = self.spawn_probe(job, false) else {
                    break;
                };
                tokio::spawn(async move {
                    match probe.await {
                        Ok(Err(e)) => {
                            tracing::warn!(connection = %name, error = %e, "probe failed to complete");
                        }
                        Err(e) => {
                            tracing::warn!(connection = %name, error = %e, "probe task failed")
                        }
                        Ok(Ok(_)) => {}
                    }
                    drop(permit);
                });
            }
        }
        self.drain().await;
    }

    /// Shutdown: no new probes; the ones in flight write their results
    /// (each is bounded by the probe timeout); then the leases go.
    async fn drain(&self) {
        {
            let mut stopping = self
                .stopping
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *stopping = true;
            self.in_flight.close();
        }
        if tokio::time::timeout(self.lease(), self.in_flight.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                probes = self.in_flight.len(),
                "probes still running at shutdown; their leases expire on their own"
            );
        }
        let released = async {
            let client = self.pool.get().await?;
            store::probes::release_leases(&client, self.owner).await
        }
        .await;
        if let Err(e) = released {
            tracing::warn!(error = %crate::error::ErrorChain(&e), "releasing probe leases failed");
        }
    }

    /// Probes one connection now (RefreshStatus, and actions that test),
    /// past an open circuit's cool-down. A probe of it in flight is waited
    /// for, then this one runs (an action's wait costs it no attempt); the
    /// wait is bounded by the lease, which a dead holder's probe outlives.
    pub async fn probe_now(&self, name: &ConnectionName) -> Result<LiveProbe, ApiError> {
        let deadline = tokio::time::Instant::now() + self.lease() + Duration::from_secs(1);
        let mut wait = Duration::from_millis(20);
        loop {
            if let Some(probe) = self.try_probe_now(name).await? {
                return Ok(probe);
            }
            if tokio::time::Instant::now() + wait > deadline {
                return Err(ApiError::unavailable(
                    "PROBE_IN_PROGRESS",
                    format!("{name} stayed busy with another probe"),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(LEASE_POLL_MAX);
        }
    }

    /// `None` while the lease is held.
    async fn try_probe_now(&self, name: &ConnectionName) -> Result<Option<LiveProbe>, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let Some(job) = store::probes::claim_now(&client, name, self.owner, self.lease()).await?
        else {
            if !store::probes::defer_background(&client, name, LEASE_POLL_MAX * 2).await? {
                return Err(ApiError::not_found(name));
            }
            return Ok(None);
        };
        drop(client);
        let probe = self.spawn_probe(job, true).ok_or_else(|| {
            ApiError::unavailable("SHUTTING_DOWN", "this replica is shutting down")
        })?;
        let probed = probe
            .await
            .map_err(|e| ApiError::internal("probe task failed", e))??;
        let Some((answer, latency)) = probed.answer else {
            return Err(ApiError::internal(
                "a forced probe did not run",
                name.to_string(),
            ));
        };
        Ok(Some(LiveProbe {
            item: probed.outcome.item,
            answer,
            latency,
        }))
    }
}
