//! Automations and runs as the services and the store see them, parsed and
//! valid. Specs and run records are stored as JSON, so these serialize.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::expr::{Expr, Root};
use crate::{
    auth::Role,
    names::{AutomationName, ConnectionName, TypeId},
    registry::model::FieldMapping,
};

/// Which deliveries start a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub source: Source,
    /// Event-type patterns (`*` is any run of characters); empty: all.
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Connection(ConnectionName),
    Type(TypeId),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StepKind {
    Action {
        connection: ConnectionName,
        action: String,
        #[serde(default)]
        params: Map<String, Value>,
        #[serde(default)]
        param_mappings: Vec<FieldMapping>,
    },
    Condition {
        expression: Expr,
    },
    Delay {
        #[serde(with = "millis")]
        duration: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    #[default]
    Allow,
    Skip,
    BufferOne,
    CancelOther,
}

/// An automation's definition: its draft, or a frozen version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub trigger: Trigger,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub overlap: Overlap,
    pub max_runs_per_minute: u32,
}

/// The default of `max_runs_per_minute`.
pub const DEFAULT_RUNS_PER_MINUTE: u32 = 60;

/// A published version: its spec, and the authority its runs act with.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub automation: AutomationName,
    pub number: i32,
    pub spec: Spec,
    pub published_by: String,
    pub role: Role,
    pub publish_time: DateTime<Utc>,
}

/// A stored automation.
#[derive(Debug, Clone, PartialEq)]
pub struct Automation {
    pub name: AutomationName,
    pub display_name: String,
    pub draft: Spec,
    pub published: Option<Version>,
    pub held_runs: i64,
    pub etag: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// The event a run starts from: what triggers, filters, conditions and
/// parameter mappings read, as one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub connection: ConnectionName,
    pub event_type: String,
    pub payload: Value,
    /// The delivery's name, for delivery-started runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

impl Event {
    /// The object paths are read from: `connection`, `event_type`,
    /// `payload` and `delivery`.
    pub fn document(&self) -> Map<String, Value> {
        let mut doc = Map::new();
        doc.insert("connection".into(), self.connection.to_string().into());
        doc.insert("event_type".into(), self.event_type.clone().into());
        doc.insert("payload".into(), self.payload.clone());
        if let Some(d) = &self.delivery {
            doc.insert("delivery".into(), d.clone().into());
        }
        doc
    }
}

/// The event's document over its parts, for matching: the payload is
/// borrowed, not copied into a map.
pub struct EventView<'a> {
    connection: Value,
    event_type: Value,
    payload: &'a Value,
    delivery: Option<Value>,
}

impl<'a> EventView<'a> {
    pub fn new(
        connection: &ConnectionName,
        event_type: &str,
        payload: &'a Value,
        delivery: Option<&str>,
    ) -> Self {
        Self {
            connection: Value::String(connection.to_string()),
            event_type: Value::String(event_type.to_owned()),
            payload,
            delivery: delivery.map(|d| Value::String(d.to_owned())),
        }
    }
}

impl Root for EventView<'_> {
    fn field(&self, name: &str) -> Option<&Value> {
        match name {
            "connection" => Some(&self.connection),
            "event_type" => Some(&self.event_type),
            "payload" => Some(self.payload),
            "delivery" => self.delivery.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Pending,
    Running,
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
    Skipped,
    Held,
    Buffered,
}

impl RunState {
    pub const ALL: [Self; 9] = [
        Self::Pending,
        Self::Running,
        Self::Waiting,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Skipped,
        Self::Held,
        Self::Buffered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
            Self::Held => "held",
            Self::Buffered => "buffered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the run has ended, for good.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Skipped
        )
    }

    /// Whether the run occupies its automation for the overlap policy.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::Running | Self::Waiting)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

/// One step's record in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStep {
    pub name: String,
    pub state: StepState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    #[serde(default)]
    pub message: String,
}

impl RunStep {
    pub fn pending(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: StepState::Pending,
            action: None,
            params: None,
            message: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub time: DateTime<Utc>,
    /// The step's index; -1 for the run as a whole.
    pub step: i32,
    pub message: String,
}

impl LogEntry {
    pub fn now(step: i32, message: impl Into<String>) -> Self {
        Self {
            time: Utc::now(),
            step,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    Delivery,
    Manual,
    Replay,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Manual => "manual",
            Self::Replay => "replay",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Delivery, Self::Manual, Self::Replay]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub name: crate::names::RunName,
    pub version: i32,
    pub trigger: RunTrigger,
    pub event: Event,
    pub state: RunState,
    pub reason: String,
    /// The step to run next, or being waited on.
    pub step: i32,
    pub steps: Vec<RunStep>,
    pub log: Vec<LogEntry>,
    pub depth: i32,
    pub cause_chain: Vec<String>,
    pub replay_of: Option<String>,
    pub create_time: DateTime<Utc>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

/// Durations stored as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
