//! HubSpot: the account's details and how much of the API budget is
//! left; contacts, companies and deals for sync. Its refresh tokens are
//! revoked by DELETE on a URI that names them, which the standard
//! revocation does from the catalog's `revoke_uri`.

use serde::Deserialize;
use serde_json::Value;

use super::{Call, EffectError, Observation, ProbeError, Provider, SyncPage, SyncSource, request};
use crate::status::model::Level;

pub struct HubSpot;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    portal_id: i64,
    account_type: Option<String>,
}

#[tonic::async_trait]
impl Provider for HubSpot {
    fn id(&self) -> &'static str {
        "hubspot"
    }

    async fn probe(&self, ctx: &Call<'_>) -> Result<Observation, ProbeError> {
        let mut request = ctx
            .http
            .get(format!("{}/account-info/v3/details", ctx.base_uri))
            .timeout(ctx.timeout);
        if let Some(token) = ctx.credential("access_token") {
            request = request.bearer_auth(token);
        }
        let response = request::send(request, ctx.is_oauth()).await?;
        let headers = response.headers().clone();
        let account: Account = request::json(response).await?;
        if let Some(expected) = ctx.setting_i64("portal_id")
            && expected != account.portal_id
        {
            return Err(ProbeError::misconfigured(format!(
                "the token belongs to portal {}, not {expected}",
                account.portal_id
            )));
        }
        let kind = account
            .account_type
            .unwrap_or_else(|| "HubSpot".to_owned())
            .to_lowercase();
        let budget = |max: &str, left: &str| {
            Some((
                request::header_i64(&headers, max)?,
                request::header_i64(&headers, left)?,
            ))
        };
        let daily = budget(
            "x-hubspot-ratelimit-daily",
            "x-hubspot-ratelimit-daily-remaining",
        );
        let burst = budget("x-hubspot-ratelimit-max", "x-hubspot-ratelimit-remaining");
        let low = [daily, burst]
            .into_iter()
            .flatten()
            // Saturating: the numbers are the provider's, and may be anything.
            .any(|(max, left)| left.saturating_mul(10) < max);
        let budget_words = daily
            .map(|(max, left)| format!("; {left} of {max} daily API calls left"))
            .unwrap_or_default();
        let scarcest = [daily, burst]
            .into_iter()
            .flatten()
            .map(|(_, left)| left)
            .min();
        let observation = Observation::new(
            Level::Connected,
            format!("portal {} ({kind}){budget_words}", account.portal_id),
            "Account reachable",
        )
        .with_rate_limit_remaining(scarcest);
        Ok(if low {
            observation.budget_nearly_spent(
                "Account reachable; API budget nearly spent",
                "under 10% of the API budget is left",
            )
        } else {
            observation
        })
    }

    fn sync_source(&self, _call: &Call<'_>) -> Option<Result<Box<dyn SyncSource>, EffectError>> {
        Some(Ok(Box::new(CrmObjects)))
    }
}

/// CRM objects through the v3 objects API, cursor-paged by `after`.
struct CrmObjects;

const PAGE_SIZE: usize = 100;

#[tonic::async_trait]
impl SyncSource for CrmObjects {
    fn default_entities(&self) -> Result<Vec<String>, EffectError> {
        Ok(["contacts", "companies", "deals"].map(str::to_owned).into())
    }

    async fn page(
        &self,
        call: &Call<'_>,
        entity: &str,
        cursor: Option<&str>,
    ) -> Result<SyncPage, EffectError> {
        let token = call.bearer("access_token")?;
        let mut url = format!(
            "{}/crm/v3/objects/{entity}?limit={PAGE_SIZE}",
            call.base_uri
        );
        if let Some(after) = cursor {
            url.push_str("&after=");
            url.push_str(after);
        }
        let response =
            request::send(call.http.get(url).bearer_auth(token), call.is_oauth()).await?;
        let page: Value = request::json(response).await?;
        Ok(SyncPage {
            records: SyncPage::records(&page["results"], "id"),
            next: page["paging"]["next"]["after"].as_str().map(str::to_owned),
        })
    }
}
