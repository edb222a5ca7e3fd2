//! Sync: pulls a provider's records page by page (its `SyncSource`),
//! maps each through the project's default template for its entity (when
//! there is one), and upserts them into `records`. Re-running is safe:
//! upserts are keyed by (connection, entity, external id).

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::{
    effects::{Effects, Target},
    model::Action,
    progress::Progress,
};
use crate::{
    error::{ApiError, ErrorCode},
    providers::{EffectError, object},
    registry::transform::transform,
    store::{self, StoreError},
};

/// Failures listed in the result (all are counted).
const LISTED_FAILURES: usize = 100;

pub async fn run(
    effects: &Effects,
    target: &Target,
    action: &Action,
    progress: &Progress,
) -> Result<Map<String, Value>, EffectError> {
    let unsupported = || {
        EffectError::permanent(ApiError::new(
            ErrorCode::Unimplemented,
            "SYNC_NOT_SUPPORTED",
            format!(
                "sync is not available for {} connections",
                target.connection.type_id
            ),
        ))
    };
    let call = target.call(&effects.http);
    let source = target
        .provider
        .and_then(|p| p.sync_source(&call))
        .ok_or_else(unsupported)??;
    let entities: Vec<String> = match action.params.get("entities").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        None => source.default_entities()?,
    };
    let started = Instant::now();
    let mut processed = 0usize;
    let mut failures: Vec<Value> = Vec::new();
    let mut failed = 0usize;
    let mut per_entity = Map::new();
    for (index, entity) in entities.iter().enumerate() {
        if entity.is_empty()
            || entity.len() > 64
            || !entity
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
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
        let mut cursor: Option<String> = None;
        let mut pages = 0usize;
        let mut stored = 0usize;
        loop {
            let page = source.page(&call, entity, cursor.as_deref()).await?;
            let mut rows = Vec::with_capacity(page.records.len());
            for (id, record) in page.records {
                let data = match (&template, record) {
                    (None, record) => record,
                    (Some(template), Value::Object(fields)) => {
                        let (mapped, errors) = transform(&template.definition.fields, &fields);
                        if !errors.is_empty() {
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
                        Value::Object(mapped)
                    }
                    (Some(_), other) => other,
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
            let within = pages.min(9) * 10;
            let percent = (index * 100 + within) / entities.len().max(1);
            progress
                .report(
                    i32::try_from(percent).unwrap_or(99).min(99),
                    &format!("{entity}: {stored} records"),
                )
                .await?;
            match page.next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => break,
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
