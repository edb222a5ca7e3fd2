//! Flags of alerts and their notifications.

use std::time::Duration;

use clap::Args;

use super::parse_duration;
use crate::{alerts::delivery::AlertConfig, secret::Secret};

#[derive(Debug, Clone, Args)]
pub struct AlertArgs {
    /// Let notification channels post to loopback, private and link-local
    /// addresses (refused by default, so a project cannot aim the server at
    /// its own network).
    #[arg(long, env = "PATCHBAY_ALLOW_PRIVATE_OUTBOUND")]
    pub allow_private_outbound: bool,

    /// SMTP relay for email channels: `smtp://host:25` (plain),
    /// `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`,
    /// with `user:password@` when the relay wants a login. Unset: email
    /// notifications fail with a clear error and are retried.
    #[arg(long, env = "PATCHBAY_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret<String>>,

    /// The From of alert emails.
    #[arg(
        long,
        env = "PATCHBAY_SMTP_FROM",
        default_value = "Patchbay <alerts@patchbay.invalid>"
    )]
    pub smtp_from: String,

    /// Attempts at a notification before it is dead-lettered.
    #[arg(long, env = "PATCHBAY_NOTIFICATION_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub notification_attempts: u32,

    /// The first retry's wait; each next one doubles (with jitter).
    #[arg(long, env = "PATCHBAY_NOTIFICATION_RETRY_BASE", default_value = "10s", value_parser = parse_duration)]
    pub notification_retry_base: Duration,
}

impl AlertArgs {
    pub fn config(&self) -> AlertConfig {
        AlertConfig {
            allow_private_outbound: self.allow_private_outbound,
            smtp_url: self.smtp_url.clone(),
            smtp_from: self.smtp_from.clone(),
            attempts: self.notification_attempts,
            retry_base: self.notification_retry_base,
            ..AlertConfig::default()
        }
    }
}
