//! One probe of one connection, under a lease its claim holds: admit it
//! past the circuit breaker, refresh an expiring token, ask the provider
//! with a timeout, apply the outcome and write it (with its event when it
//! changed), fenced on the claim's lease.

use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::Instrument as _;

use super::{
    circuit::{self, Outcome},
    model::{Circuit, ItemStatus, ProblemCode},
    prober::Prober,
};
use crate::{
    alerts::{
        evaluator::Raised,
        observation::{Observation, Observed, Sample, Source},
    },
    error::ApiError,
    metrics::ProbeOutcome,
    providers::{self, Call, ProbeError, problem},
    registry::oauth::RefreshError,
    store::{
        self, StoreError,
        probes::{ProbeJob, ProbeRecord},
    },
};

impl Prober {
    pub(super) async fn probe(&self, job: ProbeJob, forced: bool) -> Result<Probed, ApiError> {
        let span = tracing::info_span!(
            "probe",
            project = %job.name.project,
            connection = %job.name.id,
            provider = %job.type_id,
            latency_ms = tracing::field::Empty,
            circuit = tracing::field::Empty,
        );
        self.probe_inner(job, forced).instrument(span).await
    }

    async fn probe_inner(&self, job: ProbeJob, forced: bool) -> Result<Probed, ApiError> {
        let now = Utc::now();
        let started = Instant::now();
        let policy = &self.config.policy;
        // A forced probe is the trial an open circuit waits for.
        let admitted = match circuit::admit(&job, policy, now) {
            Err(_) if forced => Ok(Circuit::HalfOpen),
            other => other,
        };
        let (outcome, answer) = match admitted {
            Err(reopen) => {
                // Still cooling down: keep everything, come back later.
                let kept = Outcome {
                    item: job.item.clone(),
                    last_good: None,
                    consecutive_failures: job.consecutive_failures,
                    circuit: job.circuit,
                    circuit_opened_at: job.circuit_opened_at,
                    next_probe_at: reopen,
                    changed: false,
                };
                (kept, None)
            }
            Ok(running) => {
                let mut job = job.clone();
                if running == Circuit::HalfOpen && job.circuit == Circuit::Open {
                    // Later comparisons are against what watchers now see.
                    job.item = self.show_half_open(&job).await?;
                }
                let probe_started = Instant::now();
                let answer = self.ask_provider(&job).await?;
                let latency = probe_started.elapsed();
                let outcome = circuit::apply(&job, running, answer.clone(), latency, policy, now);
                (outcome, Some((answer, latency)))
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
            job.lease,
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
        let raised = match (&answer, kept) {
            (Some((answered, _)), true) => {
                let observation = observation(&job, &outcome.item, answered);
                self.alerting.observe(&tx, &observation).await?
            }
            _ => Raised::default(),
        };
        tx.commit().await.map_err(StoreError::from)?;
        self.alerting.announce(raised);
        if !kept {
            tracing::warn!("the probe outlived its lease; its result was dropped");
            return Err(ApiError::unavailable(
                "PROBE_LEASE_LOST",
                "the probe outlived its lease; its result was not stored",
            ));
        }
        if outcome.changed {
            tracing::info!(level = ?outcome.item.level, "status changed");
            self.bus.wake();
        }
        Ok(Probed { outcome, answer })
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

    async fn ask_provider(
        &self,
        job: &ProbeJob,
    ) -> Result<Result<providers::Observation, ProbeError>, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let ty = store::catalog::get(&client, &job.type_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal("connection's type is missing", job.type_id.to_string())
            })?;
        drop(client);
        let spec = &ty.definition.spec;
        let Some(provider) = providers::find(&spec.probe) else {
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
        let call = Call {
            http: &self.http,
            base_uri: &base_uri,
            settings: &job.settings,
            credentials: &credentials,
            timeout: self.config.timeout,
            now: Utc::now(),
        };
        let asked = Instant::now();
        let result = tokio::time::timeout(
            self.config.timeout + Duration::from_secs(1),
            provider.probe(&call),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ProbeError::Transient(problem(
                ProblemCode::Timeout,
                "the provider did not answer in time",
            )))
        });
        let outcome = match &result {
            Ok(_) => ProbeOutcome::Answered,
            Err(ProbeError::Definitive(_)) => ProbeOutcome::Definitive,
            Err(ProbeError::Transient(_)) => ProbeOutcome::Transient,
            Err(ProbeError::RateLimited(_)) => ProbeOutcome::RateLimited,
        };
        self.metrics.probe(provider.id(), outcome, asked.elapsed());
        Ok(result)
    }
}
/// What the alert rules observe of a probe the provider answered.
fn observation(
    job: &ProbeJob,
    item: &ItemStatus,
    answered: &Result<providers::Observation, ProbeError>,
) -> Observation {
    let (ok, reason, rate_limit_remaining) = match answered {
        Ok(seen) => (
            true,
            seen.problem.as_ref().map(|p| p.code),
            seen.rate_limit_remaining,
        ),
        Err(e @ ProbeError::RateLimited(_)) => (false, Some(e.problem().code), Some(0)),
        Err(e) => (false, Some(e.problem().code), None),
    };
    Observation {
        connection: job.name.clone(),
        observed: Observed::Probe {
            sample: Sample {
                source: Source::Probe,
                ok,
                reason: reason.map(|c| c.as_str().to_owned()),
                rate_limit_remaining,
            },
            level: item.level,
            reason: item.problem.as_ref().map(|p| p.code.as_str().to_owned()),
        },
    }
}

/// A finished probe: what it stored, and the provider's answer when the
/// provider was asked (an open circuit's cool-down asks nothing).
pub(super) struct Probed {
    pub outcome: Outcome,
    pub answer: Option<(Result<providers::Observation, ProbeError>, Duration)>,
}
