//! Automations: when an event arrives, run the right actions, once.
//!
//! - `model.rs`: automations (a draft and published versions), events and
//!   runs; `expr.rs`: the filter language of triggers and conditions;
//!   `evaluate.rs`: trigger matching and parameter mapping, pure.
//! - `service.rs`: the RPCs' rules (roles, names that must exist,
//!   publishing under the publisher's role, audit entries); `grpc.rs` only
//!   translates, with `proto/`.
//! - `runs.rs`: the one owner of a run's state (admission past the loop
//!   guard, the rate limit and the overlap policy; cancel; release).
//! - `trigger.rs`: deliveries matched to published versions as the webhook
//!   processor works, one run per version and delivery.
//! - `executor.rs`: the loop on every replica that claims due runs under a
//!   lease and runs their steps; `dry_run.rs`: the same decisions, with no
//!   effect.

mod audit_trail;
pub mod dry_run;
pub mod evaluate;
pub mod executor;
pub mod expr;
mod grpc;
pub mod model;
mod proto;
pub mod runs;
mod service;
pub mod trigger;

use std::time::Duration;

pub use grpc::AutomationsGrpc;
pub use proto::run::run_state_to_proto;
pub use service::Automations;

/// How runs are worked.
#[derive(Debug, Clone)]
pub struct AutomationConfig {
    /// Runs of one automation an event may be caused by before another is
    /// refused (LOOP_DEPTH_EXCEEDED).
    pub loop_depth: u32,
    /// How often each replica looks for due runs without a wake, and how
    /// often a run waiting for an action looks at it.
    pub poll: Duration,
    /// How long a worker's claim on a run lasts.
    pub lease: Duration,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        Self {
            loop_depth: 3,
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
        }
    }
}
