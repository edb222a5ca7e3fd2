//! A connection: a project's link to one provider account.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{
    idempotency::RequestKey,
    names::{ConnectionName, ProjectId, TypeId},
    secret::Secret,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnectionState {
    Pending,
    Active,
    Disabled,
    Revoked,
}

impl ConnectionState {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Active, Self::Disabled, Self::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// A connection as clients see it: no secret, only fingerprints.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: ConnectionName,
    pub type_id: TypeId,
    pub display_name: String,
    pub settings: Map<String, Value>,
    pub state: ConnectionState,
    pub credentials_fingerprint: Option<String>,
    pub credentials_expire_time: Option<DateTime<Utc>>,
    pub webhook_key: String,
    pub webhook_secret_fingerprint: String,
    /// When the last verified webhook of this connection was received.
    pub last_webhook_time: Option<DateTime<Utc>>,
    pub etag: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A result that may carry a webhook secret Patchbay just generated: shown
/// in this one response, never again.
pub struct WithSecret<T> {
    pub value: T,
    pub generated_secret: Option<Secret<String>>,
}

pub struct NewConnectionInput {
    pub name: ConnectionName,
    pub type_id: TypeId,
    pub display_name: String,
    pub settings: Map<String, Value>,
    pub webhook_secret: Option<Secret<String>>,
    pub request: Option<RequestKey>,
}

/// The fields an update changes; `None` leaves a field alone.
pub struct ConnectionUpdate {
    pub name: ConnectionName,
    pub etag: Option<String>,
    pub display_name: Option<String>,
    pub settings: Option<Map<String, Value>>,
    pub state: Option<ConnectionState>,
}

pub struct ConnectionQuery {
    pub project: ProjectId,
    pub type_id: Option<TypeId>,
    pub state: Option<ConnectionState>,
}
