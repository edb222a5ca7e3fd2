//! The deliveries as operators browse them: listed newest first with
//! filters, and dead letters put back in the queue. A delivery after the
//! processing cursor that was never rewritten is pending; one before it,
//! processed (see migration 0007).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{StoreError, query, query_one};
use crate::{
    names::{ConnectionName, ProjectId, ResourceId},
    webhooks::model::{DeliveryQuery, DeliveryRecord, DeliveryState},
};

/// The state as the view `webhook_delivery_states` computes it.
const STATE: &str =
    "CASE WHEN d.state = 'pending' AND d.seq <= c.seq THEN 'processed' ELSE d.state END";
/// The filter terms, on parameters $3 to $6.
const FILTERS: &str = "($3::text IS NULL OR d.event_type = $3) \
     AND ($4::timestamptz IS NULL OR d.receive_time >= $4) \
     AND ($5::timestamptz IS NULL OR d.receive_time < $5)";

/// A page of `connection`'s deliveries matching `q`, newest first, after
/// `(receive_time, id)` of the previous page's last.
pub async fn list(
    client: &impl GenericClient,
    connection: &ConnectionName,
    q: &DeliveryQuery,
    after: Option<(DateTime<Utc>, String)>,
    limit: i64,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let (after_time, after_id) = after.unzip();
    let sql = format!(
        "SELECT d.id, d.dedupe_key, d.event_type, {STATE}, \
                CASE WHEN d.state = 'pending' AND d.seq <= c.seq THEN d.attempts + 1 ELSE d.attempts END, \
                d.last_error, octet_length(d.body)::bigint, d.receive_time, d.process_time \
         FROM webhook_deliveries d CROSS JOIN webhook_cursor c \
         WHERE d.project = $1 AND d.connection_id = $2 AND {FILTERS} \
           AND ($6::text IS NULL OR {STATE} = $6) \
           AND ($7::timestamptz IS NULL OR (d.receive_time, d.id) < ($7, $8)) \
         ORDER BY d.receive_time DESC, d.id DESC LIMIT $9"
    );
    let rows = query(
        client,
        &sql,
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &q.event_type,
            &q.received_after,
            &q.received_before,
            &q.state.map(DeliveryState::as_str),
            &after_time,
            &after_id,
            &limit,
        ],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let state: String = r.try_get(3)?;
            Ok(DeliveryRecord {
                connection: connection.clone(),
                id: r.try_get(0)?,
                dedupe_key: r.try_get(1)?,
                event_type: r.try_get(2)?,
                state: DeliveryState::parse(&state)
                    .ok_or_else(|| StoreError::corrupt("delivery state", state))?,
                attempts: r.try_get(4)?,
                last_error: r.try_get(5)?,
                body_size: r.try_get(6)?,
                receive_time: r.try_get(7)?,
                process_time: r.try_get(8)?,
            })
        })
        .collect()
}

/// Which dead letters a redrive moves.
#[derive(Clone, Copy)]
pub enum Redrive<'a> {
    /// These ids (of the connection); those not dead letters stay.
    Ids(&'a [String]),
    /// Every dead letter matching the query.
    Matching(&'a DeliveryQuery),
}

/// Puts the selected dead letters of `connection` back in the queue as
/// retries due now, with fresh attempts and their ids kept; returns how
/// many moved. With `dry_run`, counts them and moves nothing. A dead
/// letter moves once: a second redrive finds it retrying or processed.
pub async fn redrive(
    client: &impl GenericClient,
    project: &ProjectId,
    connection: &ResourceId,
    which: Redrive<'_>,
    dry_run: bool,
) -> Result<i64, StoreError> {
    let (ids, q) = match which {
        Redrive::Ids(ids) => (Some(ids.to_vec()), DeliveryQuery::default()),
        Redrive::Matching(q) => (None, q.clone()),
    };
    let selected = format!(
        "d.project = $1 AND d.connection_id = $2 AND d.state = 'dead_letter' AND {FILTERS} \
         AND ($6::text[] IS NULL OR d.id = ANY($6))"
    );
    let sql = if dry_run {
        format!("SELECT count(*) FROM webhook_deliveries d WHERE {selected}")
    } else {
        format!(
            "WITH moved AS (UPDATE webhook_deliveries d SET state = 'retrying', attempts = 0, \
                 last_error = '', next_attempt_at = now() WHERE {selected} RETURNING 1) \
             SELECT count(*) FROM moved"
        )
    };
    let row = query_one(
        client,
        &sql,
        &[
            &project.as_str(),
            &connection.as_str(),
            &q.event_type,
            &q.received_after,
            &q.received_before,
            &ids,
        ],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// The id of `connection`'s stored delivery with `dedupe_key`, if any.
pub async fn by_dedupe_key(
    client: &impl GenericClient,
    connection: &ConnectionName,
    dedupe_key: &str,
) -> Result<Option<String>, StoreError> {
    let rows = query(
        client,
        "SELECT id FROM webhook_deliveries \
         WHERE project = $1 AND connection_id = $2 AND dedupe_key = $3",
        &[
            &connection.project.as_str(),
            &connection.id.as_str(),
            &dedupe_key,
        ],
    )
    .await?;
    rows.first()
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(Into::into)
}
