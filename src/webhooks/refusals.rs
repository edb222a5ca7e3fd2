//! Refused requests counted in memory per connection and reason, and
//! written every few seconds: a flood of forged requests must not become a
//! flood of database writes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

use crate::{names::ConnectionName, store};

type Counts = HashMap<(ConnectionName, &'static str), (i64, DateTime<Utc>)>;

#[derive(Clone, Default)]
pub struct Refusals {
    counts: Arc<Mutex<Counts>>,
}

impl Refusals {
    /// Counts one refusal: a map update, nothing more.
    pub fn record(&self, connection: &ConnectionName, reason: &'static str) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = counts
            .entry((connection.clone(), reason))
            .or_insert((0, Utc::now()));
        entry.0 += 1;
        entry.1 = Utc::now();
    }

    /// Writes what was counted; counts that could not be written are kept
    /// for the next flush.
    pub async fn flush(&self, pool: &Pool) {
        let taken = std::mem::take(
            &mut *self
                .counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if taken.is_empty() {
            return;
        }
        let mut failed = Counts::new();
        match pool.get().await {
            Ok(client) => {
                for ((connection, reason), (count, last)) in taken {
                    if let Err(e) =
                        store::webhook_refusals::add(&client, &connection, reason, count, last)
                            .await
                    {
                        tracing::debug!(error = %crate::error::ErrorChain(&e), "refusal counts not written");
                        failed.insert((connection, reason), (count, last));
                    }
                }
            }
            Err(_) => failed = taken,
        }
        if !failed.is_empty() {
            let mut counts = self
                .counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (key, (count, last)) in failed {
                let entry = counts.entry(key).or_insert((0, last));
                entry.0 += count;
                entry.1 = entry.1.max(last);
            }
        }
    }

    /// Flushes every `every`, and once more when cancelled.
    pub async fn run(self, pool: Pool, every: Duration, token: CancellationToken) {
        loop {
            tokio::select! {
                () = token.cancelled() => {
                    self.flush(&pool).await;
                    return;
                }
                () = tokio::time::sleep(every) => self.flush(&pool).await,
            }
        }
    }
}
