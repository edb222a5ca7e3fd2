//! ActionService: actions run against connections, asynchronously and
//! exactly once. The queue is the `actions` table; workers in every replica
//! claim rows under a lease they keep alive, so a replica that dies
//! mid-action leaves it to another.

mod audit_trail;
mod effects;
mod grpc;
pub mod model;
mod progress;
mod proto;
mod service;
mod sync;
mod worker;

use std::{sync::Arc, time::Duration};

pub use effects::Effects;
pub use grpc::ActionsGrpc;
pub use service::{Actions, RunStart};
pub use worker::Workers;

#[derive(Debug, Clone)]
pub struct ActionConfig {
    /// Actions running at once in this replica.
    pub workers: usize,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// Attempts before a transient failure is final.
    pub max_attempts: u32,
    /// The first retry's delay; each later one doubles, with jitter.
    pub retry_base: Duration,
    /// StartAction calls per user and project within `rate_window`.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// How often idle workers look for work without being woken.
    pub poll: Duration,
    /// How long an effect in flight at shutdown may still take before its
    /// action is given back (the server's shutdown grace).
    pub stop_grace: Duration,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            lease: Duration::from_secs(30),
            max_attempts: 5,
            retry_base: Duration::from_secs(1),
            rate_limit: 5,
            rate_window: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            stop_grace: Duration::from_secs(10),
        }
    }
}

/// Shared by the service (which wakes) and the workers (which wait).
pub type Wake = Arc<tokio::sync::Notify>;
