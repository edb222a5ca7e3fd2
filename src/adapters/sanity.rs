//! Sanity: the dataset answers a query, and its documents changed recently.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Adapter, Observation, ProbeContext, ProbeError, github::age_words, request};
use crate::status::model::Level;

const DEFAULT_API_VERSION: &str = "2025-02-19";
const RECENT_DAYS: i64 = 30;
/// The newest non-system document's update time.
const LATEST_CHANGE: &str = r#"*[!(_id in path("_.**"))] | order(_updatedAt desc)[0]{_updatedAt}"#;

pub struct Sanity;

#[derive(Deserialize)]
struct QueryResult {
    result: Option<Latest>,
}

#[derive(Deserialize)]
struct Latest {
    #[serde(rename = "_updatedAt")]
    updated_at: Option<DateTime<Utc>>,
}

#[tonic::async_trait]
impl Adapter for Sanity {
    async fn probe(&self, ctx: &ProbeContext<'_>) -> Result<Observation, ProbeError> {
        let Some(dataset) = ctx.setting("dataset") else {
            return Err(ProbeError::misconfigured("dataset must be set"));
        };
        let version = ctx.setting("api_version").unwrap_or(DEFAULT_API_VERSION);
        let version = version.trim_start_matches('v');
        let mut request = ctx
            .http
            .get(format!("{}/v{version}/data/query/{dataset}", ctx.base_uri))
            .query(&[("query", LATEST_CHANGE)])
            .timeout(ctx.timeout);
        if let Some(token) = ctx.credential("token") {
            request = request.bearer_auth(token);
        }
        let answer: QueryResult = request::json(request::send(request, false).await?).await?;
        let Some(updated_at) = answer.result.and_then(|r| r.updated_at) else {
            return Ok(Observation::new(
                Level::Warning,
                format!("dataset {dataset} is empty"),
                "No content yet",
            ));
        };
        let age = ctx.now.signed_duration_since(updated_at);
        let words = age_words(age.num_days().max(0), age.num_hours().max(0));
        let level = if age.num_days() < RECENT_DAYS {
            Level::Connected
        } else {
            Level::Warning
        };
        Ok(Observation::new(
            level,
            format!("dataset {dataset}: last change {words}"),
            format!("Content: last change {words}"),
        ))
    }
}
