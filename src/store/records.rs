//! SQL for `records`: what sync pulls, one row per provider record.

use deadpool_postgres::GenericClient;

use super::{StoreError, execute};
use crate::names::ConnectionName;

/// Inserts or replaces a page of `(external id, data)` records of `entity`.
pub async fn upsert(
    client: &impl GenericClient,
    connection: &ConnectionName,
    entity: &str,
    records: &[(String, serde_json::Value)],
) -> Result<u64, StoreError> {
    let ids: Vec<&str> = records.iter().map(|(id, _)| id.as_str()).collect();
    let data: Vec<&serde_json::Value> = records.iter().map(|(_, d)| d).collect();
    execute(
        client,
        "INSERT INTO records (project, connection_id, entity, external_id, data) \
         SELECT $1, $2, $3, r.id, r.data FROM unnest($4::text[], $5::jsonb[]) AS r (id, data) \
         ON CONFLICT (project, connection_id, entity, external_id) \
         DO UPDATE SET data = EXCLUDED.data, update_time = now()",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &entity,
            &ids,
            &data,
        ],
    )
    .await
}
