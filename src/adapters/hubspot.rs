//! HubSpot: the account's details, and how much of the API budget is left.

use serde::Deserialize;

use super::{Adapter, Observation, ProbeContext, ProbeError, problem, request};
use crate::status::model::{Level, ProblemCode};

pub struct HubSpot;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    portal_id: i64,
    account_type: Option<String>,
}

#[tonic::async_trait]
impl Adapter for HubSpot {
    async fn probe(&self, ctx: &ProbeContext<'_>) -> Result<Observation, ProbeError> {
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
            .any(|(max, left)| max > 0 && left * 10 < max);
        let budget_words = daily
            .map(|(max, left)| format!("; {left} of {max} daily API calls left"))
            .unwrap_or_default();
        let mut observation = Observation::new(
            if low {
                Level::Warning
            } else {
                Level::Connected
            },
            format!("portal {} ({kind}){budget_words}", account.portal_id),
            if low {
                "Account reachable; API budget nearly spent"
            } else {
                "Account reachable"
            },
        );
        if low {
            observation.problem = Some(problem(
                ProblemCode::RateLimited,
                "under 10% of the API budget is left",
            ));
        }
        Ok(observation)
    }
}
