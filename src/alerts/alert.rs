//! Alerts: a rule's condition holding for one connection, fired once and
//! resolved once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Severity;
use crate::names::{AlertName, AlertRuleName, ConnectionName};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Firing, Self::Resolved]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why a firing alert resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResolveReason {
    /// The rule's healthy observations in a row.
    HealthyObservations,
    /// The rule's quiet period without a failure.
    QuietPeriod,
    RuleDeleted,
    ConnectionDeleted,
}

impl ResolveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HealthyObservations => "HEALTHY_OBSERVATIONS",
            Self::QuietPeriod => "QUIET_PERIOD",
            Self::RuleDeleted => "RULE_DELETED",
            Self::ConnectionDeleted => "CONNECTION_DELETED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::HealthyObservations,
            Self::QuietPeriod,
            Self::RuleDeleted,
            Self::ConnectionDeleted,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// An alert as clients read it (and the watch stream carries it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub name: AlertName,
    pub rule: AlertRuleName,
    pub connection: ConnectionName,
    pub severity: Severity,
    pub state: AlertState,
    pub summary: String,
    pub fire_time: DateTime<Utc>,
    pub resolve_time: Option<DateTime<Utc>>,
    pub resolve_reason: Option<ResolveReason>,
    pub observations: i64,
    pub acknowledge_time: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub etag: String,
}

impl Alert {
    /// What at most one firing alert has at a time.
    pub fn dedupe_key(&self) -> String {
        format!("{}/{}", self.rule.id, self.connection.id)
    }
}

/// What a firing alert keeps to decide when it resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    /// Healthy observations seen in a row since the condition last held.
    pub healthy_streak: i32,
    /// The last observation the condition held, or a failure came.
    pub last_held_at: DateTime<Utc>,
}
