//! SQL for `alert_announcements`: alert changes queued by the transaction
//! that made them, moved into the event log by whichever replica gets there
//! first (see the migration for why they wait).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;

use super::{
    StoreError, execute, query, query_one,
    status::{EVENTS_CHANNEL, lock_events},
};
use crate::{names::ProjectId, status::events::EventPayload};

/// Queues `payload` for `project`'s watch stream, in the caller's
/// transaction.
pub async fn queue(
    client: &impl GenericClient,
    project: &ProjectId,
    payload: &EventPayload,
) -> Result<(), StoreError> {
    execute(
        client,
        "INSERT INTO alert_announcements (project, kind, payload) VALUES ($1, $2, $3)",
        &[&project.as_str(), &payload.kind(), &Json(payload)],
    )
    .await?;
    Ok(())
}

/// Whether anything waits; read without a lock, so an idle poll costs one
/// index probe and never touches the event log's lock.
pub async fn any_waiting(client: &impl GenericClient) -> Result<bool, StoreError> {
    Ok(query_one(
        client,
        "SELECT EXISTS (SELECT 1 FROM alert_announcements)",
        &[],
    )
    .await?
    .try_get(0)?)
}

/// Moves up to `limit` queued announcements into the event log, oldest
/// first, in the caller's transaction; rows another replica is moving are
/// skipped. Returns how many moved.
pub async fn log_waiting(client: &impl GenericClient, limit: i64) -> Result<u64, StoreError> {
    lock_events(client).await?;
    let moved = execute(
        client,
        "WITH taken AS ( \
             DELETE FROM alert_announcements WHERE id IN ( \
                 SELECT id FROM alert_announcements ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, project, kind, payload) \
         INSERT INTO status_events (project, kind, payload) \
         SELECT project, kind, payload FROM taken ORDER BY id",
        &[&limit],
    )
    .await?;
    if moved > 0 {
        query(client, "SELECT pg_notify($1, '')", &[&EVENTS_CHANNEL]).await?;
    }
    Ok(moved)
}
