//! What a project's status is made of: one item per connection (plus
//! placeholders for wanted types with none), the overall rule, redaction, and
//! the hashes a UI uses to tell whether anything changed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::names::{ConnectionName, TypeId};

/// The health of one item, or of the whole project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Connected,
    Warning,
    Error,
    Disconnected,
}

impl Level {
    /// How bad a level is: the overall status is the worst item's.
    pub fn severity(self) -> u8 {
        match self {
            Self::Disconnected => 0,
            Self::Connected => 1,
            Self::Warning => 2,
            Self::Error => 3,
        }
    }
}

/// Why an item is not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfiguredReason {
    NotLinked,
    Revoked,
    Disabled,
    HiddenByPolicy,
}

/// What is wrong with a connection: the one vocabulary of the status's
/// `problem.code`, an action's result and its error reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    OauthRevoked,
    Unauthorized,
    RateLimited,
    Timeout,
    Unreachable,
    Misconfigured,
    Unknown,
}

impl ProblemCode {
    pub const ALL: [Self; 7] = [
        Self::OauthRevoked,
        Self::Unauthorized,
        Self::RateLimited,
        Self::Timeout,
        Self::Unreachable,
        Self::Misconfigured,
        Self::Unknown,
    ];

    /// The proto ProblemCode's name without its prefix, e.g. `TIMEOUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OauthRevoked => "OAUTH_REVOKED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Timeout => "TIMEOUT",
            Self::Unreachable => "UNREACHABLE",
            Self::Misconfigured => "MISCONFIGURED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Problem {
    pub code: ProblemCode,
    pub hint: String,
    pub retry_after: Option<Duration>,
}

/// A circuit breaker's state, as the status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

/// One deployment environment of a multi-environment provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvironmentStatus {
    pub name: String,
    pub level: Level,
    pub summary: String,
    pub url: Option<String>,
    pub last_deploy_at: Option<DateTime<Utc>>,
}

/// One item of a project's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemStatus {
    /// `None` for a placeholder: a wanted type with no connection.
    pub connection: Option<ConnectionName>,
    pub type_id: TypeId,
    pub configured: bool,
    pub configured_reason: Option<ConfiguredReason>,
    pub level: Level,
    /// What owners, admins and editors read: names, URLs, details.
    pub summary: String,
    /// What viewers read instead, e.g. "Private repository".
    pub redacted_summary: String,
    pub problem: Option<Problem>,
    pub environments: Vec<EnvironmentStatus>,
    pub circuit: Circuit,
    /// When the item last changed. Transient: not part of `hash`.
    pub updated_at: DateTime<Utc>,
    /// Served from cache or an open circuit. Transient: not part of `hash`.
    pub stale: bool,
    /// How long the probe that found this state took. A measurement: not
    /// part of `hash`, so a probe that finds the same state changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
}

impl ItemStatus {
    /// The key items sort by: connections by name, then placeholders by type.
    pub fn sort_key(&self) -> (u8, String) {
        match &self.connection {
            Some(name) => (0, name.to_string()),
            None => (1, self.type_id.to_string()),
        }
    }

    /// A placeholder for a wanted type the project has not linked, so a UI
    /// header keeps a stable layout.
    pub fn not_linked(type_id: TypeId, now: DateTime<Utc>) -> Self {
        Self {
            connection: None,
            type_id,
            configured: false,
            configured_reason: Some(ConfiguredReason::NotLinked),
            level: Level::Disconnected,
            summary: "Not connected".to_owned(),
            redacted_summary: "Not connected".to_owned(),
            problem: None,
            environments: Vec::new(),
            circuit: Circuit::Closed,
            updated_at: now,
            stale: false,
            latency: None,
        }
    }

    /// The item as a viewer sees it: generic summaries, no names or URLs.
    pub fn redacted(&self) -> Self {
        let mut item = self.clone();
        item.summary = self.redacted_summary.clone();
        if let Some(problem) = &mut item.problem {
            problem.hint = generic_hint(problem.code).to_owned();
        }
        for env in &mut item.environments {
            env.summary = level_word(env.level).to_owned();
            env.url = None;
        }
        item
    }
}

fn generic_hint(code: ProblemCode) -> &'static str {
    match code {
        ProblemCode::OauthRevoked | ProblemCode::Unauthorized => "Ask an admin to reconnect",
        ProblemCode::RateLimited => "The provider is rate limiting; retrying later",
        ProblemCode::Timeout | ProblemCode::Unreachable => "The provider is not answering",
        ProblemCode::Misconfigured => "Ask an admin to check the settings",
        ProblemCode::Unknown => "Something went wrong",
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Connected => "Healthy",
        Level::Warning => "Degraded",
        Level::Error => "Failing",
        Level::Disconnected => "Disconnected",
    }
}

/// The worst item, where a DISCONNECTED item that is not configured does not
/// count; DISCONNECTED when nothing counts.
pub fn overall<'a>(items: impl IntoIterator<Item = &'a ItemStatus>) -> Level {
    items
        .into_iter()
        .filter(|i| i.configured || i.level != Level::Disconnected)
        .map(|i| i.level)
        .max_by_key(|l| l.severity())
        .unwrap_or(Level::Disconnected)
}

/// Over the sorted items without transient fields: equal content, equal
/// hash, whatever the timestamps. Redaction does not change it.
pub fn content_hash(items: &[ItemStatus]) -> String {
    let mut hasher = Sha256::new();
    for item in items {
        // Serializing our own plain types cannot fail.
        let json = serde_json::to_vec(&Content::of(item)).unwrap_or_default();
        hasher.update(json.len().to_le_bytes());
        hasher.update(&json);
    }
    hex(&hasher.finalize()[..16])
}

/// The hashed part of an item: everything but the transient fields.
#[derive(Serialize)]
struct Content<'a> {
    connection: &'a Option<ConnectionName>,
    type_id: &'a TypeId,
    configured: bool,
    configured_reason: Option<ConfiguredReason>,
    level: Level,
    summary: &'a str,
    redacted_summary: &'a str,
    problem: &'a Option<Problem>,
    environments: &'a [EnvironmentStatus],
    circuit: Circuit,
}

impl<'a> Content<'a> {
    fn of(i: &'a ItemStatus) -> Self {
        Self {
            connection: &i.connection,
            type_id: &i.type_id,
            configured: i.configured,
            configured_reason: i.configured_reason,
            level: i.level,
            summary: &i.summary,
            redacted_summary: &i.redacted_summary,
            problem: &i.problem,
            environments: &i.environments,
            circuit: i.circuit,
        }
    }
}

/// Whether two items differ in what a watcher renders.
pub fn differs(a: &ItemStatus, b: &ItemStatus) -> bool {
    a.stale != b.stale
        || serde_json::to_value(Content::of(a)).ok() != serde_json::to_value(Content::of(b)).ok()
}

/// Like [`content_hash`], plus what a UI renders from the transient fields
/// and the measurements.
pub fn render_hash(items: &[ItemStatus]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(content_hash(items).as_bytes());
    for item in items {
        hasher.update(item.updated_at.timestamp_micros().to_le_bytes());
        hasher.update([u8::from(item.stale)]);
        let latency = item.latency.map_or(u128::MAX, |l| l.as_micros());
        hasher.update(latency.to_le_bytes());
    }
    hex(&hasher.finalize()[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ProjectId;

    fn item(id: &str, level: Level, configured: bool) -> ItemStatus {
        ItemStatus {
            connection: Some(ConnectionName {
                project: ProjectId::parse("acme").expect("valid"),
                id: crate::names::ResourceId::parse("connection", id).expect("valid"),
            }),
            type_id: TypeId::parse("github").expect("valid"),
            configured,
            configured_reason: (!configured).then_some(ConfiguredReason::Disabled),
            level,
            summary: format!("acme/{id} on main, pushed 2h ago"),
            redacted_summary: "Private repository".into(),
            problem: None,
            environments: vec![EnvironmentStatus {
                name: "production".into(),
                level,
                summary: "https://acme-web.vercel.app ready".into(),
                url: Some("https://acme-web.vercel.app".into()),
                last_deploy_at: None,
            }],
            circuit: Circuit::Closed,
            updated_at: Utc::now(),
            stale: false,
            latency: Some(Duration::from_millis(12)),
        }
    }

    #[test]
    fn overall_is_the_worst_item() {
        use Level::*;
        let cases: &[(&[(Level, bool)], Level)] = &[
            (&[], Disconnected),
            (&[(Connected, true)], Connected),
            (&[(Connected, true), (Warning, true)], Warning),
            (&[(Warning, true), (Error, true), (Connected, true)], Error),
            (&[(Disconnected, true), (Connected, true)], Connected),
            (&[(Disconnected, true)], Disconnected),
            // Not configured and disconnected: does not degrade anything.
            (&[(Connected, true), (Disconnected, false)], Connected),
            (&[(Disconnected, false)], Disconnected),
            // Not configured but failing still counts.
            (&[(Connected, true), (Error, false)], Error),
        ];
        for (items, want) in cases {
            let items: Vec<ItemStatus> = items
                .iter()
                .enumerate()
                .map(|(i, (level, configured))| item(&format!("c{i}"), *level, *configured))
                .collect();
            assert_eq!(overall(&items), *want, "{items:?}");
        }
    }

    #[test]
    fn hashes_ignore_time_but_not_content() {
        let a = vec![item("web", Level::Connected, true)];
        let mut later = a.clone();
        later[0].updated_at += chrono::Duration::seconds(30);
        later[0].stale = true;
        assert_eq!(content_hash(&a), content_hash(&later));
        assert_ne!(render_hash(&a), render_hash(&later));
        let mut slower = a.clone();
        slower[0].latency = Some(Duration::from_millis(900));
        assert_eq!(content_hash(&a), content_hash(&slower));
        assert!(!differs(&a[0], &slower[0]), "a measurement is no change");
        assert_ne!(render_hash(&a), render_hash(&slower));
        let mut changed = a.clone();
        changed[0].level = Level::Warning;
        assert_ne!(content_hash(&a), content_hash(&changed));
        let mut summary = a.clone();
        summary[0].summary.push('!');
        assert_ne!(content_hash(&a), content_hash(&summary));
    }

    #[test]
    fn redaction_hides_details_but_keeps_the_shape() {
        let mut full = item("web", Level::Warning, true);
        full.problem = Some(Problem {
            code: ProblemCode::Unauthorized,
            hint: "token for acme-bot expired".into(),
            retry_after: None,
        });
        let redacted = full.redacted();
        let shown = format!("{redacted:?}");
        assert!(
            !shown.contains("acme/web")
                && !shown.contains("vercel.app")
                && !shown.contains("acme-bot")
        );
        assert_eq!(redacted.summary, "Private repository");
        // Viewers see the same levels and layout as owners.
        assert_eq!(redacted.level, full.level);
        assert_eq!(redacted.circuit, full.circuit);
        assert_eq!(
            redacted
                .environments
                .iter()
                .map(|e| (&e.name, e.level))
                .collect::<Vec<_>>(),
            full.environments
                .iter()
                .map(|e| (&e.name, e.level))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            redacted.problem.map(|p| p.code),
            Some(ProblemCode::Unauthorized)
        );
    }
}
