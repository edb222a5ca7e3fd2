//! What an audit entry holds, as stored and as hashed.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One field a change touched. Secrets appear only as fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl FieldChange {
    pub fn new(field: &str, before: Option<String>, after: Option<String>) -> Self {
        Self {
            field: field.to_owned(),
            before,
            after,
        }
    }

    pub fn set(field: &str, after: impl Into<String>) -> Self {
        Self::new(field, None, Some(after.into()))
    }
}

/// One entry of a project's audit chain. The field order is the hashed
/// order: see `chain::entry_hash`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEvent {
    /// The project, or `""` for platform-wide changes.
    pub project: String,
    pub seq: i64,
    pub id: Uuid,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub method: String,
    pub resource: String,
    pub request_id: Option<Uuid>,
    pub peer: String,
    pub user_agent: String,
    pub outcome: String,
    pub changes: Vec<FieldChange>,
    #[serde(skip)]
    pub prev_hash: Vec<u8>,
    #[serde(skip)]
    pub hash: Vec<u8>,
}

/// A project's chain: where it ends, and where verification starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub last_seq: i64,
    pub last_hash: Vec<u8>,
    pub anchor_seq: i64,
    pub anchor_hash: Vec<u8>,
}
