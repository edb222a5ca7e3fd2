//! Logs queued alert changes on their projects' watch streams, on every
//! replica: woken after a commit that queued one, and on a poll, so a change
//! whose replica died before logging it is logged by another. Its own loop,
//! so a busy event log never holds up notifications.

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    status::bus::EventBus,
    store::{self, StoreError},
};

/// Alert changes moved into the event log per transaction.
const BATCH: i64 = 500;

pub struct Announcer {
    pool: Pool,
    bus: EventBus,
    wake: Arc<Notify>,
    poll: Duration,
}

impl Announcer {
    pub fn new(pool: Pool, bus: EventBus, wake: Arc<Notify>, poll: Duration) -> Self {
        Self {
            pool,
            bus,
            wake,
            poll,
        }
    }

    pub async fn run(self, token: CancellationToken) {
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
            if let Err(e) = self.log_waiting().await {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "logging alert events failed");
            }
        }
    }

    /// Moves every queued alert change into the event log and wakes the
    /// watchers.
    async fn log_waiting(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        if !store::alert_announcements::any_waiting(&client).await? {
            return Ok(());
        }
        loop {
            let tx = client.transaction().await?;
            let moved = store::alert_announcements::log_waiting(&tx, BATCH).await?;
            tx.commit().await?;
            if moved > 0 {
                self.bus.wake();
            }
            if moved < BATCH.unsigned_abs() {
                return Ok(());
            }
        }
    }
}
