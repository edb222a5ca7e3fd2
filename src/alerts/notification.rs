//! Notifications: one alert change (or a test) for one channel, and the
//! attempts at delivering it.

use chrono::{DateTime, Utc};

use crate::names::ChannelName;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Fired,
    Resolved,
    Test,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fired => "alert.fired",
            Self::Resolved => "alert.resolved",
            Self::Test => "alert.test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Fired, Self::Resolved, Self::Test]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationState {
    Pending,
    Delivered,
    DeadLetter,
}

impl NotificationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::DeadLetter => "dead_letter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::DeadLetter]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One try at delivering a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: i32,
    pub time: DateTime<Utc>,
    pub ok: bool,
    /// The HTTP status or SMTP reply code, when one came.
    pub status_code: Option<i32>,
    pub error: String,
    pub duration_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: ChannelName,
    /// Also the `webhook-id` receivers deduplicate on.
    pub id: String,
    /// The alert's resource name; `None` for a test.
    pub alert: Option<String>,
    pub event_type: EventType,
    pub state: NotificationState,
    pub attempts: Vec<Attempt>,
    pub create_time: DateTime<Utc>,
    pub deliver_time: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
}

impl Notification {
    pub fn name(&self) -> String {
        format!("{}/notifications/{}", self.channel, self.id)
    }
}

/// A fresh notification id: sortable by creation, and unique.
pub fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}
