//! SQL for `actions` as the service uses it: starting (idempotency and the
//! rate limit's count), reading, listing and cancelling. The workers' side
//! of the queue is in `action_queue`.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, query, query_one, query_opt};
use crate::{
    actions::model::{Action, ActionState},
    names::{ActionName, ConnectionName, ProjectId, ResourceId},
};

pub(super) const COLUMNS: &str = "project, id, connection_id, action, state, params, result, error, \
    progress_percent, progress_message, attempts, max_attempts, requested_by, request_id, \
    request_hash, cancel_requested, create_time, start_time, update_time, end_time, \
    effect_started_attempt, unconfirmed_repeats, cause_chain";

pub(super) fn from_row(row: &Row) -> Result<Action, StoreError> {
    let project: String = row.try_get("project")?;
    let id: String = row.try_get("id")?;
    let connection: String = row.try_get("connection_id")?;
    let state: String = row.try_get("state")?;
    let project =
        ProjectId::parse(&project).map_err(|e| StoreError::corrupt("action project", e))?;
    let params: serde_json::Value = row.try_get("params")?;
    let result: Option<serde_json::Value> = row.try_get("result")?;
    Ok(Action {
        name: ActionName {
            project: project.clone(),
            id: ResourceId::parse("action", &id)
                .map_err(|e| StoreError::corrupt("action id", e))?,
        },
        connection: ConnectionName {
            project,
            id: ResourceId::parse("connection", &connection)
                .map_err(|e| StoreError::corrupt("action connection", e))?,
        },
        action: row.try_get("action")?,
        state: ActionState::parse(&state)
            .ok_or_else(|| StoreError::corrupt("action state", state.clone()))?,
        params: match params {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
        result: match result {
            Some(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        },
        error: row.try_get("error")?,
        progress_percent: row.try_get("progress_percent")?,
        progress_message: row.try_get("progress_message")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        requested_by: row.try_get("requested_by")?,
        request_id: row.try_get("request_id")?,
        request_hash: row.try_get("request_hash")?,
        cancel_requested: row.try_get("cancel_requested")?,
        create_time: row.try_get("create_time")?,
        start_time: row.try_get("start_time")?,
        update_time: row.try_get("update_time")?,
        end_time: row.try_get("end_time")?,
        effect_started_attempt: row.try_get("effect_started_attempt")?,
        unconfirmed_repeats: row.try_get("unconfirmed_repeats")?,
        cause_chain: row.try_get("cause_chain")?,
    })
}

/// Serializes StartAction per (project, caller) across replicas, so the
/// rate limit's count-then-insert cannot race. Hold inside a transaction.
pub async fn lock_caller(
    client: &impl GenericClient,
    project: &ProjectId,
    subject: &str,
) -> Result<(), StoreError> {
    query(
        client,
        "SELECT pg_advisory_xact_lock(7302, hashtext($1 || '/' || $2))",
        &[&project.as_str(), &subject],
    )
    .await?;
    Ok(())
}

pub async fn by_request(
    client: &impl GenericClient,
    project: &ProjectId,
    request_id: Uuid,
) -> Result<Option<Action>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM actions WHERE project = $1 AND request_id = $2");
    query_opt(client, &sql, &[&project.as_str(), &request_id])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// How many actions `subject` started in `project` within `window`, and
/// when the oldest of them leaves it (seconds from now).
pub async fn recent_starts(
    client: &impl GenericClient,
    project: &ProjectId,
    subject: &str,
    window: Duration,
) -> Result<(i64, f64), StoreError> {
    let row = query_one(
        client,
        "SELECT count(*), coalesce(extract(epoch FROM min(create_time) + $3 * interval '1 second' - now()), 0)::float8 \
         FROM actions WHERE project = $1 AND requested_by = $2 \
         AND create_time > now() - $3 * interval '1 second'",
        &[&project.as_str(), &subject, &window.as_secs_f64()],
    )
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

pub struct NewAction<'a> {
    pub name: &'a ActionName,
    pub connection: &'a ConnectionName,
    pub action: &'a str,
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    pub max_attempts: i32,
    pub requested_by: &'a str,
    pub request_id: Uuid,
    pub request_hash: &'a [u8],
    pub cause_chain: &'a [String],
}

pub async fn insert(client: &impl GenericClient, a: &NewAction<'_>) -> Result<Action, StoreError> {
    let sql = format!(
        "INSERT INTO actions (project, id, connection_id, action, state, params, max_attempts, \
         requested_by, request_id, request_hash, cause_chain) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    );
    let row = query_one(
        client,
        &sql,
        &[
            &a.name.project.as_str(),
            &a.name.id.as_str(),
            &a.connection.id.as_str(),
            &a.action,
            &serde_json::Value::Object(a.params.clone()),
            &a.max_attempts,
            &a.requested_by,
            &a.request_id,
            &a.request_hash,
            &a.cause_chain,
        ],
    )
    .await?;
    from_row(&row)
}

/// Asks an action to stop, as `cancel` does, unless another transaction
/// holds its row (its worker is finishing it): then nothing, and no wait,
/// so callers holding other rows never wait on a worker.
pub async fn cancel_unless_busy(
    client: &impl GenericClient,
    name: &ActionName,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE actions SET \
         state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END, \
         end_time = CASE WHEN state = 'pending' THEN now() ELSE end_time END, \
         progress_message = CASE WHEN state = 'pending' THEN 'cancelled' ELSE progress_message END, \
         cancel_requested = true, update_time = now() \
         WHERE (project, id) IN (SELECT project, id FROM actions WHERE project = $1 AND id = $2 \
           AND state IN ('pending', 'running') FOR UPDATE SKIP LOCKED)",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?;
    Ok(())
}

pub async fn get(
    client: &impl GenericClient,
    name: &ActionName,
) -> Result<Option<Action>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM actions WHERE project = $1 AND id = $2");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn get_for_update(
    client: &impl GenericClient,
    name: &ActionName,
) -> Result<Option<Action>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM actions WHERE project = $1 AND id = $2 FOR UPDATE");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A page of a project's actions, newest first, after the `(create_time,
/// id)` key `after` ("{micros}/{id}").
pub async fn list(
    client: &impl GenericClient,
    project: &ProjectId,
    connection: Option<&str>,
    state: Option<ActionState>,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Action>, StoreError> {
    let (after_micros, after_id) = after.unzip();
    let sql = format!(
        "SELECT {COLUMNS} FROM actions WHERE project = $1 \
         AND ($2::text IS NULL OR connection_id = $2) AND ($3::text IS NULL OR state = $3) \
         AND ($4::bigint IS NULL OR (create_time, id) < (to_timestamp($4::bigint / 1e6), $5)) \
         ORDER BY create_time DESC, id DESC LIMIT $6"
    );
    let rows = query(
        client,
        &sql,
        &[
            &project.as_str(),
            &connection,
            &state.map(ActionState::as_str),
            &after_micros,
            &after_id,
            &limit,
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Cancels a pending action at once, or asks its worker to stop a running
/// one. Returns the action after the change.
pub async fn cancel(
    client: &impl GenericClient,
    name: &ActionName,
) -> Result<Option<Action>, StoreError> {
    let sql = format!(
        "UPDATE actions SET \
         state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END, \
         end_time = CASE WHEN state = 'pending' THEN now() ELSE end_time END, \
         progress_message = CASE WHEN state = 'pending' THEN 'cancelled' ELSE progress_message END, \
         cancel_requested = true, update_time = now() \
         WHERE project = $1 AND id = $2 AND state IN ('pending', 'running') RETURNING {COLUMNS}"
    );
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}
