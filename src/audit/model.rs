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

    /// The fields whose values differ between two versions of a resource,
    /// each given as `(field, value)`; a field one side lacks is unset
    /// there (so `diff(&[], after)` records a creation).
    pub fn diff(before: &[(&str, String)], after: &[(&str, String)]) -> Vec<Self> {
        let value = |side: &[(&str, String)], field: &str| {
            side.iter()
                .find(|(f, _)| *f == field)
                .map(|(_, v)| v.clone())
        };
        let fields = before.iter().chain(after).map(|(f, _)| *f);
        let mut seen = std::collections::HashSet::new();
        fields
            .filter(|field| seen.insert(*field))
            .filter_map(|field| {
                let (b, a) = (value(before, field), value(after, field));
                (b != a).then(|| Self::new(field, b, a))
            })
            .collect()
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

/// Whose entries a read covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    /// One project's chain.
    Project(crate::names::ProjectId),
    /// Every chain, the platform's own included: platform admins.
    All,
}

/// ListAuditEvents' filter; each term narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub resource: Option<String>,
    pub method: Option<String>,
    pub time_after: Option<DateTime<Utc>>,
    pub time_before: Option<DateTime<Utc>>,
}

/// Where a page of entries starts: after this entry, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditCursor {
    /// Within one project: the last entry's seq.
    Seq(i64),
    /// Across projects: the last entry's time and id.
    TimeId(DateTime<Utc>, Uuid),
}

impl AuditEvent {
    pub fn name(&self) -> String {
        entry_name(&self.project, self.seq)
    }
}

/// `projects/{project}/auditEvents/{seq}`, or `auditEvents/{seq}` on the
/// platform's chain.
pub fn entry_name(project: &str, seq: i64) -> String {
    if project.is_empty() {
        format!("auditEvents/{seq}")
    } else {
        format!("projects/{project}/auditEvents/{seq}")
    }
}
