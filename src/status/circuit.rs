//! What one probe outcome does to a connection's item, circuit breaker and
//! schedule. Pure: the prober feeds it and writes what it returns.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;

use super::model::{self, Circuit, ItemStatus, Level, Problem};
use crate::{
    providers::{Observation, ProbeError},
    store::probes::ProbeJob,
};

/// Probe cadence and the breaker's thresholds.
#[derive(Debug, Clone)]
pub struct ProbePolicy {
    /// Each connection is probed again after a random time in this range.
    pub ttl: (Duration, Duration),
    /// Consecutive transient failures that open the circuit.
    pub failure_threshold: i32,
    /// How long an open circuit waits before one trial probe (half-open).
    pub cool_down: Duration,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self {
            ttl: (Duration::from_secs(10), Duration::from_secs(45)),
            failure_threshold: 3,
            cool_down: Duration::from_secs(60),
        }
    }
}

impl ProbePolicy {
    fn next_after_ttl(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let (low, high) = self.ttl;
        let wait = if high > low {
            rand::rng().random_range(low..=high)
        } else {
            low
        };
        now + chrono::Duration::from_std(wait).unwrap_or_default()
    }

    fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
        now + chrono::Duration::from_std(wait).unwrap_or_default()
    }
}

/// The row a probe writes back.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub item: ItemStatus,
    pub last_good: Option<ItemStatus>,
    pub consecutive_failures: i32,
    pub circuit: Circuit,
    pub circuit_opened_at: Option<DateTime<Utc>>,
    pub next_probe_at: DateTime<Utc>,
    pub changed: bool,
}

/// Whether a claimed job should call the provider: an open circuit waits out
/// its cool-down; after it, one trial probe runs half-open.
pub fn admit(
    job: &ProbeJob,
    policy: &ProbePolicy,
    now: DateTime<Utc>,
) -> Result<Circuit, DateTime<Utc>> {
    match (job.circuit, job.circuit_opened_at) {
        (Circuit::Open, Some(opened)) => {
            let reopen = ProbePolicy::after(opened, policy.cool_down);
            if now < reopen {
                Err(reopen)
            } else {
                Ok(Circuit::HalfOpen)
            }
        }
        (circuit, _) => Ok(circuit),
    }
}

/// Applies one probe result, given the circuit state the probe ran under.
pub fn apply(
    job: &ProbeJob,
    running: Circuit,
    result: Result<Observation, ProbeError>,
    latency: Duration,
    policy: &ProbePolicy,
    now: DateTime<Utc>,
) -> Outcome {
    let base = |level: Level, summary: String, redacted: String| ItemStatus {
        connection: Some(job.name.clone()),
        type_id: job.type_id.clone(),
        configured: true,
        configured_reason: None,
        level,
        summary,
        redacted_summary: redacted,
        problem: None,
        environments: Vec::new(),
        circuit: Circuit::Closed,
        updated_at: now,
        stale: false,
        latency: Some(latency),
    };
    let mut out = match result {
        Ok(observation) => {
            let mut item = base(
                observation.level,
                observation.summary,
                observation.redacted_summary,
            );
            item.environments = observation.environments;
            item.problem = observation.problem;
            Outcome {
                last_good: Some(item.clone()),
                item,
                consecutive_failures: 0,
                circuit: Circuit::Closed,
                circuit_opened_at: None,
                next_probe_at: policy.next_after_ttl(now),
                changed: false,
            }
        }
        Err(ProbeError::Definitive(problem)) => {
            // The provider's answer is the status: no fallback, no breaker.
            let mut item = base(
                Level::Error,
                problem.hint.clone(),
                generic(&problem).to_owned(),
            );
            item.problem = Some(problem);
            Outcome {
                item,
                last_good: None,
                consecutive_failures: 0,
                circuit: Circuit::Closed,
                circuit_opened_at: None,
                next_probe_at: policy.next_after_ttl(now),
                changed: false,
            }
        }
        Err(ProbeError::RateLimited(problem)) => {
            // Not a failure: keep the breaker as it is and wait out the budget.
            let wait = problem.retry_after.unwrap_or(policy.ttl.1);
            let mut item = fallback(job, latency, now);
            item.problem = Some(problem);
            item.circuit = match running {
                Circuit::HalfOpen => Circuit::Open,
                other => other,
            };
            Outcome {
                item,
                last_good: None,
                consecutive_failures: job.consecutive_failures,
                circuit: job.circuit,
                circuit_opened_at: job.circuit_opened_at,
                next_probe_at: ProbePolicy::after(now, wait),
                changed: false,
            }
        }
        Err(ProbeError::Transient(problem)) => {
            let failures = job.consecutive_failures.saturating_add(1);
            let open = running == Circuit::HalfOpen || failures >= policy.failure_threshold;
            let mut item = fallback(job, latency, now);
            item.problem = Some(problem);
            let (circuit, opened, next) = if open {
                // An open circuit is an outage a UI must see: at least WARNING.
                if item.level == Level::Connected || item.level == Level::Disconnected {
                    item.level = Level::Warning;
                }
                (
                    Circuit::Open,
                    Some(now),
                    ProbePolicy::after(now, policy.cool_down),
                )
            } else {
                (Circuit::Closed, None, policy.next_after_ttl(now))
            };
            item.circuit = circuit;
            Outcome {
                item,
                last_good: None,
                consecutive_failures: failures,
                circuit,
                circuit_opened_at: opened,
                next_probe_at: next,
                changed: false,
            }
        }
    };
    out.changed = model::differs(&job.item, &out.item);
    if !out.changed {
        // Same content: keep the time it last changed, and what was
        // measured then, so the stored item is the one watchers saw.
        out.item.updated_at = job.item.updated_at;
        out.item.latency = job.item.latency;
    }
    out
}

/// The last good item, served as stale; ERROR when there never was one.
fn fallback(job: &ProbeJob, latency: Duration, now: DateTime<Utc>) -> ItemStatus {
    let mut item = job.last_good.clone().unwrap_or_else(|| ItemStatus {
        level: Level::Error,
        summary: "Not reachable yet".to_owned(),
        redacted_summary: "Not reachable yet".to_owned(),
        ..job.item.clone()
    });
    item.stale = true;
    item.updated_at = now;
    item.latency = Some(latency);
    item
}

fn generic(problem: &Problem) -> &'static str {
    use super::model::ProblemCode::*;
    match problem.code {
        OauthRevoked => "Access revoked",
        Unauthorized => "Credentials refused",
        RateLimited => "Rate limited",
        Timeout => "Timed out",
        Unreachable => "Unreachable",
        Misconfigured => "Misconfigured",
        Unknown => "Failing",
    }
}
