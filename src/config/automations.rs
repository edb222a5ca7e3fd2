//! Flags of automation runs.

use std::time::Duration;

use clap::Args;

use super::parse_duration;
use crate::automations::AutomationConfig;

#[derive(Debug, Clone, Args)]
pub struct AutomationArgs {
    /// How many runs of one automation an event may be caused by (through
    /// the effects of their actions) before the next run is refused with
    /// LOOP_DEPTH_EXCEEDED.
    #[arg(long, env = "PATCHBAY_AUTOMATION_LOOP_DEPTH", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub automation_loop_depth: u32,

    /// How often each replica looks for runs that are due, and how often a
    /// run waiting for its action looks at it.
    #[arg(long, env = "PATCHBAY_AUTOMATION_POLL", default_value = "1s", value_parser = parse_duration)]
    pub automation_poll: Duration,
}

impl AutomationArgs {
    pub fn config(&self) -> AutomationConfig {
        AutomationConfig {
            loop_depth: self.automation_loop_depth,
            poll: self.automation_poll,
            ..AutomationConfig::default()
        }
    }
}
