//! The provider asked now (never the cached status), the circuit, and the
//! last day's dead letters and failed actions.

use std::time::Duration;

use super::Check;
use crate::{
    diagnostics::service::Diagnostics,
    providers::ProbeError,
    registry::model::{Connection, ConnectionState},
    status::model::{Circuit, ProblemCode},
};

impl Diagnostics {
    pub(super) async fn live_checks(
        &self,
        connection: &Connection,
        budget: Duration,
    ) -> Vec<Check> {
        if connection.state != ConnectionState::Active {
            return vec![
                Check::warn(
                    "live_probe",
                    "NOT_ACTIVE",
                    format!(
                        "the connection is {}; it is not probed",
                        connection.state.as_str()
                    ),
                )
                .fix("set its credentials or enable it (UpdateConnection), then run reconnect")
                .run("reconnect"),
            ];
        }
        let probe = tokio::time::timeout(budget, self.prober.probe_now(&connection.name)).await;
        let probe = match probe {
            Err(_) => {
                return vec![
                    Check::warn(
                        "live_probe",
                        "PROBE_TIMEOUT",
                        format!(
                            "the provider did not answer within {} ms",
                            budget.as_millis()
                        ),
                    )
                    .fix("run test-connection to try again")
                    .run("test-connection"),
                ];
            }
            Ok(Err(e)) => {
                return vec![
                    Check::warn("live_probe", "PROBE_UNAVAILABLE", e.to_string())
                        .fix("run test-connection to try again")
                        .run("test-connection"),
                ];
            }
            Ok(Ok(probe)) => probe,
        };
        let latency = probe.latency.as_millis();
        let live = match &probe.answer {
            Ok(observation) => Check::pass(
                "live_probe",
                format!("{} ({latency} ms)", observation.summary),
            ),
            Err(ProbeError::RateLimited(p)) => {
                Check::warn("live_probe", "RATE_LIMITED", p.hint.clone())
                    .fix("wait for the provider's budget to reset")
            }
            Err(failed) => {
                let problem = failed.problem();
                let (fix, action) = remedy(problem.code);
                // A refresh the provider refused is its own reason.
                let reason = if problem.code == ProblemCode::OauthRevoked {
                    "OAUTH_REVOKED"
                } else {
                    "PROBE_FAILED"
                };
                Check::fail(
                    "live_probe",
                    reason,
                    format!("{}: {}", problem.code.as_str(), problem.hint),
                )
                .fix(fix)
                .run(action)
            }
        };
        let circuit = match probe.item.circuit {
            Circuit::Closed => Check::pass("circuit", "closed"),
            Circuit::HalfOpen => Check::warn(
                "circuit",
                "CIRCUIT_HALF_OPEN",
                "half-open: a trial probe decides",
            )
            .fix("run test-connection once the provider answers"),
            Circuit::Open => Check::warn(
                "circuit",
                "CIRCUIT_OPEN",
                "open: the provider failed repeatedly and is left alone during the cool-down",
            )
            .fix("fix what the live probe reports, then run test-connection")
            .run("test-connection"),
        };
        vec![live, circuit]
    }
}

/// What to do about a failed probe, and the action that tells if it worked.
fn remedy(code: ProblemCode) -> (&'static str, &'static str) {
    match code {
        ProblemCode::OauthRevoked => (
            "authorize again: SetConnectionCredentials with new tokens, then run reconnect",
            "reconnect",
        ),
        ProblemCode::Unauthorized => (
            "SetConnectionCredentials with a token the provider accepts (and the scopes the probe needs), then run test-connection",
            "test-connection",
        ),
        ProblemCode::Misconfigured => (
            "UpdateConnection with settings that name a resource the provider has, then run test-connection",
            "test-connection",
        ),
        ProblemCode::Timeout | ProblemCode::Unreachable => (
            "check the provider is up and reachable from this deployment (its URL settings, DNS, firewalls, --provider-base-url), then run test-connection",
            "test-connection",
        ),
        ProblemCode::RateLimited => ("wait for the provider's budget to reset", "test-connection"),
        ProblemCode::Unknown => (
            "see the provider's answer above; run test-connection once it is fixed",
            "test-connection",
        ),
    }
}

pub fn recent_failures(dead_letters: i64, failed_actions: i64) -> Vec<Check> {
    let dead = if dead_letters == 0 {
        Check::pass(
            "dead_letters",
            "no delivery was dead-lettered in the last day",
        )
    } else {
        Check::warn(
            "dead_letters",
            "DEAD_LETTERS",
            format!("{dead_letters} deliveries were dead-lettered in the last day"),
        )
        .fix("ListWebhookDeliveries with state = DEAD_LETTER to see why, then RedriveDeliveries")
    };
    let failed = if failed_actions == 0 {
        Check::pass("failed_actions", "no action failed in the last day")
    } else {
        Check::warn(
            "failed_actions",
            "ACTIONS_FAILED",
            format!("{failed_actions} actions failed in the last day"),
        )
        .fix("ListActions with state = FAILED for their errors")
    };
    vec![dead, failed]
}
