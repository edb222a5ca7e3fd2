//! SQL of the action workers: claiming under a lease, heartbeats, progress
//! and the end of an attempt. Every write after the claim is fenced on
//! (lease owner, attempt), so a worker whose lease expired and was taken
//! over can change nothing.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{
    StoreError,
    actions::{COLUMNS, from_row},
    execute, query_opt,
};
use crate::{actions::model::Action, names::ActionName};

/// Claims the next runnable action: pending and due, or running under an
/// expired lease (its worker died). Counts an attempt.
pub async fn claim(
    client: &impl GenericClient,
    owner: Uuid,
    lease: Duration,
) -> Result<Option<Action>, StoreError> {
    let sql = format!(
        "UPDATE actions SET state = 'running', lease_owner = $1, \
         lease_expires_at = now() + $2 * interval '1 second', attempts = attempts + 1, \
         start_time = coalesce(start_time, now()), update_time = now() \
         WHERE (project, id) = (SELECT project, id FROM actions \
             WHERE (state = 'pending' AND next_attempt_at <= now()) \
                OR (state = 'running' AND lease_expires_at < now()) \
             ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}"
    );
    query_opt(client, &sql, &[&owner, &lease.as_secs_f64()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Who holds an action: the fence every post-claim write checks.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub owner: Uuid,
    pub attempt: i32,
}

const FENCE: &str =
    "project = $1 AND id = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'";

/// Extends the lease; `None` when it was lost, else whether a cancel was asked.
pub async fn heartbeat(
    client: &impl GenericClient,
    name: &ActionName,
    lease: Lease,
    duration: Duration,
) -> Result<Option<bool>, StoreError> {
    let sql = format!(
        "UPDATE actions SET lease_expires_at = now() + $5 * interval '1 second' \
         WHERE {FENCE} RETURNING cancel_requested"
    );
    let row = query_opt(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &lease.owner,
            &lease.attempt,
            &duration.as_secs_f64(),
        ],
    )
    .await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}

/// Records progress; false when the lease was lost.
pub async fn progress(
    client: &impl GenericClient,
    name: &ActionName,
    lease: Lease,
    percent: i32,
    message: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE actions SET progress_percent = $5, progress_message = $6, update_time = now() \
         WHERE {FENCE}"
    );
    let n = execute(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &lease.owner,
            &lease.attempt,
            &percent,
            &message,
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Records that this attempt is about to call the provider, counting a
/// repeat nothing can check when `unconfirmed`; false when the lease was
/// lost.
pub async fn effect_starting(
    client: &impl GenericClient,
    name: &ActionName,
    lease: Lease,
    unconfirmed: bool,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE actions SET effect_started_attempt = $4, \
         unconfirmed_repeats = unconfirmed_repeats + CASE WHEN $5 THEN 1 ELSE 0 END \
         WHERE {FENCE}"
    );
    let n = execute(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &lease.owner,
            &lease.attempt,
            &unconfirmed,
        ],
    )
    .await?;
    Ok(n == 1)
}

/// How a claimed action ends its attempt.
pub enum Finish<'a> {
    Succeeded(&'a serde_json::Map<String, serde_json::Value>),
    Failed(&'a [u8]),
    Cancelled,
    /// Back to the queue after `retry_in`, with why.
    Retry(Duration, &'a str),
}

/// The columns an attempt's end sets (`None`: keep).
struct FinishRow<'a> {
    state: &'static str,
    result: Option<serde_json::Value>,
    error: Option<&'a [u8]>,
    percent: Option<i32>,
    message: Option<String>,
    retry_in: f64,
}

impl<'a> From<Finish<'a>> for FinishRow<'a> {
    fn from(finish: Finish<'a>) -> Self {
        let row = |state| FinishRow {
            state,
            result: None,
            error: None,
            percent: None,
            message: None,
            retry_in: 0.0,
        };
        match finish {
            Finish::Succeeded(result) => FinishRow {
                result: Some(serde_json::Value::Object(result.clone())),
                percent: Some(100),
                message: Some("done".to_owned()),
                ..row("succeeded")
            },
            Finish::Failed(error) => FinishRow {
                error: Some(error),
                ..row("failed")
            },
            Finish::Cancelled => FinishRow {
                message: Some("cancelled".to_owned()),
                ..row("cancelled")
            },
            Finish::Retry(after, why) => FinishRow {
                message: Some(format!("retrying: {why}")),
                retry_in: after.as_secs_f64(),
                ..row("pending")
            },
        }
    }
}

/// Ends the attempt; false when the lease was lost (someone else owns it).
pub async fn finish(
    client: &impl GenericClient,
    name: &ActionName,
    lease: Lease,
    finish: Finish<'_>,
) -> Result<bool, StoreError> {
    let row = FinishRow::from(finish);
    let sql = format!(
        "UPDATE actions SET state = $5, result = coalesce($6, result), error = $7, \
         progress_percent = coalesce($8, progress_percent), \
         progress_message = coalesce($9, progress_message), \
         next_attempt_at = now() + $10 * interval '1 second', lease_owner = NULL, \
         lease_expires_at = NULL, update_time = now(), \
         end_time = CASE WHEN $5 = 'pending' THEN NULL ELSE now() END WHERE {FENCE}"
    );
    let n = execute(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &lease.owner,
            &lease.attempt,
            &row.state,
            &row.result,
            &row.error,
            &row.percent,
            &row.message,
            &row.retry_in,
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Puts this worker's running actions back in the queue (a clean stop).
pub async fn release(client: &impl GenericClient, owner: Uuid) -> Result<u64, StoreError> {
    execute(
        client,
        "UPDATE actions SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
         next_attempt_at = now() \
         WHERE lease_owner = $1 AND state = 'running'",
        &[&owner],
    )
    .await
}
