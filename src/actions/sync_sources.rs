//! Where sync reads records, page by page: HubSpot CRM objects, Sanity
//! documents by type, Salesforce objects through SOQL.

use serde_json::{Value, json};

use super::effects::{EffectError, Target};
use crate::{
    adapters::{ProbeError, request},
    error::{ApiError, ErrorCode},
};

const PAGE_SIZE: usize = 100;
const SANITY_API_VERSION: &str = "2025-02-19";
const SALESFORCE_API_VERSION: &str = "v62.0";

/// One page: `(external id, record)` pairs, and where the next page starts.
pub struct Page {
    pub records: Vec<(String, Value)>,
    pub next: Option<String>,
}

pub enum Source {
    HubSpot,
    Sanity { dataset: String, version: String },
    Salesforce { base: String, version: String },
}

impl Source {
    pub fn for_target(target: &Target) -> Result<Self, EffectError> {
        match target.connection.type_id.as_str() {
            "hubspot" => Ok(Self::HubSpot),
            "sanity" => Ok(Self::Sanity {
                dataset: target
                    .setting("dataset")
                    .ok_or_else(|| ProbeError::misconfigured("the dataset setting is required"))?
                    .to_owned(),
                version: target
                    .setting("api_version")
                    .unwrap_or(SANITY_API_VERSION)
                    .trim_start_matches('v')
                    .to_owned(),
            }),
            "salesforce" => Ok(Self::Salesforce {
                base: target
                    .setting("instance_url")
                    .map_or(target.base_uri.as_str(), |u| u.trim_end_matches('/'))
                    .to_owned(),
                version: target
                    .setting("api_version")
                    .unwrap_or(SALESFORCE_API_VERSION)
                    .to_owned(),
            }),
            other => Err(EffectError::permanent(ApiError::new(
                ErrorCode::Unimplemented,
                "SYNC_NOT_SUPPORTED",
                format!("sync is not available for {other} connections"),
            ))),
        }
    }

    /// The entities synced when `params.entities` names none.
    pub fn default_entities(&self) -> Result<Vec<String>, EffectError> {
        let names: &[&str] = match self {
            Self::HubSpot => &["contacts", "companies", "deals"],
            Self::Salesforce { .. } => &["Contact", "Account", "Opportunity"],
            Self::Sanity { .. } => {
                return Err(EffectError::permanent(ApiError::invalid_field(
                    "params.entities",
                    "name the Sanity document types to sync",
                )));
            }
        };
        Ok(names.iter().map(|n| (*n).to_owned()).collect())
    }

    /// The page of `entity` starting at `cursor` (`None`: the first).
    pub async fn page(
        &self,
        http: &reqwest::Client,
        target: &Target,
        entity: &str,
        cursor: Option<&str>,
    ) -> Result<Page, EffectError> {
        let token = target.bearer()?;
        match self {
            Self::HubSpot => {
                let mut url = format!(
                    "{}/crm/v3/objects/{entity}?limit={PAGE_SIZE}",
                    target.base_uri
                );
                if let Some(after) = cursor {
                    url.push_str("&after=");
                    url.push_str(after);
                }
                let response =
                    request::send(http.get(url).bearer_auth(token), target.is_oauth()).await?;
                let page: Value = request::json(response).await?;
                Ok(Page {
                    records: records(&page["results"], "id"),
                    next: page["paging"]["next"]["after"].as_str().map(str::to_owned),
                })
            }
            Self::Sanity { dataset, version } => {
                // Keyset paging on _id: stable while documents change.
                let query =
                    format!("*[_type == $type && _id > $last] | order(_id asc) [0...{PAGE_SIZE}]");
                let url = format!("{}/v{version}/data/query/{dataset}", target.base_uri);
                let params = [
                    ("query", query),
                    ("$type", json!(entity).to_string()),
                    ("$last", json!(cursor.unwrap_or("")).to_string()),
                ];
                let response =
                    request::send(http.get(url).query(&params).bearer_auth(token), false).await?;
                let page: Value = request::json(response).await?;
                let records = records(&page["result"], "_id");
                let next = (records.len() == PAGE_SIZE)
                    .then(|| records.last().map(|(id, _)| id.clone()))
                    .flatten();
                Ok(Page { records, next })
            }
            Self::Salesforce { base, version } => {
                let url = match cursor {
                    // nextRecordsUrl is a path on the same instance.
                    Some(next) => format!("{base}{next}"),
                    None => format!(
                        "{base}/services/data/{version}/query?q=SELECT+FIELDS(STANDARD)+FROM+{entity}"
                    ),
                };
                let response =
                    request::send(http.get(url).bearer_auth(token), target.is_oauth()).await?;
                let page: Value = request::json(response).await?;
                let next = match page["done"].as_bool() {
                    Some(false) => page["nextRecordsUrl"].as_str().map(str::to_owned),
                    _ => None,
                };
                Ok(Page {
                    records: records(&page["records"], "Id"),
                    next,
                })
            }
        }
    }
}

/// The records of a provider's array, each with its id field.
fn records(list: &Value, id_field: &str) -> Vec<(String, Value)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|record| Some((record[id_field].as_str()?.to_owned(), record.clone())))
        .collect()
}
