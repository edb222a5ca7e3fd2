//! Refused webhook requests, counted per connection, reason and hour.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{StoreError, execute, query};
use crate::names::ConnectionName;

/// Adds `count` refusals for `reason`, the last at `last`, to its hour.
pub async fn add(
    client: &impl GenericClient,
    connection: &ConnectionName,
    reason: &str,
    count: i64,
    last: DateTime<Utc>,
) -> Result<(), StoreError> {
    execute(
        client,
        "INSERT INTO webhook_refusals (project, connection_id, reason, hour, count, last_time) \
         SELECT $1, $2, $3, date_trunc('hour', $5::timestamptz), $4, $5 \
         WHERE EXISTS (SELECT 1 FROM connections WHERE project = $1 AND id = $2) \
         ON CONFLICT (project, connection_id, reason, hour) DO UPDATE \
         SET count = webhook_refusals.count + EXCLUDED.count, \
             last_time = greatest(webhook_refusals.last_time, EXCLUDED.last_time)",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &reason,
            &count,
            &last,
        ],
    )
    .await?;
    Ok(())
}

/// Refusals of `connection` since `since`, by reason, most first.
pub async fn since(
    client: &impl GenericClient,
    connection: &ConnectionName,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64, DateTime<Utc>)>, StoreError> {
    let rows = query(
        client,
        "SELECT reason, sum(count)::bigint, max(last_time) FROM webhook_refusals \
         WHERE project = $1 AND connection_id = $2 AND hour >= date_trunc('hour', $3::timestamptz) \
         GROUP BY reason ORDER BY 2 DESC, 1",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &since,
        ],
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}
