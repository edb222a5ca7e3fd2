//! Sync: pulls a provider's records page by page, maps each through the
//! project's default template for its entity (when there is one), and
//! upserts them into `records`. Re-running is safe: upserts are keyed by
//! (connection, entity, external id).

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::{
    effects::{EffectError, Effects, Target, object},
    model::Action,
    progress::Progress,
};
use crate::{
    adapters::request,
    error::{ApiError, ErrorCode},
    registry::transform::transform,
    store::{self, StoreError},
};

/// HubSpot CRM objects synced when `params.entities` names none.
const HUBSPOT_ENTITIES: [&str; 3] = ["contacts", "companies", "deals"];
const PAGE_SIZE: usize = 100;
/// Failures listed in the result (all are counted).
const LISTED_FAILURES: usize = 100;

pub async fn run(
    effects: &Effects,
    target: &Target,
    action: &Action,
    progress: &Progress,
) -> Result<Map<String, Value>, EffectError> {
    if target.connection.type_id.as_str() != "hubspot" {
        return Err(EffectError::permanent(ApiError::new(
            ErrorCode::Unimplemented,
            "SYNC_NOT_SUPPORTED",
            format!(
                "sync is not available for {} connections yet",
                target.connection.type_id
            ),
        )));
    }
    let entities: Vec<String> = match action.params.get("entities").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        None => HUBSPOT_ENTITIES.iter().map(|e| (*e).to_owned()).collect(),
    };
    let started = Instant::now();
    let token = target.bearer()?;
    let mut processed = 0usize;
    let mut failures: Vec<Value> = Vec::new();
    let mut failed = 0usize;
    let mut per_entity = Map::new();
    for (index, entity) in entities.iter().enumerate() {
        if !entity
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(EffectError::permanent(ApiError::invalid_field(
                "params.entities",
                format!("{entity:?} is not an object type"),
            )));
        }
        let template = {
            let client = effects.pool.get().await.map_err(StoreError::from)?;
            store::templates::default_for(
                &client,
                &action.connection.project,
                &target.connection.type_id,
                entity,
            )
            .await?
        };
        let mut after: Option<String> = None;
        let mut pages = 0usize;
        let mut stored = 0usize;
        loop {
            let mut url = format!(
                "{}/crm/v3/objects/{entity}?limit={PAGE_SIZE}",
                target.base_uri
            );
            if let Some(after) = &after {
                url.push_str(&format!("&after={after}"));
            }
            let response =
                request::send(effects.http.get(url).bearer_auth(token), target.is_oauth()).await?;
            let page: Value = request::json(response).await?;
            let mut rows = Vec::new();
            for record in page["results"].as_array().into_iter().flatten() {
                let Some(id) = record["id"].as_str().map(str::to_owned) else {
                    continue;
                };
                // Templates address the record as HubSpot returns it
                // (`properties.email`).
                let fields = record.as_object().cloned().unwrap_or_default();
                let data = match &template {
                    None => Value::Object(fields),
                    Some(template) => {
                        let (mapped, errors) = transform(&template.definition.fields, &fields);
                        if errors.is_empty() {
                            Value::Object(mapped)
                        } else {
                            failed += 1;
                            if failures.len() < LISTED_FAILURES {
                                let errors: Vec<Value> = errors
                                    .iter()
                                    .map(|e| json!({"field": e.target_field, "reason": e.reason, "message": e.message}))
                                    .collect();
                                failures.push(
                                    json!({"entity": entity, "external_id": id, "errors": errors}),
                                );
                            }
                            continue;
                        }
                    }
                };
                rows.push((id, data));
            }
            if !rows.is_empty() {
                let client = effects.pool.get().await.map_err(StoreError::from)?;
                store::records::upsert(&client, &action.connection, entity, &rows).await?;
            }
            stored += rows.len();
            processed += rows.len();
            pages += 1;
            after = page["paging"]["next"]["after"].as_str().map(str::to_owned);
            let within = pages.min(9) * 10;
            let percent = (index * 100 + within) / entities.len().max(1);
            progress
                .report(
                    i32::try_from(percent).unwrap_or(99).min(99),
                    &format!("{entity}: {stored} records"),
                )
                .await?;
            if after.is_none() {
                break;
            }
        }
        per_entity.insert(entity.clone(), json!(stored));
    }
    Ok(object(json!({
        "processed": processed,
        "failed": failed,
        "failures": failures,
        "entities": per_entity,
        "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })))
}
