//! SQL for `automation_runs`. Runs are claimed by workers under a lease
//! (`FOR UPDATE SKIP LOCKED`), and every write of a claimed run is fenced
//! on that lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::{Row, types::Json};
use uuid::Uuid;

use super::{StoreError, execute, query, query_one, query_opt};
use crate::{
    automations::model::{Run, RunState, RunTrigger},
    names::{ActionName, AutomationName, ProjectId, ResourceId, RunName},
};

const COLUMNS: &str = "project, automation, id, version, trigger, event, state, reason, step, \
                       steps, log, depth, cause_chain, replay_of, create_time, start_time, \
                       end_time";

fn corrupt(what: &'static str) -> impl Fn(crate::names::NameError) -> StoreError {
    move |e| StoreError::corrupt(what, e)
}

fn decode<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::corrupt(what, e))
}

fn from_row(row: &Row) -> Result<Run, StoreError> {
    let automation = AutomationName {
        project: ProjectId::parse(row.try_get("project")?).map_err(corrupt("run project"))?,
        id: ResourceId::parse("automation", row.try_get("automation")?)
            .map_err(corrupt("run automation"))?,
    };
    let trigger: String = row.try_get("trigger")?;
    let state: String = row.try_get("state")?;
    Ok(Run {
        name: RunName {
            automation,
            id: ResourceId::parse("run", row.try_get("id")?).map_err(corrupt("run id"))?,
        },
        version: row.try_get("version")?,
        trigger: RunTrigger::parse(&trigger)
            .ok_or_else(|| StoreError::corrupt("run trigger", trigger.clone()))?,
        event: decode(row.try_get("event")?, "run event")?,
        state: RunState::parse(&state)
            .ok_or_else(|| StoreError::corrupt("run state", state.clone()))?,
        reason: row.try_get("reason")?,
        step: row.try_get("step")?,
        steps: decode(row.try_get("steps")?, "run steps")?,
        log: decode(row.try_get("log")?, "run log")?,
        depth: row.try_get("depth")?,
        cause_chain: row.try_get("cause_chain")?,
        replay_of: row.try_get("replay_of")?,
        create_time: row.try_get("create_time")?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
    })
}

/// A run about to be written for the first time.
pub struct NewRun<'a> {
    pub run: &'a Run,
    pub delivery_id: Option<&'a str>,
    pub request: Option<(Uuid, &'a [u8])>,
    /// When it passed the rate limit; `None` while held or skipped.
    pub admitted: bool,
    pub next_at: DateTime<Utc>,
}

/// Inserts the run; `None` when its automation version already has a run
/// for that delivery, or that request id.
pub async fn insert(
    client: &impl GenericClient,
    new: &NewRun<'_>,
) -> Result<Option<Run>, StoreError> {
    let r = new.run;
    let sql = format!(
        "INSERT INTO automation_runs (project, automation, id, version, trigger, delivery_id, \
           event, state, reason, step, steps, log, depth, cause_chain, replay_of, request_id, \
           request_hash, next_at, admit_time, end_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
           CASE WHEN $19 THEN now() END, CASE WHEN $20 THEN now() END) \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let automation = &r.name.automation;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 20] = [
        &automation.project.as_str(),
        &automation.id.as_str(),
        &r.name.id.as_str(),
        &r.version,
        &r.trigger.as_str(),
        &new.delivery_id,
        &Json(&r.event),
        &r.state.as_str(),
        &r.reason,
        &r.step,
        &Json(&r.steps),
        &Json(&r.log),
        &r.depth,
        &r.cause_chain,
        &r.replay_of,
        &new.request.map(|(id, _)| id),
        &new.request.map(|(_, hash)| hash),
        &new.next_at,
        &new.admitted,
        &r.state.is_final(),
    ];
    query_opt(client, &sql, &params)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Whether version `version` of `automation` has a run for `delivery`.
pub async fn for_delivery(
    client: &impl GenericClient,
    automation: &AutomationName,
    version: i32,
    delivery: &str,
) -> Result<bool, StoreError> {
    Ok(query_opt(
        client,
        "SELECT 1 FROM automation_runs WHERE project = $1 AND automation = $2 AND version = $3 \
           AND delivery_id = $4",
        &[
            &automation.project.as_str(),
            &automation.id.as_str(),
            &version,
            &delivery,
        ],
    )
    .await?
    .is_some())
}

/// The run started with `request_id`, and that request's digest.
pub async fn by_request(
    client: &impl GenericClient,
    automation: &AutomationName,
    request_id: Uuid,
) -> Result<Option<(Run, Vec<u8>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, request_hash FROM automation_runs \
         WHERE project = $1 AND automation = $2 AND request_id = $3"
    );
    let Some(row) = query_opt(
        client,
        &sql,
        &[
            &automation.project.as_str(),
            &automation.id.as_str(),
            &request_id,
        ],
    )
    .await?
    else {
        return Ok(None);
    };
    let hash: Option<Vec<u8>> = row.try_get("request_hash")?;
    Ok(Some((from_row(&row)?, hash.unwrap_or_default())))
}

pub async fn get(client: &impl GenericClient, name: &RunName) -> Result<Option<Run>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM automation_runs WHERE project = $1 AND automation = $2 AND id = $3"
    );
    let a = &name.automation;
    query_opt(
        client,
        &sql,
        &[&a.project.as_str(), &a.id.as_str(), &name.id.as_str()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A page of an automation's runs, newest first, after `after`.
pub async fn list(
    client: &impl GenericClient,
    automation: &AutomationName,
    state: Option<RunState>,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Run>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM automation_runs WHERE project = $1 AND automation = $2 \
           AND ($3::text IS NULL OR state = $3) \
           AND ($4::timestamptz IS NULL OR (create_time, id) < ($4, $5)) \
         ORDER BY create_time DESC, id DESC LIMIT $6"
    );
    query(
        client,
        &sql,
        &[
            &automation.project.as_str(),
            &automation.id.as_str(),
            &state.map(RunState::as_str),
            &after.map(|(t, _)| t),
            &after.map(|(_, id)| id),
            &limit,
        ],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// The automation's runs in `states`, oldest first.
pub async fn in_states(
    client: &impl GenericClient,
    automation: &AutomationName,
    states: &[RunState],
) -> Result<Vec<Run>, StoreError> {
    let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM automation_runs WHERE project = $1 AND automation = $2 \
           AND state = ANY($3) ORDER BY create_time, id"
    );
    query(
        client,
        &sql,
        &[
            &automation.project.as_str(),
            &automation.id.as_str(),
            &states,
        ],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Runs of the automation let through its rate limit in the last minute,
/// and when the oldest of them was.
pub async fn admitted_last_minute(
    client: &impl GenericClient,
    automation: &AutomationName,
) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let row = query_one(
        client,
        "SELECT count(*), min(admit_time) FROM automation_runs WHERE project = $1 \
           AND automation = $2 AND admit_time > now() - interval '1 minute'",
        &[&automation.project.as_str(), &automation.id.as_str()],
    )
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// How a run's record changes.
pub struct Write<'a> {
    pub run: &'a Run,
    /// When a pending, waiting or held run is next looked at.
    pub next_at: DateTime<Utc>,
    /// The action a waiting run waits for.
    pub awaiting: Option<&'a ActionName>,
    /// Whether the run passes the rate limit with this write.
    pub admit: bool,
}

/// Writes `run`'s state, unfenced: for callers holding its automation's
/// row (overlap decisions, cancellation) rather than its lease.
pub async fn write(client: &impl GenericClient, w: &Write<'_>) -> Result<(), StoreError> {
    write_fenced(client, w, None).await.map(|_| ())
}

/// Writes `run`'s state and releases the lease `owner` holds; false when
/// the lease was lost (another worker has the run now).
pub async fn write_fenced(
    client: &impl GenericClient,
    w: &Write<'_>,
    owner: Option<Uuid>,
) -> Result<bool, StoreError> {
    let r = w.run;
    let a = &r.name.automation;
    let updated = execute(
        client,
        "UPDATE automation_runs SET state = $4, reason = $5, step = $6, steps = $7, log = $8, \
           start_time = $9, end_time = $10, next_at = $11, awaiting_action = $12, \
           admit_time = CASE WHEN $13 THEN coalesce(admit_time, now()) ELSE admit_time END, \
           lease_owner = NULL, lease_expires_at = NULL \
         WHERE project = $1 AND automation = $2 AND id = $3 \
           AND ($14::uuid IS NULL OR lease_owner = $14)",
        &[
            &a.project.as_str(),
            &a.id.as_str(),
            &r.name.id.as_str(),
            &r.state.as_str(),
            &r.reason,
            &r.step,
            &Json(&r.steps),
            &Json(&r.log),
            &r.start_time,
            &r.end_time,
            &w.next_at,
            &w.awaiting.map(|n| n.id.as_str()),
            &w.admit,
            &owner,
        ],
    )
    .await?;
    Ok(updated == 1)
}

/// Claims up to `limit` runs due now (pending, waiting past their time,
/// or running under a lease that ended) for `owner`, marking them running.
pub async fn claim_due(
    client: &impl GenericClient,
    owner: Uuid,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Run>, StoreError> {
    let sql = format!(
        "UPDATE automation_runs r SET lease_owner = $1, state = 'running', \
           lease_expires_at = now() + $2 * interval '1 millisecond' \
         FROM (SELECT project, automation, id FROM automation_runs \
               WHERE state IN ('pending', 'waiting', 'running') AND next_at <= now() \
                 AND (lease_expires_at IS NULL OR lease_expires_at < now()) \
               ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
         WHERE r.project = due.project AND r.automation = due.automation AND r.id = due.id \
         RETURNING {}",
        COLUMNS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let millis = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    query(client, &sql, &[&owner, &(millis as f64), &limit])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Automations with held runs whose time has come, oldest first.
pub async fn held_due(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<AutomationName>, StoreError> {
    let rows = query(
        client,
        "SELECT project, automation FROM automation_runs WHERE state = 'held' AND next_at <= now() \
         GROUP BY project, automation ORDER BY min(next_at) LIMIT $1",
        &[&limit],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AutomationName {
                project: ProjectId::parse(row.try_get("project")?)
                    .map_err(corrupt("run project"))?,
                id: ResourceId::parse("automation", row.try_get("automation")?)
                    .map_err(corrupt("run automation"))?,
            })
        })
        .collect()
}

/// Runs held by their automations' rate limits that deliveries from
/// `connection` started.
pub async fn held_from(
    client: &impl GenericClient,
    connection: &crate::names::ConnectionName,
) -> Result<i64, StoreError> {
    Ok(query_one(
        client,
        "SELECT count(*) FROM automation_runs WHERE project = $1 AND state = 'held' \
           AND event->>'connection' = $2",
        &[&connection.project.as_str(), &connection.to_string()],
    )
    .await?
    .try_get(0)?)
}

/// A finished action makes the runs waiting for it due now.
pub async fn action_finished(
    client: &impl GenericClient,
    action: &ActionName,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE automation_runs SET next_at = now() WHERE project = $1 AND awaiting_action = $2 \
           AND state = 'waiting'",
        &[&action.project.as_str(), &action.id.as_str()],
    )
    .await?;
    Ok(())
}

/// The chain of runs that led to `action` (empty when no run started it).
pub async fn cause_of(
    client: &impl GenericClient,
    project: &ProjectId,
    action_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    Ok(query_opt(
        client,
        "SELECT cause_chain FROM actions WHERE project = $1 AND id = $2",
        &[&project.as_str(), &action_id],
    )
    .await?
    .map(|row| row.try_get(0))
    .transpose()?)
}

/// Deletes up to `limit` runs that ended before `before`; returns how many.
pub async fn purge_batch(
    client: &impl GenericClient,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM automation_runs WHERE (project, automation, id) IN \
           (SELECT project, automation, id FROM automation_runs \
            WHERE state IN ('succeeded', 'failed', 'cancelled', 'skipped') AND end_time < $1 \
            ORDER BY end_time LIMIT $2)",
        &[&before, &limit],
    )
    .await
}
