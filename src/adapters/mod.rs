//! Status adapters: one real HTTP (or Postgres) client per provider behind
//! one trait. Each turns what its provider answers into an [`Observation`]
//! or a classified [`ProbeError`].

mod base_urls;
mod github;
mod http;
mod hubspot;
pub mod request;
mod salesforce;
mod sanity;
mod supabase;
mod vercel;

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use base_urls::BaseUrls;

use crate::status::model::{EnvironmentStatus, Level, Problem, ProblemCode};

/// What a probe needs: the connection's settings and credentials, the
/// provider's base URL, and a client with the probe's timeout.
pub struct ProbeContext<'a> {
    pub http: &'a reqwest::Client,
    /// The type's API base URL (or the server's override), placeholders filled.
    pub base_uri: &'a str,
    pub settings: &'a Map<String, Value>,
    pub credentials: &'a BTreeMap<String, String>,
    pub timeout: Duration,
    pub now: DateTime<Utc>,
}

impl ProbeContext<'_> {
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn setting_i64(&self, key: &str) -> Option<i64> {
        self.settings.get(key).and_then(Value::as_i64)
    }

    pub fn credential(&self, key: &str) -> Option<&str> {
        self.credentials
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// OAuth connections (those with a refresh token) are revoked, not just
    /// unauthorized, when the provider refuses their token.
    pub fn is_oauth(&self) -> bool {
        self.credential("refresh_token").is_some()
    }
}

/// A successful probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub level: Level,
    /// For owners, admins and editors: names, URLs, details.
    pub summary: String,
    /// For viewers: nothing that names or locates anything.
    pub redacted_summary: String,
    pub environments: Vec<EnvironmentStatus>,
    /// A problem short of failure, e.g. an API budget nearly spent.
    pub problem: Option<Problem>,
}

impl Observation {
    pub fn new(level: Level, summary: impl Into<String>, redacted: impl Into<String>) -> Self {
        Self {
            level,
            summary: summary.into(),
            redacted_summary: redacted.into(),
            environments: Vec::new(),
            problem: None,
        }
    }
}

/// A failed probe, by what it means for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The provider answered, and the answer is the status (bad token,
    /// missing repository): shown as ERROR at once.
    Definitive(Problem),
    /// The provider could not be asked (timeout, refused, 5xx): the last good
    /// status is served as stale, and repeats open the circuit.
    Transient(Problem),
    /// The provider's budget is spent: wait `retry_after`; opens no circuit.
    RateLimited(Problem),
}

impl ProbeError {
    pub fn problem(&self) -> &Problem {
        match self {
            Self::Definitive(p) | Self::Transient(p) | Self::RateLimited(p) => p,
        }
    }

    pub fn misconfigured(hint: impl Into<String>) -> Self {
        Self::Definitive(problem(ProblemCode::Misconfigured, hint))
    }
}

pub fn problem(code: ProblemCode, hint: impl Into<String>) -> Problem {
    Problem {
        code,
        hint: hint.into(),
        retry_after: None,
    }
}

#[tonic::async_trait]
pub trait Adapter: Send + Sync {
    async fn probe(&self, ctx: &ProbeContext<'_>) -> Result<Observation, ProbeError>;
}

/// The adapter a type's `probe` names.
pub fn adapter(probe: &str) -> Option<&'static dyn Adapter> {
    Some(match probe {
        "github" => &github::GitHub,
        "vercel" => &vercel::Vercel,
        "sanity" => &sanity::Sanity,
        "supabase" => &supabase::Supabase,
        "hubspot" => &hubspot::HubSpot,
        "salesforce" => &salesforce::Salesforce,
        "http" => &http::HttpService,
        _ => return None,
    })
}

/// Fills `{setting}` placeholders of a base URI from the settings.
pub fn resolve_base_uri(template: &str, settings: &Map<String, Value>) -> String {
    let mut out = template.to_owned();
    for (key, value) in settings {
        if let Some(value) = value.as_str() {
            out = out.replace(&format!("{{{key}}}"), value);
        }
    }
    out.trim_end_matches('/').to_owned()
}
