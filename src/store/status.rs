//! SQL for `status_events` (the log watchers follow) and the items of
//! `connection_status` it records; the probe leases are in `probes`.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::{Row, types::Json};

use super::{StoreError, execute, query, query_one};
use crate::{
    names::{ConnectionName, ProjectId},
    status::{
        events::{EventPayload, StoredEvent},
        model::{self, Circuit, ItemStatus},
    },
};

/// The NOTIFY channel writers signal after logging events.
pub(super) const EVENTS_CHANNEL: &str = "patchbay_events";

/// Subscribes `client`'s session to the events channel: its connection then
/// yields a notification after every commit that logged events.
pub async fn listen_for_events(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    client
        .batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))
        .await?;
    Ok(())
}

/// Every event writer holds this transaction-scoped advisory lock while it
/// inserts, so `seq` order is commit order: a reader that has seen seq N has
/// seen every event below N.
pub const EVENT_LOCK: i64 = 7301;

pub(super) fn json<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::corrupt(what, e))
}

pub(super) fn item_from(value: serde_json::Value) -> Result<ItemStatus, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::corrupt("status item", e))
}

pub(super) fn circuit_from(s: &str) -> Result<Circuit, StoreError> {
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

pub(super) async fn lock_events(client: &impl GenericClient) -> Result<(), StoreError> {
    query(client, "SELECT pg_advisory_xact_lock($1)", &[&EVENT_LOCK]).await?;
    Ok(())
}

/// The project's overall level and hash, from the rows this transaction sees.
pub(super) async fn project_summary(
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

pub(super) async fn insert_event(
    client: &impl GenericClient,
    project: &ProjectId,
    payload: &EventPayload,
) -> Result<i64, StoreError> {
    let row = query_one(
        client,
        "INSERT INTO status_events (project, kind, payload) VALUES ($1, $2, $3) RETURNING seq",
        &[&project.as_str(), &payload.kind(), &Json(payload)],
    )
    .await?;
    // Delivered at commit; PostgreSQL folds repeats within one transaction.
    query(client, "SELECT pg_notify($1, '')", &[&EVENTS_CHANNEL]).await?;
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

/// Logs many events that change no item in one statement (a processed
/// batch of webhooks), waking watchers once.
pub async fn append_many(
    client: &impl GenericClient,
    events: &[(&ProjectId, EventPayload)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    lock_events(client).await?;
    let projects: Vec<&str> = events.iter().map(|(p, _)| p.as_str()).collect();
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e.kind()).collect();
    let payloads: Vec<Json<&EventPayload>> = events.iter().map(|(_, e)| Json(e)).collect();
    execute(
        client,
        "INSERT INTO status_events (project, kind, payload) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::json[])",
        &[&projects, &kinds, &payloads],
    )
    .await?;
    query(client, "SELECT pg_notify($1, '')", &[&EVENTS_CHANNEL]).await?;
    Ok(())
}

fn event_from(row: &Row) -> Result<StoredEvent, StoreError> {
    let project: String = row.try_get("project")?;
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        project: ProjectId::parse(&project).map_err(|e| StoreError::corrupt("event project", e))?,
        payload: row
            .try_get::<_, Json<EventPayload>>("payload")
            .map_err(|e| StoreError::corrupt("event payload", e))?
            .0,
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

/// Drops the events before the first one younger than `retention`
/// (everything older when none is), keeping the newest one so the head
/// survives; returns how many went. The first young event is found by
/// walking `seq` from the oldest, which visits only the rows going: the
/// log needs no index on `created_at`. An old event behind a young one
/// (stamped early, committed late) stays until the young one has aged.
pub async fn purge(client: &impl GenericClient, retention: Duration) -> Result<u64, StoreError> {
    let secs = retention.as_secs_f64();
    execute(
        client,
        "DELETE FROM status_events WHERE seq < least( \
             (SELECT max(seq) FROM status_events), \
             (SELECT seq FROM status_events \
              WHERE created_at >= now() - $1 * interval '1 second' ORDER BY seq LIMIT 1))",
        &[&secs],
    )
    .await
}

/// A connection's current item, locked for this transaction.
pub async fn item_for_update(
    client: &impl GenericClient,
    name: &ConnectionName,
) -> Result<Option<ItemStatus>, StoreError> {
    let row = super::query_opt(
        client,
        "SELECT item FROM connection_status WHERE project = $1 AND id = $2 FOR UPDATE",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?;
    row.map(|row| item_from(row.try_get(0)?)).transpose()
}

/// Makes a connection due for a probe now.
pub async fn probe_soon(
    client: &impl GenericClient,
    name: &ConnectionName,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE connection_status SET next_probe_at = least(next_probe_at, now()) \
         WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?;
    Ok(())
}
