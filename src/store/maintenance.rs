//! `maintenance_jobs`: periodic jobs leased to one replica at a time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{StoreError, execute, query_opt};

/// A job's record of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub runs: i64,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_result: Option<serde_json::Value>,
    pub next_run_at: DateTime<Utc>,
}

/// Takes `job` for `owner` for `lease` if it is due and nobody holds it.
pub async fn claim(
    client: &impl GenericClient,
    job: &str,
    owner: Uuid,
    lease: Duration,
) -> Result<bool, StoreError> {
    let claimed = query_opt(
        client,
        "UPDATE maintenance_jobs \
         SET lease_owner = $2, lease_expires_at = now() + $3 * interval '1 second' \
         WHERE name = $1 AND next_run_at <= now() \
           AND (lease_owner IS NULL OR lease_expires_at < now()) \
         RETURNING 1",
        &[&job, &owner, &lease.as_secs_f64()],
    )
    .await?;
    Ok(claimed.is_some())
}

/// Extends `owner`'s lease on `job`; false when it was lost (expired and
/// taken over), in which case the owner must stop.
pub async fn renew(
    client: &impl GenericClient,
    job: &str,
    owner: Uuid,
    lease: Duration,
) -> Result<bool, StoreError> {
    let renewed = execute(
        client,
        "UPDATE maintenance_jobs SET lease_expires_at = now() + $3 * interval '1 second' \
         WHERE name = $1 AND lease_owner = $2",
        &[&job, &owner, &lease.as_secs_f64()],
    )
    .await?;
    Ok(renewed == 1)
}

/// Records a finished run and schedules the next one `every` from now;
/// false when `owner` no longer held the job.
pub async fn finish(
    client: &impl GenericClient,
    job: &str,
    owner: Uuid,
    every: Duration,
    result: &serde_json::Value,
) -> Result<bool, StoreError> {
    let finished = execute(
        client,
        "UPDATE maintenance_jobs SET lease_owner = NULL, lease_expires_at = NULL, \
             runs = runs + 1, last_run_at = now(), last_result = $3, \
             next_run_at = now() + $4 * interval '1 second' \
         WHERE name = $1 AND lease_owner = $2",
        &[&job, &owner, result, &every.as_secs_f64()],
    )
    .await?;
    Ok(finished == 1)
}

/// Gives `job` back unfinished, due again at once (a shutdown mid-run).
pub async fn release(
    client: &impl GenericClient,
    job: &str,
    owner: Uuid,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE maintenance_jobs SET lease_owner = NULL, lease_expires_at = NULL \
         WHERE name = $1 AND lease_owner = $2",
        &[&job, &owner],
    )
    .await?;
    Ok(())
}

pub async fn record(
    client: &impl GenericClient,
    job: &str,
) -> Result<Option<JobRecord>, StoreError> {
    query_opt(
        client,
        "SELECT runs, last_run_at, last_result, next_run_at FROM maintenance_jobs WHERE name = $1",
        &[&job],
    )
    .await?
    .map(|row| {
        Ok(JobRecord {
            runs: row.try_get(0)?,
            last_run_at: row.try_get(1)?,
            last_result: row.try_get(2)?,
            next_run_at: row.try_get(3)?,
        })
    })
    .transpose()
}
