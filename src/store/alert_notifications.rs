//! SQL for `alert_notifications` and `notification_attempts`: the outbox
//! alert changes are written to, and the delivery attempts kept with it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, query, query_opt};
use crate::{
    alerts::{
        model::ChannelTarget,
        notification::{Attempt, EventType, Notification, NotificationState},
    },
    crypto::Sealed,
    names::{ChannelName, ProjectId, ResourceId},
};

const COLUMNS: &str = "n.project, n.id, n.channel, n.alert, n.event_type, n.state, n.attempts, \
                       n.create_time, n.deliver_time, n.next_attempt_at";

fn channel_from(row: &Row) -> Result<ChannelName, StoreError> {
    let corrupt = |what| move |e| StoreError::corrupt(what, e);
    Ok(ChannelName {
        project: ProjectId::parse(row.try_get("project")?)
            .map_err(corrupt("notification project"))?,
        id: ResourceId::parse("notification channel", row.try_get("channel")?)
            .map_err(corrupt("notification channel"))?,
    })
}

fn event_from(row: &Row) -> Result<EventType, StoreError> {
    let event: String = row.try_get("event_type")?;
    EventType::parse(&event).ok_or_else(|| StoreError::corrupt("notification event", event))
}

fn from_row(row: &Row) -> Result<Notification, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(Notification {
        channel: channel_from(row)?,
        id: row.try_get("id")?,
        alert: row.try_get("alert")?,
        event_type: event_from(row)?,
        state: NotificationState::parse(&state)
            .ok_or_else(|| StoreError::corrupt("notification state", state.clone()))?,
        attempts: Vec::new(),
        create_time: row.try_get("create_time")?,
        deliver_time: row.try_get("deliver_time")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
    })
}

/// Queues one notification per channel; their ids, in `channels` order.
pub async fn enqueue(
    client: &impl GenericClient,
    channels: &[ChannelName],
    alert: Option<&str>,
    event: EventType,
    payload: &serde_json::Value,
) -> Result<Vec<String>, StoreError> {
    let Some(first) = channels.first() else {
        return Ok(Vec::new());
    };
    let ids: Vec<String> = channels
        .iter()
        .map(|_| crate::alerts::notification::new_id())
        .collect();
    let channel_ids: Vec<&str> = channels.iter().map(|c| c.id.as_str()).collect();
    execute(
        client,
        "INSERT INTO alert_notifications (project, id, channel, alert, event_type, payload) \
         SELECT $1, id, channel, $4, $5, $6 FROM unnest($2::text[], $3::text[]) AS u(id, channel)",
        &[
            &first.project.as_str(),
            &ids,
            &channel_ids,
            &alert,
            &event.as_str(),
            payload,
        ],
    )
    .await?;
    Ok(ids)
}

/// A notification whose attempt is due, with where and how to send it.
#[derive(Debug)]
pub struct Due {
    pub channel: ChannelName,
    pub id: String,
    pub event_type: EventType,
    pub payload: serde_json::Value,
    /// Attempts made before this one.
    pub attempts: i32,
    pub target: ChannelTarget,
    pub secret: Option<Sealed>,
}

const DUE_COLUMNS: &str = "n.project, n.id, n.channel, n.event_type, n.payload, n.attempts, \
                           c.kind, c.uri, c.recipients, c.signing_secret, c.signing_secret_key_id";

fn due_from(row: &Row) -> Result<Due, StoreError> {
    let kind: String = row.try_get("kind")?;
    let target = match kind.as_str() {
        "webhook" => ChannelTarget::Webhook {
            uri: row
                .try_get::<_, Option<String>>("uri")?
                .ok_or_else(|| StoreError::corrupt("channel uri", "missing"))?,
        },
        _ => ChannelTarget::Email {
            to: row.try_get("recipients")?,
        },
    };
    let secret = match (
        row.try_get::<_, Option<Vec<u8>>>("signing_secret")?,
        row.try_get::<_, Option<String>>("signing_secret_key_id")?,
    ) {
        (Some(bytes), Some(key_id)) => Some(Sealed { bytes, key_id }),
        _ => None,
    };
    Ok(Due {
        channel: channel_from(row)?,
        id: row.try_get("id")?,
        event_type: event_from(row)?,
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
        target,
        secret,
    })
}

/// Takes the lease of up to `limit` pending notifications that are due.
pub async fn claim_due(
    client: &impl GenericClient,
    owner: Uuid,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Due>, StoreError> {
    let sql = format!(
        "WITH due AS ( \
           SELECT project, id FROM alert_notifications \
           WHERE state = 'pending' AND next_attempt_at <= now() \
             AND (lease_expires_at IS NULL OR lease_expires_at < now()) \
           ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         UPDATE alert_notifications n SET lease_owner = $1, \
           lease_expires_at = now() + $2 * interval '1 second' \
         FROM due, notification_channels c \
         WHERE n.project = due.project AND n.id = due.id \
           AND c.project = n.project AND c.id = n.channel \
         RETURNING {DUE_COLUMNS}"
    );
    query(client, &sql, &[&owner, &lease.as_secs_f64(), &limit])
        .await?
        .iter()
        .map(due_from)
        .collect()
}

/// Queues a test notification already leased to `owner`, so it is sent
/// by its caller, once; what to send.
pub async fn insert_leased(
    client: &impl GenericClient,
    channel: &ChannelName,
    event: EventType,
    payload: &serde_json::Value,
    owner: Uuid,
    lease: Duration,
) -> Result<Option<Due>, StoreError> {
    let sql = format!(
        "WITH n AS ( \
           INSERT INTO alert_notifications \
             (project, id, channel, event_type, payload, lease_owner, lease_expires_at) \
           VALUES ($1, $3, $2, $4, $5, $6, now() + $7 * interval '1 second') RETURNING *) \
         SELECT {DUE_COLUMNS} FROM n JOIN notification_channels c \
           ON c.project = n.project AND c.id = n.channel"
    );
    let row = query_opt(
        client,
        &sql,
        &[
            &channel.project.as_str(),
            &channel.id.as_str(),
            &crate::alerts::notification::new_id(),
            &event.as_str(),
            payload,
            &owner,
            &lease.as_secs_f64(),
        ],
    )
    .await?;
    row.as_ref().map(due_from).transpose()
}

/// Where a notification goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    DeadLetter,
}

/// Records an attempt and what follows it, fenced on the lease; false when
/// the lease was lost (another replica's attempt counts instead).
pub async fn record_attempt(
    client: &impl GenericClient,
    due: &Due,
    owner: Uuid,
    attempt: &Attempt,
    next: Next,
) -> Result<bool, StoreError> {
    let (state, retry_in) = match next {
        Next::Delivered => ("delivered", 0.0),
        Next::RetryIn(wait) => ("pending", wait.as_secs_f64()),
        Next::DeadLetter => ("dead_letter", 0.0),
    };
    let project = due.channel.project.as_str();
    let error = attempt.error.as_str();
    let n = execute(
        client,
        "UPDATE alert_notifications SET state = $4, attempts = $5, last_error = $6, \
           next_attempt_at = now() + $7 * interval '1 second', lease_owner = NULL, \
           lease_expires_at = NULL, \
           deliver_time = CASE WHEN $4 = 'delivered' THEN now() ELSE NULL END \
         WHERE project = $1 AND id = $2 AND lease_owner = $3 AND state = 'pending'",
        &[
            &project,
            &due.id,
            &owner,
            &state,
            &attempt.attempt,
            &error,
            &retry_in,
        ],
    )
    .await?;
    if n == 0 {
        return Ok(false);
    }
    execute(
        client,
        "INSERT INTO notification_attempts \
           (project, notification, attempt, time, ok, status_code, error, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &project,
            &due.id,
            &attempt.attempt,
            &attempt.time,
            &attempt.ok,
            &attempt.status_code,
            &error,
            &attempt.duration_ms,
        ],
    )
    .await?;
    Ok(true)
}

/// A page of a channel's notifications, newest first, with their attempts.
pub async fn list(
    client: &impl GenericClient,
    channel: &ChannelName,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let (time, id) = after.unzip();
    let sql = format!(
        "SELECT {COLUMNS} FROM alert_notifications n WHERE n.project = $1 AND n.channel = $2 \
           AND ($3::timestamptz IS NULL OR (n.create_time, n.id) < ($3, $4)) \
         ORDER BY n.create_time DESC, n.id DESC LIMIT $5"
    );
    let project = channel.project.as_str();
    let rows = query(
        client,
        &sql,
        &[&project, &channel.id.as_str(), &time, &id, &limit],
    )
    .await?;
    let mut notifications = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    with_attempts(client, project, &mut notifications).await?;
    Ok(notifications)
}

/// One notification of `channel`, with its attempts.
pub async fn get(
    client: &impl GenericClient,
    channel: &ChannelName,
    id: &str,
) -> Result<Option<Notification>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alert_notifications n \
         WHERE n.project = $1 AND n.channel = $2 AND n.id = $3"
    );
    let project = channel.project.as_str();
    let row = query_opt(client, &sql, &[&project, &channel.id.as_str(), &id]).await?;
    let Some(row) = row else { return Ok(None) };
    let mut one = vec![from_row(&row)?];
    with_attempts(client, project, &mut one).await?;
    Ok(one.pop())
}

async fn with_attempts(
    client: &impl GenericClient,
    project: &str,
    notifications: &mut [Notification],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = notifications.iter().map(|n| n.id.as_str()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let rows = query(
        client,
        "SELECT notification, attempt, time, ok, status_code, error, duration_ms \
         FROM notification_attempts WHERE project = $1 AND notification = ANY($2) \
         ORDER BY notification, attempt",
        &[&project, &ids],
    )
    .await?;
    for row in &rows {
        let id: String = row.try_get(0)?;
        let attempt = Attempt {
            attempt: row.try_get(1)?,
            time: row.try_get(2)?,
            ok: row.try_get(3)?,
            status_code: row.try_get(4)?,
            error: row.try_get(5)?,
            duration_ms: row.try_get(6)?,
        };
        if let Some(n) = notifications.iter_mut().find(|n| n.id == id) {
            n.attempts.push(attempt);
        }
    }
    Ok(())
}

/// Deletes up to `limit` finished notifications created before `before`
/// (their attempts go with them).
pub async fn purge_batch(
    client: &impl GenericClient,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM alert_notifications WHERE (project, id) IN \
           (SELECT project, id FROM alert_notifications \
            WHERE state <> 'pending' AND create_time < $1 ORDER BY create_time LIMIT $2)",
        &[&before, &limit],
    )
    .await
}
