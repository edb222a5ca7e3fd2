//! The notification outbox's delivery loop, on every replica: claim due
//! notifications under a lease (so two replicas never send one at once),
//! make one attempt each, record it, and either mark it delivered, retry
//! it after a jittered backoff, or dead-letter it after the last attempt.
//! The same loop resolves alerts whose quiet period has passed.

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    Alerting,
    delivery::{AlertConfig, Sender},
};
use crate::{
    backoff::backoff,
    store::{
        self, StoreError,
        alert_notifications::{Due, Next},
    },
};

/// Notifications claimed per round.
const BATCH: i64 = 16;

/// How long a claim lasts: far longer than one attempt's timeout.
const LEASE: Duration = Duration::from_secs(120);

pub struct Dispatcher {
    pool: Pool,
    alerting: Alerting,
    sender: Arc<Sender>,
    config: AlertConfig,
    owner: Uuid,
}

impl Dispatcher {
    pub fn new(pool: Pool, alerting: Alerting, sender: Arc<Sender>, config: AlertConfig) -> Self {
        Self {
            pool,
            alerting,
            sender,
            config,
            owner: Uuid::new_v4(),
        }
    }

    pub async fn run(self, token: CancellationToken) {
        let wake = self.alerting.dispatch_wake();
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(self.config.poll) => {}
            }
            if let Err(e) = self.alerting.sweep_quiet(&self.pool).await {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "resolving quiet alerts failed");
            }
            loop {
                match self.round().await {
                    Ok(n) if n < BATCH as usize => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %crate::error::ErrorChain(&e), "delivering notifications failed");
                        break;
                    }
                }
                if token.is_cancelled() {
                    return;
                }
            }
        }
    }

    /// One batch: claimed, attempted side by side, recorded.
    async fn round(&self) -> Result<usize, StoreError> {
        let due = {
            let client = self.pool.get().await?;
            store::alert_notifications::claim_due(&client, self.owner, LEASE, BATCH).await?
        };
        let attempts = join_all(due.iter().map(|d| self.sender.attempt(d))).await;
        let client = self.pool.get().await?;
        for (due, attempt) in due.iter().zip(&attempts) {
            let next = next(due, attempt.ok, &self.config);
            log_attempt(due, attempt, next);
            let kept =
                store::alert_notifications::record_attempt(&client, due, self.owner, attempt, next)
                    .await?;
            if !kept {
                tracing::warn!(notification = %due.id, "a notification's lease was lost before its attempt was recorded");
            }
        }
        Ok(due.len())
    }
}

/// What follows an attempt.
fn next(due: &Due, ok: bool, config: &AlertConfig) -> Next {
    let made = u32::try_from(due.attempts).unwrap_or(0).saturating_add(1);
    if ok {
        Next::Delivered
    } else if made >= config.attempts {
        Next::DeadLetter
    } else {
        Next::RetryIn(backoff(config.retry_base, made))
    }
}

fn log_attempt(due: &Due, attempt: &crate::alerts::notification::Attempt, next: Next) {
    let (channel, id, n) = (&due.channel, &due.id, attempt.attempt);
    match next {
        Next::Delivered => {
            tracing::info!(%channel, notification = %id, attempt = n, "notification delivered");
        }
        Next::RetryIn(wait) => {
            tracing::info!(%channel, notification = %id, attempt = n, error = %attempt.error, retry_in = ?wait, "notification attempt failed; retrying");
        }
        Next::DeadLetter => {
            tracing::warn!(%channel, notification = %id, attempt = n, error = %attempt.error, "notification dead-lettered after its last attempt");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        alerts::{model::ChannelTarget, notification::EventType},
        names::ChannelName,
    };

    fn due(attempts: i32) -> Due {
        Due {
            channel: ChannelName::parse("projects/p/notificationChannels/c").expect("name"),
            id: "msg_1".into(),
            event_type: EventType::Fired,
            payload: serde_json::Value::Null,
            attempts,
            target: ChannelTarget::Email { to: vec![] },
            secret: None,
        }
    }

    #[test]
    fn retries_until_the_last_attempt_then_dead_letters() {
        let config = AlertConfig {
            attempts: 3,
            retry_base: Duration::from_secs(10),
            ..AlertConfig::default()
        };
        assert_eq!(next(&due(0), true, &config), Next::Delivered);
        assert_eq!(next(&due(2), true, &config), Next::Delivered);
        let Next::RetryIn(first) = next(&due(0), false, &config) else {
            panic!("the first failure is retried");
        };
        assert!(first >= Duration::from_secs(5) && first <= Duration::from_secs(10));
        let Next::RetryIn(second) = next(&due(1), false, &config) else {
            panic!("the second failure is retried");
        };
        assert!(second >= Duration::from_secs(10) && second <= Duration::from_secs(20));
        assert_eq!(next(&due(2), false, &config), Next::DeadLetter);
    }
}
