//! An action as the service and the store see it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::names::{ActionName, ConnectionName};

/// Serialized as the proto names without their prefix (`PENDING`), as the
/// event log has always stored them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl ActionState {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone)]
pub struct Action {
    pub name: ActionName,
    pub connection: ConnectionName,
    pub action: String,
    pub state: ActionState,
    pub params: Map<String, Value>,
    pub result: Option<Map<String, Value>>,
    /// google.rpc.Status, encoded.
    pub error: Option<Vec<u8>>,
    pub progress_percent: i32,
    pub progress_message: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub requested_by: String,
    pub request_id: Uuid,
    pub request_hash: Vec<u8>,
    pub cancel_requested: bool,
    pub create_time: DateTime<Utc>,
    pub start_time: Option<DateTime<Utc>>,
    pub update_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    /// The last attempt that called the provider for the effect.
    pub effect_started_attempt: Option<i32>,
    /// Attempts that ran the effect again unable to check for an earlier
    /// attempt's.
    pub unconfirmed_repeats: i32,
    /// For an action a run started: the runs that led to it, oldest first,
    /// ending with the one that started it.
    pub cause_chain: Vec<String>,
}
