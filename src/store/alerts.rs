//! SQL for `alerts`: at most one firing alert per (rule, connection),
//! enforced by the partial unique index `alerts_dedupe`.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{StoreError, execute, query, query_opt};
use crate::{
    alerts::{
        alert::{Alert, AlertState, Hysteresis, ResolveReason},
        model::Severity,
    },
    names::{AlertName, AlertRuleName, ConnectionName, ProjectId, ResourceId},
};

const COLUMNS: &str = "project, id, rule_id, connection, severity, state, summary, fire_time, \
                       resolve_time, resolve_reason, last_held_at, healthy_streak, observations, \
                       acknowledge_time, acknowledged_by, etag";

fn corrupt(what: &'static str) -> impl Fn(crate::names::NameError) -> StoreError {
    move |e| StoreError::corrupt(what, e)
}

fn from_row(row: &Row) -> Result<(Alert, Hysteresis), StoreError> {
    let project = ProjectId::parse(row.try_get("project")?).map_err(corrupt("alert project"))?;
    let id = |column: &str, kind| -> Result<ResourceId, StoreError> {
        ResourceId::parse(kind, row.try_get(column)?).map_err(corrupt("alert id"))
    };
    let severity: String = row.try_get("severity")?;
    let state: String = row.try_get("state")?;
    let reason: Option<String> = row.try_get("resolve_reason")?;
    let alert = Alert {
        name: AlertName {
            project: project.clone(),
            id: id("id", "alert")?,
        },
        rule: AlertRuleName {
            project: project.clone(),
            id: id("rule_id", "alert rule")?,
        },
        connection: ConnectionName {
            project,
            id: id("connection", "connection")?,
        },
        severity: Severity::parse(&severity)
            .ok_or_else(|| StoreError::corrupt("alert severity", severity.clone()))?,
        state: AlertState::parse(&state)
            .ok_or_else(|| StoreError::corrupt("alert state", state.clone()))?,
        summary: row.try_get("summary")?,
        fire_time: row.try_get("fire_time")?,
        resolve_time: row.try_get("resolve_time")?,
        resolve_reason: reason
            .map(|r| ResolveReason::parse(&r).ok_or_else(|| StoreError::corrupt("alert reason", r)))
            .transpose()?,
        observations: row.try_get("observations")?,
        acknowledge_time: row.try_get("acknowledge_time")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        etag: row.try_get("etag")?,
    };
    let hysteresis = Hysteresis {
        healthy_streak: row.try_get("healthy_streak")?,
        last_held_at: row.try_get("last_held_at")?,
    };
    Ok((alert, hysteresis))
}

fn alerts(rows: &[Row]) -> Result<Vec<Alert>, StoreError> {
    rows.iter().map(|r| from_row(r).map(|(a, _)| a)).collect()
}

/// The connection's firing alerts of `rules`, locked for the transaction
/// in rule order (as `firing_of_connection` locks them).
pub async fn firing_for_update(
    client: &impl GenericClient,
    connection: &ConnectionName,
    rules: &[&str],
) -> Result<Vec<(Alert, Hysteresis)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE project = $1 AND connection = $2 \
         AND rule_id = ANY($3) AND state = 'firing' ORDER BY rule_id FOR UPDATE"
    );
    query(
        client,
        &sql,
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &rules,
        ],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

pub struct NewAlert<'a> {
    pub name: &'a AlertName,
    pub rule: &'a AlertRuleName,
    pub connection: &'a ConnectionName,
    pub severity: Severity,
    pub summary: &'a str,
    pub etag: &'a str,
}

/// Fires an alert; `None` when one of its rule and connection already
/// fires (a concurrent observation fired it first).
pub async fn insert_firing(
    client: &impl GenericClient,
    a: &NewAlert<'_>,
) -> Result<Option<Alert>, StoreError> {
    let sql = format!(
        "INSERT INTO alerts (project, id, rule_id, connection, severity, state, summary, etag) \
         VALUES ($1, $2, $3, $4, $5, 'firing', $6, $7) \
         ON CONFLICT (project, rule_id, connection) WHERE state = 'firing' DO NOTHING \
         RETURNING {COLUMNS}"
    );
    let row = query_opt(
        client,
        &sql,
        &[
            &a.name.project.as_str(),
            &a.name.id.as_str(),
            &a.rule.id.as_str(),
            &a.connection.id.as_str(),
            &a.severity.as_str(),
            &a.summary,
            &a.etag,
        ],
    )
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?.map(|(a, _)| a))
}

/// Counts one more observation of a firing alert, with its new hysteresis.
pub async fn keep(
    client: &impl GenericClient,
    name: &AlertName,
    h: Hysteresis,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE alerts SET healthy_streak = $3, last_held_at = $4, \
         observations = observations + 1 WHERE project = $1 AND id = $2 AND state = 'firing'",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &h.healthy_streak,
            &h.last_held_at,
        ],
    )
    .await?;
    Ok(())
}

/// Resolves a firing alert; `None` when it no longer fires.
pub async fn resolve(
    client: &impl GenericClient,
    name: &AlertName,
    reason: ResolveReason,
    etag: &str,
) -> Result<Option<Alert>, StoreError> {
    let sql = format!(
        "UPDATE alerts SET state = 'resolved', resolve_time = now(), resolve_reason = $3, \
         observations = observations + 1, etag = $4 \
         WHERE project = $1 AND id = $2 AND state = 'firing' RETURNING {COLUMNS}"
    );
    let row = query_opt(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &reason.as_str(),
            &etag,
        ],
    )
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?.map(|(a, _)| a))
}

/// The firing alerts of a rule, locked.
pub async fn firing_of_rule(
    client: &impl GenericClient,
    rule: &AlertRuleName,
) -> Result<Vec<Alert>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE project = $1 AND rule_id = $2 \
         AND state = 'firing' ORDER BY connection FOR UPDATE"
    );
    alerts(&query(client, &sql, &[&rule.project.as_str(), &rule.id.as_str()]).await?)
}

/// The firing alerts of a connection, locked.
pub async fn firing_of_connection(
    client: &impl GenericClient,
    connection: &ConnectionName,
) -> Result<Vec<Alert>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE project = $1 AND connection = $2 \
         AND state = 'firing' ORDER BY rule_id FOR UPDATE"
    );
    alerts(
        &query(
            client,
            &sql,
            &[&connection.project.as_str(), &connection.id.as_str()],
        )
        .await?,
    )
}

/// Up to `limit` firing alerts healthy since they last held, for longer
/// than their rule's quiet period; locked, skipping rows others hold.
pub async fn quiet(client: &impl GenericClient, limit: i64) -> Result<Vec<Alert>, StoreError> {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM alerts a JOIN alert_rules r \
           ON r.project = a.project AND r.id = a.rule_id \
         WHERE a.state = 'firing' AND a.healthy_streak >= 1 \
           AND a.last_held_at + (r.resolution->>'quiet_period')::float8 * interval '1 second' <= now() \
         ORDER BY a.last_held_at LIMIT $1 FOR UPDATE OF a SKIP LOCKED"
    );
    alerts(&query(client, &sql, &[&limit]).await?)
}

/// The alert `name`; locked for the transaction when `for_update`.
pub async fn get(
    client: &impl GenericClient,
    name: &AlertName,
    for_update: bool,
) -> Result<Option<Alert>, StoreError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE project = $1 AND id = $2{lock}");
    let row = query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()]).await?;
    Ok(row.as_ref().map(from_row).transpose()?.map(|(a, _)| a))
}

/// A page of the project's alerts, newest first, after the cursor
/// `(fire_time, id)` of the previous page's last.
pub async fn list(
    client: &impl GenericClient,
    project: &ProjectId,
    state: Option<AlertState>,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Alert>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE project = $1 \
           AND ($2::text IS NULL OR state = $2) \
           AND ($3::timestamptz IS NULL OR (fire_time, id) < ($3, $4)) \
         ORDER BY fire_time DESC, id DESC LIMIT $5"
    );
    let (time, id) = after.unzip();
    let rows = query(
        client,
        &sql,
        &[
            &project.as_str(),
            &state.map(AlertState::as_str),
            &time,
            &id,
            &limit,
        ],
    )
    .await?;
    alerts(&rows)
}

/// Records who acknowledged the alert, once: a second acknowledgement
/// keeps the first. `None` when there is no such alert.
pub async fn acknowledge(
    client: &impl GenericClient,
    name: &AlertName,
    subject: &str,
    etag: &str,
) -> Result<Option<Alert>, StoreError> {
    let sql = format!(
        "UPDATE alerts SET acknowledge_time = coalesce(acknowledge_time, now()), \
           acknowledged_by = coalesce(acknowledged_by, $3), \
           etag = CASE WHEN acknowledge_time IS NULL THEN $4 ELSE etag END \
         WHERE project = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let row = query_opt(
        client,
        &sql,
        &[&name.project.as_str(), &name.id.as_str(), &subject, &etag],
    )
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?.map(|(a, _)| a))
}

/// Deletes up to `limit` alerts resolved before `before`.
pub async fn purge_batch(
    client: &impl GenericClient,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM alerts WHERE (project, id) IN \
           (SELECT project, id FROM alerts WHERE state = 'resolved' AND resolve_time < $1 \
            ORDER BY resolve_time LIMIT $2)",
        &[&before, &limit],
    )
    .await
}
