//! SQL for `health_samples`: the probe and action outcomes alert rules
//! count, kept for the history retention.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{StoreError, execute, query, query_one};
use crate::{
    alerts::{condition::WindowCount, observation::Sample},
    names::ConnectionName,
};

pub async fn insert(
    client: &impl GenericClient,
    connection: &ConnectionName,
    sample: &Sample,
) -> Result<(), StoreError> {
    execute(
        client,
        "INSERT INTO health_samples (project, connection, source, ok, reason, rate_limit_remaining) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &sample.source.as_str(),
            &sample.ok,
            &sample.reason,
            &sample.rate_limit_remaining,
        ],
    )
    .await?;
    Ok(())
}

/// The newest `limit` outcomes of the connection, newest first.
pub async fn recent(
    client: &impl GenericClient,
    connection: &ConnectionName,
    limit: i64,
) -> Result<Vec<bool>, StoreError> {
    let rows = query(
        client,
        "SELECT ok FROM health_samples WHERE project = $1 AND connection = $2 \
         ORDER BY time DESC, id DESC LIMIT $3",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &limit,
        ],
    )
    .await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(StoreError::from))
        .collect()
}

/// Outcomes and failures of the connection in the last `window`.
pub async fn window(
    client: &impl GenericClient,
    connection: &ConnectionName,
    window: Duration,
) -> Result<WindowCount, StoreError> {
    let row = query_one(
        client,
        "SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM health_samples \
         WHERE project = $1 AND connection = $2 \
           AND time > clock_timestamp() - $3 * interval '1 second'",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &window.as_secs_f64(),
        ],
    )
    .await?;
    Ok(WindowCount {
        total: row.try_get(0)?,
        failed: row.try_get(1)?,
    })
}

/// Deletes up to `limit` samples older than `before`; the count deleted.
pub async fn purge_batch(
    client: &impl GenericClient,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM health_samples WHERE id IN \
           (SELECT id FROM health_samples WHERE time < $1 ORDER BY time LIMIT $2)",
        &[&before, &limit],
    )
    .await
}
