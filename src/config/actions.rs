//! Flags of the action workers and the StartAction rate limit.

use std::time::Duration;

use clap::Args;

use super::parse_duration;
use crate::actions::ActionConfig;

#[derive(Debug, Clone, Args)]
pub struct ActionArgs {
    /// Actions this process runs at once.
    #[arg(long, env = "PATCHBAY_ACTION_WORKERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub action_workers: u16,

    /// How long a worker's claim on an action lasts without a heartbeat;
    /// after it, another replica resumes the action.
    #[arg(long, env = "PATCHBAY_ACTION_LEASE", default_value = "30s", value_parser = parse_duration)]
    pub action_lease: Duration,

    /// Attempts before a transient failure fails the action.
    #[arg(long, env = "PATCHBAY_ACTION_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub action_max_attempts: u32,

    /// Delay before the first retry; later ones double, jittered.
    #[arg(long, env = "PATCHBAY_ACTION_RETRY_BASE", default_value = "1s", value_parser = parse_duration)]
    pub action_retry_base: Duration,

    /// StartAction calls allowed per user and project per window.
    #[arg(long, env = "PATCHBAY_ACTION_RATE_LIMIT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub action_rate_limit: u32,

    /// The rate limit's window.
    #[arg(long, env = "PATCHBAY_ACTION_RATE_WINDOW", default_value = "60s", value_parser = parse_duration)]
    pub action_rate_window: Duration,
}

impl ActionArgs {
    pub fn config(&self) -> ActionConfig {
        ActionConfig {
            workers: usize::from(self.action_workers),
            lease: self.action_lease.max(Duration::from_millis(300)),
            max_attempts: self.action_max_attempts,
            retry_base: self.action_retry_base,
            rate_limit: self.action_rate_limit,
            rate_window: self.action_rate_window,
            ..ActionConfig::default()
        }
    }
}
