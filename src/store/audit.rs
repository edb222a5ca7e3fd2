//! The audit log's tables: `audit_chains` (each project's chain head) and
//! `audit_events` (append-only; see migration 0014).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::{Row, types::ToSql};

use super::{StoreError, execute, query, query_one, query_opt};
use crate::audit::model::{
    AuditCursor, AuditEvent, AuditQuery, AuditScope, ChainHead, FieldChange,
};

const COLUMNS: &str = "project, seq, id, time, actor, method, resource, request_id, peer, \
     user_agent, outcome, changes, prev_hash, hash";

fn from_row(row: &Row) -> Result<AuditEvent, StoreError> {
    let changes: serde_json::Value = row.try_get("changes")?;
    Ok(AuditEvent {
        project: row.try_get("project")?,
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        time: row.try_get("time")?,
        actor: row.try_get("actor")?,
        method: row.try_get("method")?,
        resource: row.try_get("resource")?,
        request_id: row.try_get("request_id")?,
        peer: row.try_get("peer")?,
        user_agent: row.try_get("user_agent")?,
        outcome: row.try_get("outcome")?,
        changes: serde_json::from_value::<Vec<FieldChange>>(changes)
            .map_err(|e| StoreError::corrupt("audit entry changes", e))?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

fn head_from_row(row: &Row) -> Result<ChainHead, StoreError> {
    Ok(ChainHead {
        last_seq: row.try_get("last_seq")?,
        last_hash: row.try_get("last_hash")?,
        anchor_seq: row.try_get("anchor_seq")?,
        anchor_hash: row.try_get("anchor_hash")?,
    })
}

/// Locks `project`'s chain head in the caller's transaction, creating it
/// at `genesis` on the project's first entry.
pub async fn lock_chain(
    client: &impl GenericClient,
    project: &str,
    genesis: &[u8],
) -> Result<ChainHead, StoreError> {
    execute(
        client,
        "INSERT INTO audit_chains (project, last_hash, anchor_hash) VALUES ($1, $2, $2) \
         ON CONFLICT DO NOTHING",
        &[&project, &genesis],
    )
    .await?;
    let row = query_one(
        client,
        "SELECT last_seq, last_hash, anchor_seq, anchor_hash FROM audit_chains \
         WHERE project = $1 FOR UPDATE",
        &[&project],
    )
    .await?;
    head_from_row(&row)
}

/// Appends `event` and moves its chain's head to it; the chain must be
/// locked by [`lock_chain`] in the same transaction.
pub async fn append(client: &impl GenericClient, event: &AuditEvent) -> Result<(), StoreError> {
    let changes = serde_json::to_value(&event.changes)
        .map_err(|e| StoreError::corrupt("audit entry changes", e))?;
    execute(
        client,
        &format!(
            "INSERT INTO audit_events ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        &[
            &event.project,
            &event.seq,
            &event.id,
            &event.time,
            &event.actor,
            &event.method,
            &event.resource,
            &event.request_id,
            &event.peer,
            &event.user_agent,
            &event.outcome,
            &changes,
            &event.prev_hash,
            &event.hash,
        ],
    )
    .await?;
    execute(
        client,
        "UPDATE audit_chains SET last_seq = $2, last_hash = $3 WHERE project = $1",
        &[&event.project, &event.seq, &event.hash],
    )
    .await?;
    Ok(())
}

/// A project's chain head; `None` before its first entry.
pub async fn chain(
    client: &impl GenericClient,
    project: &str,
) -> Result<Option<ChainHead>, StoreError> {
    query_opt(
        client,
        "SELECT last_seq, last_hash, anchor_seq, anchor_hash FROM audit_chains WHERE project = $1",
        &[&project],
    )
    .await?
    .as_ref()
    .map(head_from_row)
    .transpose()
}

/// Up to `limit` of `project`'s entries from `from_seq` on, in seq order.
pub async fn page(
    client: &impl GenericClient,
    project: &str,
    from_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    query(
        client,
        &format!(
            "SELECT {COLUMNS} FROM audit_events WHERE project = $1 AND seq >= $2 \
             ORDER BY seq LIMIT $3"
        ),
        &[&project, &from_seq, &limit],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Up to `limit` entries in `scope` matching `q`, newest first, after
/// `cursor`: by seq within a project (its primary key), by time and id
/// across them.
pub async fn list(
    client: &impl GenericClient,
    scope: &AuditScope,
    q: &AuditQuery,
    cursor: Option<&AuditCursor>,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    const FILTERS: &str = "($1::text IS NULL OR actor = $1) \
        AND ($2::text IS NULL OR resource = $2) \
        AND ($3::text IS NULL OR method = $3) \
        AND ($4::timestamptz IS NULL OR time > $4) \
        AND ($5::timestamptz IS NULL OR time < $5)";
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &q.actor,
        &q.resource,
        &q.method,
        &q.time_after,
        &q.time_before,
    ];
    let (after_seq, after_time, after_id) = match cursor {
        None => (None, None, None),
        Some(AuditCursor::Seq(seq)) => (Some(*seq), None, None),
        Some(AuditCursor::TimeId(time, id)) => (None, Some(*time), Some(*id)),
    };
    let project = match scope {
        AuditScope::Project(p) => p.as_str(),
        AuditScope::All => "",
    };
    let sql = match scope {
        AuditScope::Project(_) => {
            params.extend::<[&(dyn ToSql + Sync); 3]>([&project, &after_seq, &limit]);
            format!(
                "SELECT {COLUMNS} FROM audit_events \
                 WHERE project = $6 AND ($7::bigint IS NULL OR seq < $7) AND {FILTERS} \
                 ORDER BY seq DESC LIMIT $8"
            )
        }
        AuditScope::All => {
            params.extend::<[&(dyn ToSql + Sync); 3]>([&after_time, &after_id, &limit]);
            format!(
                "SELECT {COLUMNS} FROM audit_events \
                 WHERE ($6::timestamptz IS NULL OR (time, id) < ($6, $7)) AND {FILTERS} \
                 ORDER BY time DESC, id DESC LIMIT $8"
            )
        }
    };
    query(client, &sql, &params)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Every chain's project, in order (`""`, the platform's, first).
pub async fn chain_projects(client: &impl GenericClient) -> Result<Vec<String>, StoreError> {
    query(
        client,
        "SELECT project FROM audit_chains ORDER BY project",
        &[],
    )
    .await?
    .iter()
    .map(|row| row.try_get(0).map_err(StoreError::from))
    .collect()
}

/// The projects whose chains hold entries written before `cutoff`.
pub async fn chains_older_than(
    client: &impl GenericClient,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    query(
        client,
        "SELECT DISTINCT project FROM audit_events WHERE time < $1 ORDER BY project",
        &[&cutoff],
    )
    .await?
    .iter()
    .map(|row| row.try_get(0).map_err(StoreError::from))
    .collect()
}

/// The `limit` oldest entries of `project` after `after_seq`: seq, time
/// and hash, in seq order.
pub async fn oldest(
    client: &impl GenericClient,
    project: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<(i64, DateTime<Utc>, Vec<u8>)>, StoreError> {
    query(
        client,
        "SELECT seq, time, hash FROM audit_events WHERE project = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3",
        &[&project, &after_seq, &limit],
    )
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
    .collect()
}

/// Deletes `project`'s entries up to `through_seq` and moves the chain's
/// anchor to that entry's `hash`; in the transaction holding the chain's
/// lock. Returns how many entries went.
pub async fn purge_through(
    client: &impl GenericClient,
    project: &str,
    through_seq: i64,
    hash: &[u8],
) -> Result<u64, StoreError> {
    // The append-only trigger lets this transaction's deletes through.
    client
        .batch_execute("SET LOCAL patchbay.audit_purge = 'on'")
        .await?;
    let purged = execute(
        client,
        "DELETE FROM audit_events WHERE project = $1 AND seq <= $2",
        &[&project, &through_seq],
    )
    .await?;
    client
        .batch_execute("SET LOCAL patchbay.audit_purge = 'off'")
        .await?;
    execute(
        client,
        "UPDATE audit_chains SET anchor_seq = $2, anchor_hash = $3 WHERE project = $1",
        &[&project, &through_seq, &hash],
    )
    .await?;
    Ok(purged)
}
