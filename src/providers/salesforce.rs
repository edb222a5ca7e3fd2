//! Salesforce: the org's limits endpoint, warning when the daily API
//! allowance runs low; records for sync through SOQL, on the org's own
//! instance.

use serde::Deserialize;
use serde_json::Value;

use super::{
    Call, EffectError, Observation, ProbeError, Provider, SyncPage, SyncSource, problem, request,
};
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
impl Provider for Salesforce {
    fn id(&self) -> &'static str {
        "salesforce"
    }

    async fn probe(&self, ctx: &Call<'_>) -> Result<Observation, ProbeError> {
        let base = instance(ctx);
        if base.is_empty() {
            return Err(ProbeError::misconfigured("instance_url must be set"));
        }
        let version = api_version(ctx);
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
        // Saturating: the numbers are the provider's, and may be anything.
        let low = daily.remaining.saturating_mul(10) < daily.max;
        let observation = Observation::new(
            Level::Connected,
            format!(
                "{} of {} daily API requests left",
                daily.remaining, daily.max
            ),
            "Org reachable",
        );
        Ok(if low {
            observation.budget_nearly_spent(
                "Org reachable; API allowance nearly spent",
                "under 10% of the daily API allowance is left",
            )
        } else {
            observation
        })
    }

    fn sync_source(&self, call: &Call<'_>) -> Option<Result<Box<dyn SyncSource>, EffectError>> {
        Some(Ok(Box::new(Soql {
            base: instance(call).to_owned(),
            version: api_version(call).to_owned(),
        })))
    }
}

/// Each org has its own host; the type's base URI is only a fallback.
fn instance<'a>(call: &'a Call<'_>) -> &'a str {
    call.setting("instance_url")
        .map_or(call.base_uri, |u| u.trim_end_matches('/'))
}

fn api_version<'a>(call: &'a Call<'_>) -> &'a str {
    call.setting("api_version").unwrap_or(DEFAULT_API_VERSION)
}

/// Standard fields of an object through SOQL, paged by `nextRecordsUrl`.
struct Soql {
    base: String,
    version: String,
}

#[tonic::async_trait]
impl SyncSource for Soql {
    fn default_entities(&self) -> Result<Vec<String>, EffectError> {
        Ok(["Contact", "Account", "Opportunity"]
            .map(str::to_owned)
            .into())
    }

    async fn page(
        &self,
        call: &Call<'_>,
        entity: &str,
        cursor: Option<&str>,
    ) -> Result<SyncPage, EffectError> {
        let token = call.bearer("access_token")?;
        let (base, version) = (&self.base, &self.version);
        let url = match cursor {
            // nextRecordsUrl is a path on the same instance.
            Some(next) => format!("{base}{next}"),
            None => format!(
                "{base}/services/data/{version}/query?q=SELECT+FIELDS(STANDARD)+FROM+{entity}"
            ),
        };
        let response =
            request::send(call.http.get(url).bearer_auth(token), call.is_oauth()).await?;
        let page: Value = request::json(response).await?;
        let next = match page["done"].as_bool() {
            Some(false) => page["nextRecordsUrl"].as_str().map(str::to_owned),
            _ => None,
        };
        Ok(SyncPage {
            records: SyncPage::records(&page["records"], "Id"),
            next,
        })
    }
}
