//! Flags of retention cleanup.

use std::time::Duration;

use clap::Args;

use super::parse_duration;
use crate::retention::RetentionConfig;

#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// How long audit entries are kept before cleanup purges them.
    #[arg(long, env = "PATCHBAY_AUDIT_RETENTION", default_value = "730d", value_parser = parse_duration)]
    pub audit_retention: Duration,

    /// How long health history is kept: probe and action outcomes,
    /// resolved alerts and delivered or dead-lettered notifications.
    #[arg(long, env = "PATCHBAY_HISTORY_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub history_retention: Duration,

    /// Time between two cleanup runs; one replica runs each.
    #[arg(long, env = "PATCHBAY_CLEANUP_INTERVAL", default_value = "24h", value_parser = parse_duration)]
    pub cleanup_interval: Duration,
}

impl RetentionArgs {
    pub fn config(&self) -> RetentionConfig {
        RetentionConfig {
            audit: self.audit_retention,
            history: self.history_retention,
            every: self.cleanup_interval,
            ..RetentionConfig::default()
        }
    }
}
