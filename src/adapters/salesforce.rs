//! Salesforce: the org's limits endpoint, warning when the daily API
//! allowance runs low.

use serde::Deserialize;

use super::{Adapter, Observation, ProbeContext, ProbeError, problem, request};
use crate::status::model::{Level, ProblemCode};

const DEFAULT_API_VERSION: &str = "v62.0";

pub struct Salesforce;

#[derive(Deserialize)]
struct Limits {
    #[serde(rename = "DailyApiRequests")]
    daily_api_requests: Option<Limit>,
}

#[derive(Deserialize)]
struct Limit {
    #[serde(rename = "Max")]
    max: i64,
    #[serde(rename = "Remaining")]
    remaining: i64,
}

#[tonic::async_trait]
impl Adapter for Salesforce {
    async fn probe(&self, ctx: &ProbeContext<'_>) -> Result<Observation, ProbeError> {
        // Each org has its own host; the type's base URI is only a fallback.
        let base = ctx
            .setting("instance_url")
            .map(|u| u.trim_end_matches('/'))
            .unwrap_or(ctx.base_uri);
        if base.is_empty() {
            return Err(ProbeError::misconfigured("instance_url must be set"));
        }
        let version = ctx.setting("api_version").unwrap_or(DEFAULT_API_VERSION);
        let mut request = ctx
            .http
            .get(format!("{base}/services/data/{version}/limits"))
            .timeout(ctx.timeout);
        if let Some(token) = ctx.credential("access_token") {
            request = request.bearer_auth(token);
        }
        let limits: Limits = request::json(request::send(request, ctx.is_oauth()).await?).await?;
        let Some(daily) = limits.daily_api_requests else {
            return Ok(Observation::new(
                Level::Connected,
                "org reachable",
                "Org reachable",
            ));
        };
        if daily.remaining <= 0 {
            return Err(ProbeError::RateLimited(problem(
                ProblemCode::RateLimited,
                "the org's daily API allowance is spent",
            )));
        }
        let low = daily.max > 0 && daily.remaining * 10 < daily.max;
        let mut observation = Observation::new(
            if low {
                Level::Warning
            } else {
                Level::Connected
            },
            format!(
                "{} of {} daily API requests left",
                daily.remaining, daily.max
            ),
            if low {
                "Org reachable; API allowance nearly spent"
            } else {
                "Org reachable"
            },
        );
        if low {
            observation.problem = Some(problem(
                ProblemCode::RateLimited,
                "under 10% of the daily API allowance is left",
            ));
        }
        Ok(observation)
    }
}
