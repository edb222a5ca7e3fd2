//! SQL for `connection_status` (the latest item per connection, its circuit
//! and probe lease) and `status_events` (the log watchers follow).

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, query, query_one};
use crate::{
    names::{ConnectionName, ProjectId, TypeId},
    status::{
        events::{EventPayload, StoredEvent},
        model::{self, Circuit, ItemStatus},
    },
};

/// Every event writer holds this transaction-scoped advisory lock while it
/// inserts, so `seq` order is commit order: a reader that has seen seq N has
/// seen every event below N.
const EVENT_LOCK: i64 = 7301;

fn json<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::corrupt(what, e))
}

fn item_from(value: serde_json::Value) -> Result<ItemStatus, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::corrupt("status item", e))
}

fn circuit_from(s: &str) -> Result<Circuit, StoreError> {
    match s {
        "closed" => Ok(Circuit::Closed),
        "open" => Ok(Circuit::Open),
        "half_open" => Ok(Circuit::HalfOpen),
        other => Err(StoreError::corrupt("circuit state", other.to_owned())),
    }
}

pub fn circuit_str(c: Circuit) -> &'static str {
    match c {
        Circuit::Closed => "closed",
        Circuit::Open => "open",
        Circuit::HalfOpen => "half_open",
    }
}

/// Every item and the log head they are consistent with.
pub async fn load_all(
    client: &mut deadpool_postgres::Client,
) -> Result<(Vec<ItemStatus>, i64), StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let rows = query(&tx, "SELECT item FROM connection_status", &[]).await?;
    let head: i64 = query_one(&tx, "SELECT coalesce(max(seq), 0) FROM status_events", &[])
        .await?
        .try_get(0)?;
    tx.commit().await?;
    let items = rows
        .into_iter()
        .map(|row| item_from(row.try_get(0)?))
        .collect::<Result<_, _>>()?;
    Ok((items, head))
}

async fn lock_events(client: &impl GenericClient) -> Result<(), StoreError> {
    query(client, "SELECT pg_advisory_xact_lock($1)", &[&EVENT_LOCK]).await?;
    Ok(())
}

/// The project's overall level and hash, from the rows this transaction sees.
async fn project_summary(
    client: &impl GenericClient,
    project: &ProjectId,
) -> Result<(model::Level, String), StoreError> {
    let rows = query(
        client,
        "SELECT item FROM connection_status WHERE project = $1 ORDER BY id",
        &[&project.as_str()],
    )
    .await?;
    let items = rows
        .into_iter()
        .map(|row| item_from(row.try_get(0)?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((model::overall(&items), model::content_hash(&items)))
}

async fn insert_event(
    client: &impl GenericClient,
    project: &ProjectId,
    payload: &EventPayload,
) -> Result<i64, StoreError> {
    let row = query_one(
        client,
        "INSERT INTO status_events (project, kind, payload) VALUES ($1, $2, $3) RETURNING seq",
        &[
            &project.as_str(),
            &payload.kind(),
            &json(payload, "status event")?,
        ],
    )
    .await?;
    // Delivered at commit; PostgreSQL folds repeats within one transaction.
    query(
        client,
        "SELECT pg_notify($1, '')",
        &[&crate::status::bus::CHANNEL],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Sets a connection's item (creating its row) and logs `item_changed`.
/// `reschedule` makes it due for a probe now. Call inside a transaction.
pub async fn record_item(
    client: &impl GenericClient,
    name: &ConnectionName,
    item: &ItemStatus,
    reschedule: bool,
) -> Result<i64, StoreError> {
    lock_events(client).await?;
    execute(
        client,
        "INSERT INTO connection_status (project, id, item) VALUES ($1, $2, $3) \
         ON CONFLICT (project, id) DO UPDATE SET item = EXCLUDED.item, \
         next_probe_at = CASE WHEN $4 THEN now() ELSE connection_status.next_probe_at END",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &json(item, "status item")?,
            &reschedule,
        ],
    )
    .await?;
    let (overall, hash) = project_summary(client, &name.project).await?;
    insert_event(
        client,
        &name.project,
        &EventPayload::ItemChanged {
            item: item.clone(),
            overall,
            hash,
        },
    )
    .await
}

/// Logs `item_removed` for a deleted connection. Call inside the
/// transaction that deletes it.
pub async fn record_removed(
    client: &impl GenericClient,
    name: &ConnectionName,
) -> Result<i64, StoreError> {
    lock_events(client).await?;
    execute(
        client,
        "DELETE FROM connection_status WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?;
    let (overall, hash) = project_summary(client, &name.project).await?;
    insert_event(
        client,
        &name.project,
        &EventPayload::ItemRemoved {
            connection: name.clone(),
            overall,
            hash,
        },
    )
    .await
}

/// Logs an event that changes no item (action progress, webhooks).
pub async fn append(
    client: &impl GenericClient,
    project: &ProjectId,
    payload: &EventPayload,
) -> Result<i64, StoreError> {
    lock_events(client).await?;
    insert_event(client, project, payload).await
}

fn event_from(row: &Row) -> Result<StoredEvent, StoreError> {
    let project: String = row.try_get("project")?;
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        project: ProjectId::parse(&project).map_err(|e| StoreError::corrupt("event project", e))?,
        payload: serde_json::from_value(row.try_get("payload")?)
            .map_err(|e| StoreError::corrupt("event payload", e))?,
    })
}

/// Events after `after`, in order, at most `limit`; one project's or all.
pub async fn events_after(
    client: &impl GenericClient,
    project: Option<&ProjectId>,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = query(
        client,
        "SELECT seq, project, payload FROM status_events \
         WHERE seq > $1 AND ($2::text IS NULL OR project = $2) ORDER BY seq LIMIT $3",
        &[&after, &project.map(ProjectId::as_str), &limit],
    )
    .await?;
    rows.iter().map(event_from).collect()
}

/// The oldest retained seq, and the head; `None` when the log is empty.
pub async fn bounds(client: &impl GenericClient) -> Result<(Option<i64>, i64), StoreError> {
    let row = query_one(
        client,
        "SELECT min(seq), coalesce(max(seq), 0) FROM status_events",
        &[],
    )
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Drops events older than `retention`, keeping the newest one so the head
/// survives; returns how many went.
pub async fn purge(client: &impl GenericClient, retention: Duration) -> Result<u64, StoreError> {
    let secs = retention.as_secs_f64();
    execute(
        client,
        "DELETE FROM status_events WHERE created_at < now() - $1 * interval '1 second' \
         AND seq < (SELECT max(seq) FROM status_events)",
        &[&secs],
    )
    .await
}

/// A connection a replica holds the probe lease of.
#[derive(Debug, Clone)]
pub struct ProbeJob {
    pub name: ConnectionName,
    pub type_id: TypeId,
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub item: ItemStatus,
    pub last_good: Option<ItemStatus>,
    pub consecutive_failures: i32,
    pub circuit: Circuit,
    pub circuit_opened_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str = "s.project, s.id, c.type_id, c.settings, s.item, s.last_good, \
                           s.consecutive_failures, s.circuit, s.circuit_opened_at";

fn job_from(row: &Row) -> Result<ProbeJob, StoreError> {
    let project: String = row.try_get("project")?;
    let id: String = row.try_get("id")?;
    let type_id: String = row.try_get("type_id")?;
    let serde_json::Value::Object(settings) = row.try_get("settings")? else {
        return Err(StoreError::corrupt("connection settings", "not an object"));
    };
    let last_good: Option<serde_json::Value> = row.try_get("last_good")?;
    let circuit: String = row.try_get("circuit")?;
    Ok(ProbeJob {
        name: ConnectionName::parse(&format!("projects/{project}/connections/{id}"))
            .map_err(|e| StoreError::corrupt("status row name", e))?,
        type_id: TypeId::parse(&type_id).map_err(|e| StoreError::corrupt("connection type", e))?,
        settings,
        item: item_from(row.try_get("item")?)?,
        last_good: last_good.map(item_from).transpose()?,
        consecutive_failures: row.try_get("consecutive_failures")?,
        circuit: circuit_from(&circuit)?,
        circuit_opened_at: row.try_get("circuit_opened_at")?,
    })
}

/// Takes the lease of up to `limit` active connections that are due.
pub async fn claim_due(
    client: &impl GenericClient,
    owner: Uuid,
    lease: Duration,
    limit: i64,
) -> Result<Vec<ProbeJob>, StoreError> {
    let sql = format!(
        "WITH due AS ( \
           SELECT s.project, s.id FROM connection_status s \
           JOIN connections c ON c.project = s.project AND c.id = s.id \
           WHERE c.state = 'active' AND s.next_probe_at <= now() \
             AND (s.lease_expires_at IS NULL OR s.lease_expires_at < now()) \
           ORDER BY s.next_probe_at LIMIT $3 FOR UPDATE OF s SKIP LOCKED) \
         UPDATE connection_status s SET lease_owner = $1, \
           lease_expires_at = now() + $2 * interval '1 second' \
         FROM due, connections c \
         WHERE s.project = due.project AND s.id = due.id AND c.project = s.project AND c.id = s.id \
         RETURNING {JOB_COLUMNS}"
    );
    let rows = query(client, &sql, &[&owner, &lease.as_secs_f64(), &limit]).await?;
    rows.iter().map(job_from).collect()
}

/// Takes one connection's lease now, due or not; `None` while another
/// replica holds it (or the connection is gone).
pub async fn claim_now(
    client: &impl GenericClient,
    name: &ConnectionName,
    owner: Uuid,
    lease: Duration,
) -> Result<Option<ProbeJob>, StoreError> {
    let sql = format!(
        "UPDATE connection_status s SET lease_owner = $3, \
           lease_expires_at = now() + $4 * interval '1 second' \
         FROM connections c \
         WHERE s.project = $1 AND s.id = $2 AND c.project = s.project AND c.id = s.id \
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at < now() OR s.lease_owner = $3) \
         RETURNING {JOB_COLUMNS}"
    );
    let row = super::query_opt(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &owner,
            &lease.as_secs_f64(),
        ],
    )
    .await?;
    row.as_ref().map(job_from).transpose()
}

/// What a finished probe writes.
pub struct ProbeRecord<'a> {
    pub item: &'a ItemStatus,
    pub last_good: Option<&'a ItemStatus>,
    pub consecutive_failures: i32,
    pub circuit: Circuit,
    pub circuit_opened_at: Option<DateTime<Utc>>,
    pub next_probe_at: DateTime<Utc>,
    /// Log `item_changed`: the item changed in a way watchers render.
    pub changed: bool,
}

/// Saves a probe's result and releases the lease, if `owner` still holds
/// it; `false` when the lease was lost (the result is dropped). Call inside
/// a transaction.
pub async fn finish_probe(
    client: &impl GenericClient,
    name: &ConnectionName,
    owner: Uuid,
    r: &ProbeRecord<'_>,
) -> Result<bool, StoreError> {
    let last_good = r.last_good.map(|g| json(g, "status item")).transpose()?;
    if r.changed {
        lock_events(client).await?;
    }
    let updated = execute(
        client,
        "UPDATE connection_status SET item = $4, last_good = coalesce($5, last_good), \
         consecutive_failures = $6, circuit = $7, circuit_opened_at = $8, next_probe_at = $9, \
         lease_owner = NULL, lease_expires_at = NULL \
         WHERE project = $1 AND id = $2 AND lease_owner = $3",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &owner,
            &json(r.item, "status item")?,
            &last_good,
            &r.consecutive_failures,
            &circuit_str(r.circuit),
            &r.circuit_opened_at,
            &r.next_probe_at,
        ],
    )
    .await?;
    if updated == 0 {
        return Ok(false);
    }
    if r.changed {
        let (overall, hash) = project_summary(client, &name.project).await?;
        insert_event(
            client,
            &name.project,
            &EventPayload::ItemChanged {
                item: r.item.clone(),
                overall,
                hash,
            },
        )
        .await?;
    }
    Ok(true)
}

/// Releases every lease `owner` holds (at shutdown).
pub async fn release_leases(client: &impl GenericClient, owner: Uuid) -> Result<u64, StoreError> {
    execute(
        client,
        "UPDATE connection_status SET lease_owner = NULL, lease_expires_at = NULL \
         WHERE lease_owner = $1",
        &[&owner],
    )
    .await
}
