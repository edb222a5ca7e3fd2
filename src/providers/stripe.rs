//! Stripe: the account behind the secret key (CONNECTED while it can take
//! charges), customers (or any list the API pages the same way) for sync,
//! and account events as a reason to probe again. Webhooks are signed with
//! the Stripe scheme.

use serde::Deserialize;
use serde_json::Value;

use super::{
    Call, EffectError, Health, Observation, ProbeError, Provider, SyncPage, SyncSource, request,
};
use crate::status::model::Level;

/// Pinned so that answers keep the shape read here.
const API_VERSION: &str = "2024-06-20";
const PAGE_SIZE: usize = 100;

pub struct Stripe;

#[derive(Deserialize)]
struct Account {
    id: String,
    #[serde(default)]
    charges_enabled: bool,
    #[serde(default)]
    details_submitted: bool,
    business_profile: Option<BusinessProfile>,
}

#[derive(Deserialize)]
struct BusinessProfile {
    name: Option<String>,
}

fn get(call: &Call<'_>, url: String) -> reqwest::RequestBuilder {
    let request = call
        .http
        .get(url)
        .timeout(call.timeout)
        .header("stripe-version", API_VERSION);
    match call.credential("secret_key") {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

#[tonic::async_trait]
impl Provider for Stripe {
    fn id(&self) -> &'static str {
        "stripe"
    }

    async fn probe(&self, call: &Call<'_>) -> Result<Observation, ProbeError> {
        if call.credential("secret_key").is_none() {
            return Err(ProbeError::misconfigured(
                "secret_key credential is missing",
            ));
        }
        let response =
            request::send(get(call, format!("{}/v1/account", call.base_uri)), false).await?;
        let account: Account = request::json(response).await?;
        let name = account
            .business_profile
            .and_then(|p| p.name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| account.id.clone());
        if !account.charges_enabled {
            let why = if account.details_submitted {
                "charges are disabled"
            } else {
                "onboarding is not finished; charges are disabled"
            };
            return Ok(Observation::new(
                Level::Warning,
                format!("{name} ({}): {why}", account.id),
                "Account reachable; charges disabled",
            ));
        }
        Ok(Observation::new(
            Level::Connected,
            format!("{name} ({}): charges enabled", account.id),
            "Account reachable",
        ))
    }

    fn sync_source(&self, _call: &Call<'_>) -> Option<Result<Box<dyn SyncSource>, EffectError>> {
        Some(Ok(Box::new(Lists)))
    }

    fn webhook_health(&self, event_type: &str, _body: &Value) -> Option<Health> {
        // The account's own changes (capabilities, deauthorization) may
        // change what the probe finds.
        event_type
            .starts_with("account.")
            .then_some(Health::Changed)
    }
}

/// A Stripe list (`/v1/customers`, `/v1/products`, ...), cursor-paged with
/// `starting_after` the last id while `has_more`.
struct Lists;

#[tonic::async_trait]
impl SyncSource for Lists {
    fn default_entities(&self) -> Result<Vec<String>, EffectError> {
        Ok(vec!["customers".to_owned()])
    }

    async fn page(
        &self,
        call: &Call<'_>,
        entity: &str,
        cursor: Option<&str>,
    ) -> Result<SyncPage, EffectError> {
        call.bearer("secret_key")?;
        let mut url = format!("{}/v1/{entity}?limit={PAGE_SIZE}", call.base_uri);
        if let Some(after) = cursor {
            url.push_str("&starting_after=");
            url.push_str(after);
        }
        let page: Value = request::json(request::send(get(call, url), false).await?).await?;
        let records = SyncPage::records(&page["data"], "id");
        let next = (page["has_more"].as_bool() == Some(true))
            .then(|| records.last().map(|(id, _)| id.clone()))
            .flatten();
        Ok(SyncPage { records, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_events_call_for_a_probe() {
        assert_eq!(
            Stripe.webhook_health("account.updated", &Value::Null),
            Some(Health::Changed)
        );
        assert_eq!(
            Stripe.webhook_health("account.application.deauthorized", &Value::Null),
            Some(Health::Changed)
        );
        assert_eq!(
            Stripe.webhook_health("customer.created", &Value::Null),
            None
        );
    }
}
