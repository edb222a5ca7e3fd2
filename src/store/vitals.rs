//! How the queues, circuits and replicas stand: the figures GetServiceHealth
//! reports. Each is one aggregate over an indexed or small table.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use super::{StoreError, query, query_one};

/// The action queue: how many wait, and how long the oldest has.
pub struct ActionQueue {
    pub pending: i64,
    pub running: i64,
    pub oldest_pending: Option<Duration>,
}

pub async fn action_queue(client: &impl GenericClient) -> Result<ActionQueue, StoreError> {
    let row = query_one(
        client,
        "SELECT count(*) FILTER (WHERE state = 'pending'), \
                count(*) FILTER (WHERE state = 'running'), \
                extract(epoch FROM now() - min(create_time) FILTER (WHERE state = 'pending'))::float8 \
         FROM actions WHERE state IN ('pending', 'running')",
        &[],
    )
    .await?;
    let oldest: Option<f64> = row.try_get(2)?;
    Ok(ActionQueue {
        pending: row.try_get(0)?,
        running: row.try_get(1)?,
        oldest_pending: oldest.map(|s| Duration::from_secs_f64(s.max(0.0))),
    })
}

/// Webhook deliveries not yet processed, and those given up on.
pub struct WebhookBacklog {
    /// Stored after the processing cursor: first attempts still to come.
    pub unprocessed: i64,
    pub retrying: i64,
    pub dead_letters: i64,
}

pub async fn webhook_backlog(client: &impl GenericClient) -> Result<WebhookBacklog, StoreError> {
    let row = query_one(
        client,
        "SELECT (SELECT count(*) FROM webhook_deliveries d, webhook_cursor c WHERE d.seq > c.seq), \
                (SELECT count(*) FROM webhook_deliveries WHERE state = 'retrying'), \
                (SELECT count(*) FROM webhook_deliveries WHERE state = 'dead_letter')",
        &[],
    )
    .await?;
    Ok(WebhookBacklog {
        unprocessed: row.try_get(0)?,
        retrying: row.try_get(1)?,
        dead_letters: row.try_get(2)?,
    })
}

/// One provider's circuits, over every connection of the types it serves.
pub struct ProviderCircuits {
    pub provider: String,
    pub connections: i64,
    pub open: i64,
    pub half_open: i64,
}

pub async fn circuits_by_provider(
    client: &impl GenericClient,
) -> Result<Vec<ProviderCircuits>, StoreError> {
    let rows = query(
        client,
        "SELECT t.spec->>'probe' AS provider, count(*), \
                count(*) FILTER (WHERE s.circuit = 'open'), \
                count(*) FILTER (WHERE s.circuit = 'half_open') \
         FROM connection_status s \
         JOIN connections c ON c.project = s.project AND c.id = s.id \
         JOIN integration_types t ON t.id = c.type_id \
         WHERE c.state = 'active' \
         GROUP BY 1 ORDER BY 1",
        &[],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ProviderCircuits {
                provider: r.try_get::<_, Option<String>>(0)?.unwrap_or_default(),
                connections: r.try_get(1)?,
                open: r.try_get(2)?,
                half_open: r.try_get(3)?,
            })
        })
        .collect()
}

/// Replicas whose heartbeat is younger than `within`.
pub async fn live_replicas(
    client: &impl GenericClient,
    within: Duration,
) -> Result<i64, StoreError> {
    Ok(query_one(
        client,
        "SELECT count(*) FROM replicas WHERE heartbeat_at > now() - $1 * interval '1 second'",
        &[&within.as_secs_f64()],
    )
    .await?
    .try_get(0)?)
}

/// One connection's recent trouble: dead letters and failed actions since
/// `since`.
pub async fn connection_failures(
    client: &impl GenericClient,
    connection: &crate::names::ConnectionName,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, i64), StoreError> {
    let row = query_one(
        client,
        "SELECT (SELECT count(*) FROM webhook_deliveries WHERE project = $1 AND connection_id = $2 \
                 AND state = 'dead_letter' AND receive_time >= $3), \
                (SELECT count(*) FROM actions WHERE project = $1 AND connection_id = $2 \
                 AND state = 'failed' AND update_time >= $3)",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &since,
        ],
    )
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
