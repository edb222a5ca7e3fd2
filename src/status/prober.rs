//! Background probes: claim due connections under a lease (so two replicas
//! never probe one at once), run their adapters at bounded concurrency with
//! a timeout, and write the outcome (logging an event when it changed).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use deadpool_postgres::Pool;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use super::{
    bus::EventBus,
    circuit::{self, Outcome, ProbePolicy},
    model::{Circuit, ItemStatus, ProblemCode},
};
use crate::{
    adapters::{self, BaseUrls, ProbeContext, ProbeError, problem},
    error::{ApiError, ErrorCode},
    names::ConnectionName,
    registry::{Registry, oauth::RefreshError},
    store::{
        self, StoreError,
        probes::{ProbeJob, ProbeRecord},
    },
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
    pool: Pool,
    registry: Registry,
    bus: EventBus,
    owner: Uuid,
    http: reqwest::Client,
    config: Arc<ProberConfig>,
    permits: Arc<Semaphore>,
}

impl Prober {
    pub fn new(
        pool: Pool,
        registry: Registry,
        bus: EventBus,
        owner: Uuid,
        config: ProberConfig,
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
        }
    }

    /// The lease outlives the probe's timeout with room to write the result.
    fn lease(&self) -> Duration {
        self.config.timeout * 2 + Duration::from_secs(5)
    }

    /// Claims and probes due connections until `token` is cancelled, then
    /// releases this replica's leases.
    pub async fn run(self, token: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                _ = tick.tick() => {}
            }
            let free = self.permits.available_permits();
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
            for job in jobs {
                let Ok(permit) = self.permits.clone().acquire_owned().await else {
                    break;
                };
                let prober = self.clone();
                tokio::spawn(async move {
                    let name = job.name.clone();
                    if let Err(e) = prober.probe(job).await {
                        tracing::warn!(connection = %name, error = %e, "probe failed to complete");
                    }
                    drop(permit);
                });
            }
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

    /// Probes one connection now (RefreshStatus). ABORTED while another
    /// replica's probe of it is running.
    pub async fn probe_now(&self, name: &ConnectionName) -> Result<ItemStatus, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let job = store::probes::claim_now(&client, name, self.owner, self.lease()).await?;
        drop(client);
        let Some(job) = job else {
            return Err(ApiError::new(
                ErrorCode::Aborted,
                "PROBE_IN_PROGRESS",
                format!("{name} is being probed right now; read its status shortly"),
            ));
        };
        Ok(self.probe(job).await?.item)
    }

    async fn probe(&self, job: ProbeJob) -> Result<Outcome, ApiError> {
        let span = tracing::info_span!(
            "probe",
            project = %job.name.project,
            connection = %job.name.id,
            provider = %job.type_id,
            latency_ms = tracing::field::Empty,
            circuit = tracing::field::Empty,
        );
        self.probe_inner(job).instrument(span).await
    }

    async fn probe_inner(&self, job: ProbeJob) -> Result<Outcome, ApiError> {
        let now = Utc::now();
        let started = Instant::now();
        let policy = &self.config.policy;
        let outcome = match circuit::admit(&job, policy, now) {
            Err(reopen) => {
                // Still cooling down: keep everything, come back later.
                Outcome {
                    item: job.item.clone(),
                    last_good: None,
                    consecutive_failures: job.consecutive_failures,
                    circuit: job.circuit,
                    circuit_opened_at: job.circuit_opened_at,
                    next_probe_at: reopen,
                    changed: false,
                }
            }
            Ok(running) => {
                let mut job = job.clone();
                if running == Circuit::HalfOpen && job.circuit == Circuit::Open {
                    // Later comparisons are against what watchers now see.
                    job.item = self.show_half_open(&job).await?;
                }
                let probe_started = Instant::now();
                let result = self.run_adapter(&job).await?;
                let latency = probe_started.elapsed();
                circuit::apply(&job, running, result, latency, policy, now)
            }
        };
        let span = tracing::Span::current();
        span.record("latency_ms", started.elapsed().as_millis() as u64);
        span.record("circuit", store::status::circuit_str(outcome.circuit));
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let kept = store::probes::finish_probe(
            &tx,
            &job.name,
            self.owner,
            &ProbeRecord {
                item: &outcome.item,
                last_good: outcome.last_good.as_ref(),
                consecutive_failures: outcome.consecutive_failures,
                circuit: outcome.circuit,
                circuit_opened_at: outcome.circuit_opened_at,
                next_probe_at: outcome.next_probe_at,
                changed: outcome.changed,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        if !kept {
            tracing::warn!("the probe outlived its lease; its result was dropped");
        } else if outcome.changed {
            tracing::info!(level = ?outcome.item.level, "status changed");
            self.bus.wake();
        }
        Ok(outcome)
    }

    /// Shows the trial probe while it runs: the item's circuit is half-open.
    async fn show_half_open(&self, job: &ProbeJob) -> Result<ItemStatus, ApiError> {
        let mut item = job.item.clone();
        item.circuit = Circuit::HalfOpen;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        store::status::record_item(&tx, &job.name, &item, false).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.bus.wake();
        Ok(item)
    }

    async fn run_adapter(
        &self,
        job: &ProbeJob,
    ) -> Result<Result<adapters::Observation, ProbeError>, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let ty = store::catalog::get(&client, &job.type_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal("connection's type is missing", job.type_id.to_string())
            })?;
        drop(client);
        let spec = &ty.definition.spec;
        let Some(adapter) = adapters::adapter(&spec.probe) else {
            return Ok(Err(ProbeError::misconfigured(format!(
                "no probe named {}",
                spec.probe
            ))));
        };
        let credentials = match self
            .registry
            .fresh_credentials(&job.name, &job.type_id, spec, &self.http)
            .await
        {
            Ok(credentials) => credentials.unwrap_or_default(),
            Err(RefreshError::Revoked) => {
                return Ok(Err(ProbeError::Definitive(problem(
                    ProblemCode::OauthRevoked,
                    "the provider refused to refresh the token; reconnect the integration",
                ))));
            }
            Err(RefreshError::Unreachable(_) | RefreshError::Provider(_)) => {
                return Ok(Err(ProbeError::Transient(problem(
                    ProblemCode::Unreachable,
                    "the provider's token endpoint is not answering",
                ))));
            }
            Err(RefreshError::Store(e)) => return Err(e.into()),
            Err(RefreshError::Credentials(e)) => return Err(e),
        };
        let base_uri = self
            .registry
            .base_urls()
            .api(job.type_id.as_str(), spec, &job.settings);
        let ctx = ProbeContext {
            http: &self.http,
            base_uri: &base_uri,
            settings: &job.settings,
            credentials: &credentials,
            timeout: self.config.timeout,
            now: Utc::now(),
        };
        let result = tokio::time::timeout(
            self.config.timeout + Duration::from_secs(1),
            adapter.probe(&ctx),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ProbeError::Transient(problem(
                ProblemCode::Timeout,
                "the provider did not answer in time",
            )))
        });
        Ok(result)
    }
}
