//! SQL for the `integration_types` table.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, like_escape, query, query_one, query_opt};
use crate::{
    names::TypeId,
    registry::model::{Category, IntegrationType, TypeDefinition, TypeQuery},
};

const COLUMNS: &str = "id, display_name, category, description, capabilities, popular, active, \
                       builtin, spec, etag, create_time, update_time";

/// `$1` category, `$2` capability, `$3` LIKE pattern, `$4` popular only.
const FILTER: &str = "($1::text IS NULL OR category = $1) \
                      AND ($2::text IS NULL OR $2 = ANY (capabilities)) \
                      AND ($3::text IS NULL OR id ILIKE $3 OR display_name ILIKE $3 OR description ILIKE $3) \
                      AND (NOT $4 OR popular)";

fn from_row(row: &Row) -> Result<IntegrationType, StoreError> {
    let id: String = row.try_get("id")?;
    let category: String = row.try_get("category")?;
    let spec: serde_json::Value = row.try_get("spec")?;
    Ok(IntegrationType {
        definition: TypeDefinition {
            id: TypeId::parse(&id).map_err(|e| StoreError::corrupt("integration type id", e))?,
            display_name: row.try_get("display_name")?,
            category: Category::parse(&category).ok_or_else(|| {
                StoreError::corrupt("integration type category", category.clone())
            })?,
            description: row.try_get("description")?,
            capabilities: row.try_get("capabilities")?,
            popular: row.try_get("popular")?,
            active: row.try_get("active")?,
            spec: serde_json::from_value(spec)
                .map_err(|e| StoreError::corrupt("integration type spec", e))?,
        },
        builtin: row.try_get("builtin")?,
        etag: row.try_get("etag")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

fn spec_json(definition: &TypeDefinition) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(&definition.spec)
        .map_err(|e| StoreError::corrupt("integration type spec", e))
}

struct FilterParams {
    category: Option<&'static str>,
    capability: Option<String>,
    pattern: Option<String>,
    popular_only: bool,
}

impl FilterParams {
    fn new(q: &TypeQuery) -> Self {
        Self {
            category: q.category.map(Category::as_str),
            capability: q.capability.clone(),
            pattern: q.text.as_deref().map(|t| format!("%{}%", like_escape(t))),
            popular_only: q.popular_only,
        }
    }
}

pub async fn list(
    client: &impl GenericClient,
    q: &TypeQuery,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<IntegrationType>, StoreError> {
    let p = FilterParams::new(q);
    let sql = format!(
        "SELECT {COLUMNS} FROM integration_types WHERE {FILTER} \
         AND ($5::text IS NULL OR id > $5) ORDER BY id LIMIT $6"
    );
    let rows = query(
        client,
        &sql,
        &[
            &p.category,
            &p.capability,
            &p.pattern,
            &p.popular_only,
            &after,
            &limit,
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn count(client: &impl GenericClient, q: &TypeQuery) -> Result<i64, StoreError> {
    let p = FilterParams::new(q);
    let sql = format!("SELECT count(*) FROM integration_types WHERE {FILTER}");
    let row = query_one(
        client,
        &sql,
        &[&p.category, &p.capability, &p.pattern, &p.popular_only],
    )
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn get(
    client: &impl GenericClient,
    id: &TypeId,
) -> Result<Option<IntegrationType>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM integration_types WHERE id = $1");
    query_opt(client, &sql, &[&id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Locks the row for an update in the caller's transaction.
pub async fn get_for_update(
    client: &impl GenericClient,
    id: &TypeId,
) -> Result<Option<IntegrationType>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM integration_types WHERE id = $1 FOR UPDATE");
    query_opt(client, &sql, &[&id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The type created by `request_id`, with the digest of that request.
pub async fn by_request(
    client: &impl GenericClient,
    request_id: Uuid,
) -> Result<Option<(IntegrationType, Vec<u8>)>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS}, request_hash FROM integration_types WHERE request_id = $1");
    match query_opt(client, &sql, &[&request_id]).await? {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("request_hash")?))),
        None => Ok(None),
    }
}

/// Inserts a type; `None` when its id (or request id) is taken.
pub async fn insert(
    client: &impl GenericClient,
    definition: &TypeDefinition,
    etag: &str,
    request: Option<(Uuid, &[u8])>,
) -> Result<Option<IntegrationType>, StoreError> {
    let d = definition;
    let sql = format!(
        "INSERT INTO integration_types \
         (id, display_name, category, description, capabilities, popular, active, builtin, spec, etag, request_id, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9, $10, $11) \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let row = query_opt(
        client,
        &sql,
        &[
            &d.id.as_str(),
            &d.display_name,
            &d.category.as_str(),
            &d.description,
            &d.capabilities,
            &d.popular,
            &d.active,
            &spec_json(d)?,
            &etag,
            &request.map(|(id, _)| id),
            &request.map(|(_, hash)| hash),
        ],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn update(
    client: &impl GenericClient,
    definition: &TypeDefinition,
    etag: &str,
) -> Result<IntegrationType, StoreError> {
    let d = definition;
    let sql = format!(
        "UPDATE integration_types SET display_name = $2, category = $3, description = $4, \
         capabilities = $5, popular = $6, active = $7, spec = $8, etag = $9, update_time = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = query_one(
        client,
        &sql,
        &[
            &d.id.as_str(),
            &d.display_name,
            &d.category.as_str(),
            &d.description,
            &d.capabilities,
            &d.popular,
            &d.active,
            &spec_json(d)?,
            &etag,
        ],
    )
    .await?;
    from_row(&row)
}

/// Active types per category, and the number of all types.
pub async fn category_counts(
    client: &impl GenericClient,
) -> Result<(Vec<(Category, i64)>, i64), StoreError> {
    let rows = query(
        client,
        "SELECT category, count(*) FILTER (WHERE active) AS active, count(*) AS total \
         FROM integration_types GROUP BY category ORDER BY category",
        &[],
    )
    .await?;
    let mut counts = Vec::new();
    let mut total = 0;
    for row in rows {
        let category: String = row.try_get("category")?;
        let category = Category::parse(&category)
            .ok_or_else(|| StoreError::corrupt("integration type category", category.clone()))?;
        counts.push((category, row.try_get::<_, i64>("active")?));
        total += row.try_get::<_, i64>("total")?;
    }
    Ok((counts, total))
}
