//! SQL for the probe side of `connection_status`: leases, so no connection
//! is probed twice at once (across replicas or within one), and what a
//! finished probe writes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    StoreError, execute, query,
    status::{
        circuit_from, circuit_str, insert_event, item_from, json, lock_events, project_summary,
    },
};
use crate::{
    names::{ConnectionName, TypeId},
    status::{
        events::EventPayload,
        model::{Circuit, ItemStatus},
    },
};

/// A connection a replica holds the probe lease of.
#[derive(Debug, Clone)]
pub struct ProbeJob {
    /// This claim's lease: the fence of the result's write.
    pub lease: Uuid,
    pub name: ConnectionName,
    pub type_id: TypeId,
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub item: ItemStatus,
    pub last_good: Option<ItemStatus>,
    pub consecutive_failures: i32,
    pub circuit: Circuit,
    pub circuit_opened_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str = "s.lease_id, s.project, s.id, c.type_id, c.settings, s.item, s.last_good, \
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
        lease: row.try_get("lease_id")?,
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
             AND (s.forced_probe_waiting_until IS NULL OR s.forced_probe_waiting_until < now()) \
           ORDER BY s.next_probe_at LIMIT $3 FOR UPDATE OF s SKIP LOCKED) \
         UPDATE connection_status s SET lease_owner = $1, lease_id = gen_random_uuid(), \
           lease_expires_at = now() + $2 * interval '1 second' \
         FROM due, connections c \
         WHERE s.project = due.project AND s.id = due.id AND c.project = s.project AND c.id = s.id \
         RETURNING {JOB_COLUMNS}"
    );
    let rows = query(client, &sql, &[&owner, &lease.as_secs_f64(), &limit]).await?;
    rows.iter().map(job_from).collect()
}

/// Takes one connection's lease now, due or not; `None` while any probe of
/// it holds the lease, this replica's own included (or it is gone).
pub async fn claim_now(
    client: &impl GenericClient,
    name: &ConnectionName,
    owner: Uuid,
    lease: Duration,
) -> Result<Option<ProbeJob>, StoreError> {
    let sql = format!(
        "UPDATE connection_status s SET lease_owner = $3, lease_id = gen_random_uuid(), \
           lease_expires_at = now() + $4 * interval '1 second' \
         FROM connections c \
         WHERE s.project = $1 AND s.id = $2 AND c.project = s.project AND c.id = s.id \
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at < now()) \
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

/// Holds background probes of a connection off for `by`, so a forced
/// probe waiting for its lease is not starved by them (each poll of the
/// waiter renews it). False when the connection is gone.
pub async fn defer_background(
    client: &impl GenericClient,
    name: &ConnectionName,
    by: Duration,
) -> Result<bool, StoreError> {
    let n = execute(
        client,
        "UPDATE connection_status SET \
           forced_probe_waiting_until = now() + $3 * interval '1 second' \
         WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str(), &by.as_secs_f64()],
    )
    .await?;
    Ok(n == 1)
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

/// Saves a probe's result and releases the lease, if the claim `lease`
/// still holds it; `false` when the lease was lost (the result is dropped).
/// Call inside a transaction.
pub async fn finish_probe(
    client: &impl GenericClient,
    name: &ConnectionName,
    lease: Uuid,
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
         lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL \
         WHERE project = $1 AND id = $2 AND lease_id = $3",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &lease,
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
        "UPDATE connection_status SET lease_owner = NULL, lease_id = NULL, \
         lease_expires_at = NULL WHERE lease_owner = $1",
        &[&owner],
    )
    .await
}
