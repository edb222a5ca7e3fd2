//! What a provider is given to call its service: the connection's settings
//! and opened credentials, the base URL to call, and a client.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::RequestBuilder;
use serde_json::{Map, Value};

use super::EffectError;
use crate::error::{ApiError, ErrorCode};

/// One connection, ready to call its provider.
pub struct Call<'a> {
    pub http: &'a reqwest::Client,
    /// The type's API base URL (or the server's override), placeholders
    /// filled, without a trailing slash.
    pub base_uri: &'a str,
    pub settings: &'a Map<String, Value>,
    pub credentials: &'a BTreeMap<String, String>,
    /// How long one request may take.
    pub timeout: Duration,
    pub now: DateTime<Utc>,
}

impl Call<'_> {
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

    /// The token an action authenticates with: an action cannot run
    /// without one, where a probe may still ask.
    pub fn bearer(&self, key: &str) -> Result<&str, EffectError> {
        self.credential(key).ok_or_else(|| {
            EffectError::permanent(ApiError::new(
                ErrorCode::FailedPrecondition,
                "CREDENTIALS_MISSING",
                "the connection has no access token; set its credentials",
            ))
        })
    }
}

/// What a dry run knows of a connection: where its provider is called and
/// its settings, never its credentials and never a client to call with.
pub struct PlanCall<'a> {
    pub base_uri: &'a str,
    pub settings: &'a Map<String, Value>,
}

impl PlanCall<'_> {
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// A request an action would make, as a dry run shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub method: &'static str,
    pub url: String,
    /// What it would send, without credentials.
    pub body: Value,
    pub summary: String,
}

/// Stands in a plan for the action id an action gets when it starts.
pub const PLANNED_ACTION_ID: &str = "<the action's id>";

/// An action a provider runs, as its worker claimed it.
pub struct ActionCall<'a> {
    pub action: &'a str,
    /// The action's id: the tag a provider puts on what the effect creates,
    /// so a retry can find it.
    pub id: &'a str,
    /// An earlier attempt called the provider and its outcome was not
    /// recorded: the effect may have happened (see [`Repeat`]).
    pub earlier_attempt: bool,
    pub params: &'a Map<String, Value>,
    pub progress: &'a dyn Report,
}

/// What a provider can do about an effect an interrupted attempt may have
/// run already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// It tags what the effect creates with the action's id and, on a
    /// retry after such an attempt, looks for the tag first.
    LooksUp,
    /// Nothing tells whether the earlier attempt took effect: the retry
    /// runs it again, and the Action counts an unconfirmed repeat.
    Unchecked,
}

impl ActionCall<'_> {
    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }
}

/// Where a long action tells its watchers how far it is.
#[tonic::async_trait]
pub trait Report: Send + Sync {
    async fn report(&self, percent: i32, message: &str) -> Result<(), EffectError>;
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

/// Revocation as most providers take it. `{refresh_token}`,
/// `{access_token}` and `{client_id}` in the URI are filled in; a URI that
/// names the token is called with DELETE (HubSpot's refresh-token
/// endpoint), otherwise the token is POSTed as a form (RFC 7009, as
/// Salesforce does), with the client's credentials when there are some.
pub fn standard_revocation(
    http: &reqwest::Client,
    revoke_uri: &str,
    credentials: &BTreeMap<String, String>,
) -> Option<RequestBuilder> {
    let token = credentials
        .get("refresh_token")
        .or_else(|| credentials.get("access_token"))?;
    let mut uri = revoke_uri.to_owned();
    let names_token = uri.contains("{refresh_token}") || uri.contains("{access_token}");
    for key in ["refresh_token", "access_token", "client_id"] {
        if let Some(value) = credentials.get(key) {
            uri = uri.replace(&format!("{{{key}}}"), value);
        }
    }
    if names_token {
        return Some(http.delete(&uri));
    }
    let mut request = http.post(&uri).form(&[("token", token.as_str())]);
    if let (Some(id), Some(secret)) = (
        credentials.get("client_id"),
        credentials.get("client_secret"),
    ) {
        request = request.basic_auth(id, Some(secret));
    }
    Some(request)
}
