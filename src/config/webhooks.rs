//! Flags of the webhook bridge.

use std::time::Duration;

use clap::Args;

use super::parse_duration;
use crate::{rate_limit::RateLimit, webhooks::WebhookConfig};

#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Largest webhook body accepted, in bytes (larger: 413).
    #[arg(long, env = "PATCHBAY_WEBHOOK_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub webhook_body_limit: usize,

    /// Deliveries per second per webhook key; 0 turns the limit off.
    #[arg(long, env = "PATCHBAY_WEBHOOK_RATE_PER_KEY", default_value_t = 100)]
    pub webhook_rate_per_key: u32,

    /// Deliveries per webhook key accepted at once before the rate applies.
    #[arg(long, env = "PATCHBAY_WEBHOOK_BURST_PER_KEY", default_value_t = 1000)]
    pub webhook_burst_per_key: u32,

    /// Requests per second per peer address; 0 turns the limit off.
    #[arg(long, env = "PATCHBAY_WEBHOOK_RATE_PER_PEER", default_value_t = 1000)]
    pub webhook_rate_per_peer: u32,

    /// Requests per peer accepted at once before the rate applies.
    #[arg(long, env = "PATCHBAY_WEBHOOK_BURST_PER_PEER", default_value_t = 5000)]
    pub webhook_burst_per_peer: u32,

    /// How long delivery ids are remembered for dedupe.
    #[arg(long, env = "PATCHBAY_WEBHOOK_DEDUPE_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub webhook_dedupe_retention: Duration,

    /// Processing attempts before a delivery is dead-lettered.
    #[arg(long, env = "PATCHBAY_WEBHOOK_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_max_attempts: u32,

    /// Delay before the first processing retry; later ones double, jittered.
    #[arg(long, env = "PATCHBAY_WEBHOOK_RETRY_BASE", default_value = "2s", value_parser = parse_duration)]
    pub webhook_retry_base: Duration,
}

impl WebhookArgs {
    pub fn config(&self) -> WebhookConfig {
        let limit = RateLimit::from_flags;
        WebhookConfig {
            body_limit: self.webhook_body_limit,
            per_key: limit(self.webhook_rate_per_key, self.webhook_burst_per_key),
            per_peer: limit(self.webhook_rate_per_peer, self.webhook_burst_per_peer),
            dedupe_retention: self.webhook_dedupe_retention,
            max_attempts: self.webhook_max_attempts,
            retry_base: self.webhook_retry_base,
            ..WebhookConfig::default()
        }
    }
}
