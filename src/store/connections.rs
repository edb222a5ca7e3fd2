//! SQL for the `connections` table: everything but the sealed secrets,
//! which `connection_secrets` handles.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, query, query_one, query_opt};
use crate::{
    crypto::Sealed,
    names::{ConnectionName, ProjectId, ResourceId, TypeId},
    registry::model::{Connection, ConnectionState},
};

pub(super) const COLUMNS: &str = "project, id, type_id, display_name, settings, state, \
                       credentials_fingerprint, credentials_expire_time, webhook_key, \
                       webhook_secret_fingerprint, last_webhook_time, etag, create_time, update_time";

pub(super) fn from_row(row: &Row) -> Result<Connection, StoreError> {
    let project: String = row.try_get("project")?;
    let id: String = row.try_get("id")?;
    let type_id: String = row.try_get("type_id")?;
    let state: String = row.try_get("state")?;
    let settings: serde_json::Value = row.try_get("settings")?;
    let serde_json::Value::Object(settings) = settings else {
        return Err(StoreError::corrupt("connection settings", "not an object"));
    };
    Ok(Connection {
        name: ConnectionName {
            project: ProjectId::parse(&project)
                .map_err(|e| StoreError::corrupt("connection project", e))?,
            id: ResourceId::parse("connection", &id)
                .map_err(|e| StoreError::corrupt("connection id", e))?,
        },
        type_id: TypeId::parse(&type_id).map_err(|e| StoreError::corrupt("connection type", e))?,
        display_name: row.try_get("display_name")?,
        settings,
        state: ConnectionState::parse(&state)
            .ok_or_else(|| StoreError::corrupt("connection state", state.clone()))?,
        credentials_fingerprint: row.try_get("credentials_fingerprint")?,
        credentials_expire_time: row.try_get("credentials_expire_time")?,
        webhook_key: row.try_get("webhook_key")?,
        webhook_secret_fingerprint: row.try_get("webhook_secret_fingerprint")?,
        last_webhook_time: row.try_get("last_webhook_time")?,
        etag: row.try_get("etag")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

/// Everything a new row holds.
pub struct NewConnection<'a> {
    pub name: &'a ConnectionName,
    pub type_id: &'a TypeId,
    pub display_name: &'a str,
    pub settings: &'a serde_json::Map<String, serde_json::Value>,
    pub state: ConnectionState,
    pub webhook_key: &'a str,
    pub webhook_secret: &'a Sealed,
    pub webhook_secret_fingerprint: &'a str,
    pub etag: &'a str,
    pub request: Option<(Uuid, &'a [u8])>,
}

/// Inserts a connection; `None` when its name, key or request id is taken.
pub async fn insert(
    client: &impl GenericClient,
    c: &NewConnection<'_>,
) -> Result<Option<Connection>, StoreError> {
    let sql = format!(
        "INSERT INTO connections (project, id, type_id, display_name, settings, state, webhook_key, \
         webhook_secret, webhook_secret_key_id, webhook_secret_fingerprint, etag, request_id, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let settings = serde_json::Value::Object(c.settings.clone());
    let row = query_opt(
        client,
        &sql,
        &[
            &c.name.project.as_str(),
            &c.name.id.as_str(),
            &c.type_id.as_str(),
            &c.display_name,
            &settings,
            &c.state.as_str(),
            &c.webhook_key,
            &c.webhook_secret.bytes,
            &c.webhook_secret.key_id,
            &c.webhook_secret_fingerprint,
            &c.etag,
            &c.request.map(|(id, _)| id),
            &c.request.map(|(_, hash)| hash),
        ],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The connection created by `request_id` in `project`, with that request's digest.
pub async fn by_request(
    client: &impl GenericClient,
    project: &ProjectId,
    request_id: Uuid,
) -> Result<Option<(Connection, Vec<u8>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, request_hash FROM connections WHERE project = $1 AND request_id = $2"
    );
    match query_opt(client, &sql, &[&project.as_str(), &request_id]).await? {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("request_hash")?))),
        None => Ok(None),
    }
}

pub async fn get(
    client: &impl GenericClient,
    name: &ConnectionName,
) -> Result<Option<Connection>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM connections WHERE project = $1 AND id = $2");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Locks the row in the caller's transaction.
pub async fn get_for_update(
    client: &impl GenericClient,
    name: &ConnectionName,
) -> Result<Option<Connection>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM connections WHERE project = $1 AND id = $2 FOR UPDATE");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// `$1` project, `$2` type, `$3` state.
const FILTER: &str = "project = $1 AND ($2::text IS NULL OR type_id = $2) \
                      AND ($3::text IS NULL OR state = $3)";

pub async fn list(
    client: &impl GenericClient,
    project: &ProjectId,
    type_id: Option<&TypeId>,
    state: Option<ConnectionState>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Connection>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM connections WHERE {FILTER} \
         AND ($4::text IS NULL OR id > $4) ORDER BY id LIMIT $5"
    );
    let rows = query(
        client,
        &sql,
        &[
            &project.as_str(),
            &type_id.map(TypeId::as_str),
            &state.map(ConnectionState::as_str),
            &after,
            &limit,
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn count(
    client: &impl GenericClient,
    project: &ProjectId,
    type_id: Option<&TypeId>,
    state: Option<ConnectionState>,
) -> Result<i64, StoreError> {
    let sql = format!("SELECT count(*) FROM connections WHERE {FILTER}");
    let row = query_one(
        client,
        &sql,
        &[
            &project.as_str(),
            &type_id.map(TypeId::as_str),
            &state.map(ConnectionState::as_str),
        ],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the mutable, non-secret fields.
pub async fn update(
    client: &impl GenericClient,
    c: &Connection,
    etag: &str,
) -> Result<Connection, StoreError> {
    let sql = format!(
        "UPDATE connections SET display_name = $3, settings = $4, state = $5, etag = $6, \
         update_time = now() WHERE project = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let settings = serde_json::Value::Object(c.settings.clone());
    let row = query_one(
        client,
        &sql,
        &[
            &c.name.project.as_str(),
            &c.name.id.as_str(),
            &c.display_name,
            &settings,
            &c.state.as_str(),
            &etag,
        ],
    )
    .await?;
    from_row(&row)
}

pub async fn delete(client: &impl GenericClient, name: &ConnectionName) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM connections WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await
}

/// Connections per type and state, in `projects` (all projects when `None`).
pub async fn state_counts(
    client: &impl GenericClient,
    projects: Option<&[String]>,
) -> Result<Vec<(TypeId, ConnectionState, i64)>, StoreError> {
    let rows = query(
        client,
        "SELECT type_id, state, count(*) FROM connections \
         WHERE $1::text[] IS NULL OR project = ANY ($1) \
         GROUP BY type_id, state ORDER BY type_id, state",
        &[&projects],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let type_id: String = row.try_get(0)?;
            let state: String = row.try_get(1)?;
            Ok((
                TypeId::parse(&type_id).map_err(|e| StoreError::corrupt("connection type", e))?,
                ConnectionState::parse(&state)
                    .ok_or_else(|| StoreError::corrupt("connection state", state.clone()))?,
                row.try_get(2)?,
            ))
        })
        .collect()
}

/// Sets a connection's state alone (reconnect).
pub async fn set_state(
    client: &impl GenericClient,
    name: &ConnectionName,
    state: ConnectionState,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE connections SET state = $3, etag = $4, update_time = now() \
         WHERE project = $1 AND id = $2",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &state.as_str(),
            &crate::etag::new_etag(),
        ],
    )
    .await?;
    Ok(())
}

/// Drops the credentials and marks the connection revoked (disconnect).
pub async fn revoke(client: &impl GenericClient, name: &ConnectionName) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE connections SET state = 'revoked', credentials = NULL, credentials_key_id = NULL, \
         credentials_fingerprint = NULL, credentials_expire_time = NULL, \
         etag = $3, update_time = now() WHERE project = $1 AND id = $2",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &crate::etag::new_etag(),
        ],
    )
    .await?;
    Ok(())
}
