//! The rules of the alert and notification reads: any role reads a
//! project's alerts and a channel's notifications; editors and up
//! acknowledge alerts and test channels. A test makes one attempt, now,
//! through the same sender as real notifications, and is listed with them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::{
    alert::{Alert, AlertState},
    delivery::Sender,
    notification::{EventType, Notification},
    payload,
};
use crate::{
    auth::{Caller, Role},
    error::ApiError,
    etag::{check_etag, new_etag},
    names::{AlertName, ChannelName, ProjectId},
    paging::PageRequest,
    store::{
        self, StoreError,
        alert_notifications::{self as outbox, Next},
    },
};

/// How long a test's own lease on its notification lasts.
const TEST_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Clone)]
pub struct AlertLog {
    pool: Pool,
    sender: Arc<Sender>,
}

/// A list key: the row's time in microseconds, then its id.
fn key(time: DateTime<Utc>, id: &str) -> String {
    format!("{}.{id}", time.timestamp_micros())
}

fn parse_key(page: &PageRequest) -> Result<Option<(DateTime<Utc>, String)>, ApiError> {
    let Some(after) = &page.after else {
        return Ok(None);
    };
    after
        .split_once('.')
        .and_then(|(micros, id)| {
            let time = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            Some(Some((time, id.to_owned())))
        })
        .ok_or_else(|| ApiError::invalid_field("page_token", "is not a token this API issued"))
}

impl AlertLog {
    pub fn new(pool: Pool, sender: Arc<Sender>) -> Self {
        Self { pool, sender }
    }

    pub async fn list(
        &self,
        caller: &Caller,
        project: &ProjectId,
        state: Option<AlertState>,
        page: &PageRequest,
    ) -> Result<(Vec<Alert>, String), ApiError> {
        caller.require(project, Role::Viewer)?;
        let after = parse_key(page)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut alerts = store::alerts::list(
            &client,
            project,
            state,
            after.as_ref().map(|(t, id)| (*t, id.as_str())),
            page.fetch_limit(),
        )
        .await?;
        let next = page.finish(&mut alerts, |a| key(a.fire_time, a.name.id.as_str()));
        Ok((alerts, next))
    }

    pub async fn get(&self, caller: &Caller, name: &AlertName) -> Result<Alert, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::alerts::get(&client, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn acknowledge(
        &self,
        caller: &Caller,
        name: &AlertName,
        etag: Option<&str>,
    ) -> Result<Alert, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::alerts::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        let acknowledged = store::alerts::acknowledge(&tx, name, caller.subject(), &new_etag())
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(acknowledged)
    }

    pub async fn notifications(
        &self,
        caller: &Caller,
        channel: &ChannelName,
        page: &PageRequest,
    ) -> Result<(Vec<Notification>, String), ApiError> {
        caller.require(&channel.project, Role::Viewer)?;
        let after = parse_key(page)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        require_channel(&client, channel).await?;
        let mut found = outbox::list(
            &client,
            channel,
            after.as_ref().map(|(t, id)| (*t, id.as_str())),
            page.fetch_limit(),
        )
        .await?;
        let next = page.finish(&mut found, |n| key(n.create_time, &n.id));
        Ok((found, next))
    }

    /// Sends a sample notification now, once, and returns it with its
    /// attempt.
    pub async fn test_channel(
        &self,
        caller: &Caller,
        channel: &ChannelName,
    ) -> Result<Notification, ApiError> {
        caller.require(&channel.project, Role::Editor)?;
        let owner = Uuid::new_v4();
        let body = payload::test(channel, Utc::now());
        let client = self.pool.get().await.map_err(StoreError::from)?;
        require_channel(&client, channel).await?;
        let due =
            outbox::insert_leased(&client, channel, EventType::Test, &body, owner, TEST_LEASE)
                .await?
                .ok_or_else(|| ApiError::not_found(channel))?;
        // No pooled connection is held while the endpoint takes its time.
        drop(client);
        let attempt = self.sender.attempt(&due).await;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let next = if attempt.ok {
            Next::Delivered
        } else {
            Next::DeadLetter
        };
        outbox::record_attempt(&client, &due, owner, &attempt, next).await?;
        tracing::info!(%channel, ok = attempt.ok, "test notification sent");
        outbox::get(&client, channel, &due.id)
            .await?
            .ok_or_else(|| ApiError::internal("a test notification vanished", due.id.clone()))
    }
}

async fn require_channel(
    client: &impl deadpool_postgres::GenericClient,
    channel: &ChannelName,
) -> Result<(), ApiError> {
    match store::notification_channels::get(client, channel, false).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(channel)),
    }
}
