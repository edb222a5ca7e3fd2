//! Stored deliveries as operators see them: their state and the queries
//! that select them.

use chrono::{DateTime, Utc};

use crate::names::ConnectionName;

/// Where a delivery is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Processed,
    Retrying,
    DeadLetter,
}

impl DeliveryState {
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Processed,
        Self::Retrying,
        Self::DeadLetter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::Retrying => "retrying",
            Self::DeadLetter => "dead_letter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// One stored delivery, without its body.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub connection: ConnectionName,
    pub id: String,
    pub dedupe_key: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: String,
    pub body_size: i64,
    pub receive_time: DateTime<Utc>,
    pub process_time: Option<DateTime<Utc>>,
}

/// Which of a connection's deliveries: every field set narrows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub state: Option<DeliveryState>,
    pub event_type: Option<String>,
    pub received_after: Option<DateTime<Utc>>,
    pub received_before: Option<DateTime<Utc>>,
}
