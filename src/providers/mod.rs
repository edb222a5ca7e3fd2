//! Providers: everything Patchbay knows about one third-party service, in
//! one file behind one trait. A provider probes a connection's status, runs
//! its own actions, pages through records for sync, says what its webhooks
//! mean for health, and shapes its token revocation. The services call
//! providers only through [`Provider`], found by the id a type's `probe`
//! field names; nothing outside these files matches on a provider's name.
//!
//! Adding one: a file here implementing [`Provider`], a line in
//! `BUILT_IN`, and a migration inserting its catalog entry.

mod base_urls;
mod call;
mod github;
mod http_service;
mod hubspot;
mod outcome;
pub mod request;
mod salesforce;
mod sanity;
mod slack;
mod stripe;
mod supabase;
mod vercel;

use reqwest::RequestBuilder;
use serde_json::{Map, Value};

pub use base_urls::BaseUrls;
pub use call::{
    ActionCall, Call, PLANNED_ACTION_ID, PlanCall, Planned, Repeat, Report, resolve_base_uri,
    standard_revocation,
};
pub use outcome::{
    EffectError, Health, Observation, ProbeError, SyncPage, age_words, object, problem,
};

use crate::error::{ApiError, ErrorCode};

/// Every built-in provider: the one list that registers them.
static BUILT_IN: [&dyn Provider; 9] = [
    &github::GitHub,
    &vercel::Vercel,
    &sanity::Sanity,
    &supabase::Supabase,
    &hubspot::HubSpot,
    &salesforce::Salesforce,
    &http_service::HttpService,
    &stripe::Stripe,
    &slack::Slack,
];

/// The provider a type's `probe` field names.
pub fn find(id: &str) -> Option<&'static dyn Provider> {
    BUILT_IN.iter().copied().find(|p| p.id() == id)
}

/// The ids a type may name, in registration order.
pub fn ids() -> impl Iterator<Item = &'static str> {
    BUILT_IN.iter().map(|p| p.id())
}

/// One third-party service. Only `id` and `probe` are required: a provider
/// without actions, sync, webhook meaning or revocation quirks leaves the
/// defaults.
#[tonic::async_trait]
pub trait Provider: Send + Sync {
    /// What a type's `probe` field names; a built-in type's own id.
    fn id(&self) -> &'static str;

    /// Asks the provider how the connection is, now.
    async fn probe(&self, call: &Call<'_>) -> Result<Observation, ProbeError>;

    /// Runs `action` when it is one of this provider's own (every provider
    /// gets test-connection, refresh, configure, reconnect, disconnect and,
    /// through [`Provider::sync_source`], sync); `None` when it is not.
    async fn act(
        &self,
        _call: &Call<'_>,
        _action: &ActionCall<'_>,
    ) -> Option<Result<Map<String, Value>, EffectError>> {
        None
    }

    /// What `action` (one of [`Provider::act`]'s) would send for `params`,
    /// in order, without sending anything: a dry run's plan. `None` when it
    /// is not one of this provider's own.
    fn plan(
        &self,
        _call: &PlanCall<'_>,
        _action: &str,
        _params: &Map<String, Value>,
    ) -> Option<Result<Vec<Planned>, EffectError>> {
        None
    }

    /// The id of the action whose effect caused this event, when the event
    /// carries the tag that effect left (a GitHub dispatch's payload, a
    /// Vercel deployment's meta): how a loop of automations is traced.
    fn webhook_cause(&self, _event_type: &str, _body: &Value) -> Option<String> {
        None
    }

    /// Whether a retry of `action` (one of [`Provider::act`]'s) finds an
    /// interrupted attempt's effect, or may repeat it.
    fn repeat(&self, _action: &str) -> Repeat {
        Repeat::Unchecked
    }

    /// Where sync reads this connection's records; `None` when the
    /// provider has nothing to sync.
    fn sync_source(&self, _call: &Call<'_>) -> Option<Result<Box<dyn SyncSource>, EffectError>> {
        None
    }

    /// What an event (its type, its parsed JSON body or `Null`) says about
    /// the connection's health, if anything.
    fn webhook_health(&self, _event_type: &str, _body: &Value) -> Option<Health> {
        None
    }

    /// The request that revokes the connection's token at `revoke_uri`
    /// (the type's, moved onto any base URL override); `None` when there is
    /// no token to revoke.
    fn revocation(
        &self,
        http: &reqwest::Client,
        revoke_uri: &str,
        credentials: &std::collections::BTreeMap<String, String>,
    ) -> Option<RequestBuilder> {
        standard_revocation(http, revoke_uri, credentials)
    }
}

/// Where sync reads one connection's records, page by page.
#[tonic::async_trait]
pub trait SyncSource: Send + Sync {
    /// The entities synced when `params.entities` names none.
    fn default_entities(&self) -> Result<Vec<String>, EffectError>;

    /// The page of `entity` starting at `cursor` (`None`: the first).
    async fn page(
        &self,
        call: &Call<'_>,
        entity: &str,
        cursor: Option<&str>,
    ) -> Result<SyncPage, EffectError>;
}

/// Refuses an action no effect exists for.
pub fn unsupported(action: &str) -> EffectError {
    EffectError::permanent(ApiError::new(
        ErrorCode::Unimplemented,
        "ACTION_NOT_SUPPORTED",
        format!("{action} has no effect Patchbay can run"),
    ))
}
