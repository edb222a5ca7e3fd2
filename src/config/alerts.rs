//! Flags of alerts.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct AlertArgs {
    /// Let notification channels post to loopback, private and link-local
    /// addresses (refused by default, so a project cannot aim the server at
    /// its own network).
    #[arg(long, env = "PATCHBAY_ALLOW_PRIVATE_OUTBOUND")]
    pub allow_private_outbound: bool,
}
