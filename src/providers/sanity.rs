//! Sanity: the dataset answers a query, and its documents changed
//! recently; documents by type for sync.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Call, EffectError, Observation, ProbeError, Provider, SyncPage, SyncSource, age_words, request,
};
use crate::error::ApiError;
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
impl Provider for Sanity {
    fn id(&self) -> &'static str {
        "sanity"
    }

    async fn probe(&self, ctx: &Call<'_>) -> Result<Observation, ProbeError> {
        let Some(dataset) = ctx.setting("dataset") else {
            return Err(ProbeError::misconfigured("dataset must be set"));
        };
        let version = api_version(ctx);
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

    fn sync_source(&self, call: &Call<'_>) -> Option<Result<Box<dyn SyncSource>, EffectError>> {
        let Some(dataset) = call.setting("dataset") else {
            return Some(Err(ProbeError::misconfigured(
                "the dataset setting is required",
            )
            .into()));
        };
        Some(Ok(Box::new(Documents {
            dataset: dataset.to_owned(),
            version: api_version(call).to_owned(),
        })))
    }
}

/// The API version date, without the `v` the URL puts before it.
fn api_version<'a>(call: &'a Call<'_>) -> &'a str {
    call.setting("api_version")
        .unwrap_or(DEFAULT_API_VERSION)
        .trim_start_matches('v')
}

/// Documents of one `_type`, keyset-paged on `_id`: stable while documents
/// change.
struct Documents {
    dataset: String,
    version: String,
}

const PAGE_SIZE: usize = 100;

#[tonic::async_trait]
impl SyncSource for Documents {
    fn default_entities(&self) -> Result<Vec<String>, EffectError> {
        Err(EffectError::permanent(ApiError::invalid_field(
            "params.entities",
            "name the Sanity document types to sync",
        )))
    }

    async fn page(
        &self,
        call: &Call<'_>,
        entity: &str,
        cursor: Option<&str>,
    ) -> Result<SyncPage, EffectError> {
        let token = call.bearer("token")?;
        let query = format!("*[_type == $type && _id > $last] | order(_id asc) [0...{PAGE_SIZE}]");
        let url = format!(
            "{}/v{}/data/query/{}",
            call.base_uri, self.version, self.dataset
        );
        let params = [
            ("query", query),
            ("$type", json!(entity).to_string()),
            ("$last", json!(cursor.unwrap_or("")).to_string()),
        ];
        let response =
            request::send(call.http.get(url).query(&params).bearer_auth(token), false).await?;
        let page: Value = request::json(response).await?;
        let records = SyncPage::records(&page["result"], "_id");
        let next = (records.len() == PAGE_SIZE)
            .then(|| records.last().map(|(id, _)| id.clone()))
            .flatten();
        Ok(SyncPage { records, next })
    }
}
