//! The events of a project's watch stream, as the log stores them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{ItemStatus, Level};
use crate::{
    actions::model::ActionState,
    alerts::alert::Alert,
    automations::model::RunState,
    names::{ConnectionName, ProjectId},
};

/// One logged event. Item events carry the project's overall level and hash
/// after the change, computed by the writer under the log lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventPayload {
    ItemChanged {
        item: ItemStatus,
        overall: Level,
        hash: String,
    },
    ItemRemoved {
        connection: ConnectionName,
        overall: Level,
        hash: String,
    },
    ActionProgress {
        action: String,
        connection: String,
        state: ActionState,
        percent: i32,
        message: String,
    },
    WebhookReceived {
        connection: String,
        delivery: String,
        event_type: String,
        receive_time: DateTime<Utc>,
    },
    /// An alert fired or resolved.
    AlertChanged { alert: Box<Alert> },
    /// An automation's run changed state.
    RunChanged {
        run: String,
        state: RunState,
        step: i32,
        message: String,
    },
}

impl EventPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ItemChanged { .. } => "item_changed",
            Self::ItemRemoved { .. } => "item_removed",
            Self::ActionProgress { .. } => "action_progress",
            Self::WebhookReceived { .. } => "webhook_received",
            Self::AlertChanged { .. } => "alert_changed",
            Self::RunChanged { .. } => "run_changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub project: ProjectId,
    pub payload: EventPayload,
}
