//! Alert rules as the service and the store see them, parsed and valid.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    names::{AlertRuleName, ChannelName, ResourceId, TypeId},
    status::model::Level,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Critical, Self::Warning, Self::Info]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Which of a project's connections a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Project,
    Connection(ResourceId),
    Type(TypeId),
}

/// What makes an alert fire. Bounds are checked at the edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Condition {
    ConsecutiveFailures {
        more_than: i32,
    },
    ErrorRate {
        above_percent: f64,
        #[serde(with = "secs")]
        window: Duration,
        min_samples: i32,
    },
    RateLimit {
        below: i64,
    },
    Status {
        level: Option<Level>,
        reason: Option<String>,
    },
    DeadLetters {
        more_than: i64,
    },
    HeldRuns {
        more_than: i64,
    },
}

/// When a firing alert resolves: after this many healthy observations in a
/// row, or this long without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub healthy_observations: i32,
    #[serde(with = "secs")]
    pub quiet_period: Duration,
}

impl Default for Resolution {
    fn default() -> Self {
        Self {
            healthy_observations: 3,
            quiet_period: Duration::from_secs(600),
        }
    }
}

/// A rule as written by its editors.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDefinition {
    pub name: AlertRuleName,
    pub display_name: String,
    pub severity: Severity,
    pub scope: Scope,
    pub channels: Vec<ChannelName>,
    pub condition: Condition,
    pub resolution: Resolution,
    pub disabled: bool,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub definition: RuleDefinition,
    pub default_rule: bool,
    pub etag: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// Durations stored as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Where a channel delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelTarget {
    /// A checked http(s) URL (see `outbound.rs`).
    Webhook { uri: String },
    /// 1 to 10 checked addresses.
    Email { to: Vec<String> },
}

impl ChannelTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Email { .. } => "email",
        }
    }
}

/// A channel as written by its editors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDefinition {
    pub name: ChannelName,
    pub display_name: String,
    pub target: ChannelTarget,
}

/// A stored channel. Its signing secret stays sealed in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationChannel {
    pub definition: ChannelDefinition,
    /// A webhook channel's signing-secret fingerprint.
    pub secret_fingerprint: Option<String>,
    pub etag: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}
