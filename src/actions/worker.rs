//! Workers: claim runnable actions (FOR UPDATE SKIP LOCKED), keep the lease
//! alive with heartbeats while the effect runs, stop when the action is
//! cancelled or the lease is lost, and end each attempt: succeeded, failed
//! with a google.rpc.Status, cancelled, or back in the queue with backoff.

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use serde_json::Map;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use super::{
    ActionConfig, Wake,
    effects::Effects,
    model::{Action, ActionState},
    progress::{self, Progress},
};
use crate::{
    backoff::backoff,
    error::{ApiError, ErrorCode},
    metrics::{ActionOutcome, Metrics},
    providers::EffectError,
    status::bus::{BusEvent, EventBus},
    store::{
        self, StoreError,
        action_queue::{Finish, Lease},
    },
};

/// Why an attempt stopped before its effect finished.
enum Interrupt {
    Cancelled,
    LeaseLost,
}

#[derive(Clone)]
pub struct Workers {
    pool: Pool,
    bus: EventBus,
    effects: Effects,
    config: Arc<ActionConfig>,
    owner: Uuid,
    wake: Wake,
    metrics: Metrics,
}

impl Workers {
    pub fn new(
        pool: Pool,
        bus: EventBus,
        effects: Effects,
        config: Arc<ActionConfig>,
        owner: Uuid,
        wake: Wake,
        metrics: Metrics,
    ) -> Self {
        Self {
            pool,
            bus,
            effects,
            config,
            owner,
            wake,
            metrics,
        }
    }

    /// Runs the configured number of workers until `token` is cancelled,
    /// then puts this replica's unfinished actions back in the queue.
    pub async fn run(self, token: CancellationToken) {
        let loops: Vec<_> = (0..self.config.workers.max(1))
            .map(|_| tokio::spawn(self.clone().work(token.clone())))
            .collect();
        for handle in loops {
            let _ = handle.await;
        }
        let released = async {
            let client = self.pool.get().await?;
            store::action_queue::release(&client, self.owner).await
        }
        .await;
        match released {
            Ok(0) => {}
            Ok(n) => tracing::info!(actions = n, "unfinished actions returned to the queue"),
            Err(e) => {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "returning unfinished actions failed")
            }
        }
    }

    async fn work(self, token: CancellationToken) {
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll) => {}
            }
            loop {
                if token.is_cancelled() {
                    return;
                }
                let claimed = async {
                    let client = self.pool.get().await?;
                    store::action_queue::claim(&client, self.owner, self.config.lease).await
                }
                .await;
                match claimed {
                    Ok(Some(action)) => {
                        let span = tracing::info_span!("action", action = %action.name, kind = %action.action, attempt = action.attempts);
                        self.attempt(action, &token).instrument(span).await;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %crate::error::ErrorChain(&e), "claiming an action failed");
                        break;
                    }
                }
            }
        }
    }

    async fn attempt(&self, action: Action, token: &CancellationToken) {
        let lease = Lease {
            owner: self.owner,
            attempt: action.attempts,
        };
        let progress = Progress::new(self.pool.clone(), self.bus.clone(), &action, lease);
        let outcome = if action.cancel_requested {
            Err(Interrupt::Cancelled)
        } else if action.attempts > action.max_attempts {
            // Its last attempt's worker died: nothing is left to try.
            Ok(Err(EffectError::permanent(ApiError::new(
                ErrorCode::Aborted,
                "ATTEMPTS_EXHAUSTED",
                "the action's workers stopped before it finished, on every attempt",
            ))))
        } else {
            let message = format!("attempt {} of {}", action.attempts, action.max_attempts);
            match progress.report(action.progress_percent, &message).await {
                Ok(true) => self.run_with_heartbeat(&action, &progress, token).await,
                Ok(false) => Err(Interrupt::LeaseLost),
                Err(e) => Ok(Err(e.into())),
            }
        };
        let (ended, counted) = match outcome {
            Err(Interrupt::LeaseLost) => {
                tracing::warn!("the lease was lost; another worker owns the action now");
                return;
            }
            Err(Interrupt::Cancelled) => {
                let ended = progress
                    .finish(
                        Finish::Cancelled,
                        ActionState::Cancelled,
                        action.progress_percent,
                        "cancelled",
                    )
                    .await;
                (ended, ActionOutcome::Cancelled)
            }
            Ok(Ok(result)) => (
                self.succeed(&progress, &result).await,
                ActionOutcome::Succeeded,
            ),
            Ok(Err(failure)) => {
                let counted = if self.retries(&action, &failure) {
                    ActionOutcome::Retrying
                } else {
                    ActionOutcome::Failed
                };
                (self.fail(&action, &progress, failure).await, counted)
            }
        };
        match ended {
            Ok(true) => self.metrics.action_ended(counted),
            Ok(false) => tracing::warn!("the lease was lost before the attempt could be recorded"),
            Err(e) => {
                // The lease expires and another attempt picks the action up.
                tracing::warn!(error = %crate::error::ErrorChain(&e), "recording the attempt failed");
            }
        }
        if token.is_cancelled() {
            tracing::debug!("stopping after this attempt");
        }
    }

    async fn succeed(
        &self,
        progress: &Progress,
        result: &Map<String, serde_json::Value>,
    ) -> Result<bool, StoreError> {
        tracing::info!("action succeeded");
        progress
            .finish(
                Finish::Succeeded(result),
                ActionState::Succeeded,
                100,
                "done",
            )
            .await
    }

    async fn fail(
        &self,
        action: &Action,
        progress: &Progress,
        failure: EffectError,
    ) -> Result<bool, StoreError> {
        if self.retries(action, &failure) {
            let attempts = u32::try_from(action.attempts).unwrap_or(u32::MAX);
            let wait = failure
                .retry_after
                .unwrap_or_else(|| backoff(self.config.retry_base, attempts));
            let why = failure.error.public_message().to_owned();
            tracing::info!(retry_in = ?wait, error = %why, "attempt failed; retrying");
            return progress
                .finish(
                    Finish::Retry(wait, &why),
                    ActionState::Pending,
                    action.progress_percent,
                    &format!("retrying: {why}"),
                )
                .await;
        }
        let message = failure.error.public_message().to_owned();
        tracing::info!(error = %failure.error, "action failed");
        let status = tonic::Status::from(failure.error);
        progress
            .finish(
                Finish::Failed(status.details()),
                ActionState::Failed,
                action.progress_percent,
                &message,
            )
            .await
    }

    /// Whether `failure` leaves the action another attempt.
    fn retries(&self, action: &Action, failure: &EffectError) -> bool {
        let attempts = u32::try_from(action.attempts).unwrap_or(u32::MAX);
        failure.transient && attempts < self.config.max_attempts
    }

    /// Runs the effect while a heartbeat keeps the lease; stops early when
    /// the action is cancelled, the lease is lost, or the server stops.
    async fn run_with_heartbeat(
        &self,
        action: &Action,
        progress: &Progress,
        token: &CancellationToken,
    ) -> Result<Result<Map<String, serde_json::Value>, EffectError>, Interrupt> {
        let (interrupt_tx, interrupt_rx) = oneshot::channel();
        let heartbeat = tokio::spawn(heartbeat(
            self.pool.clone(),
            self.bus.subscribe(&action.name.project),
            action.name.clone(),
            Lease {
                owner: self.owner,
                attempt: action.attempts,
            },
            self.config.lease,
            interrupt_tx,
        ));
        let outcome = tokio::select! {
            result = self.effects.run(action, progress) => Ok(result),
            Ok(interrupt) = interrupt_rx => Err(interrupt),
            // A stopping server gives its actions back (see `run`).
            () = token.cancelled() => Err(Interrupt::LeaseLost),
        };
        heartbeat.abort();
        outcome
    }
}

/// Extends the lease every third of its length, and at once when the
/// action's progress is logged (CancelAction logs its request, from any
/// replica); reports a cancel request or a lost lease.
async fn heartbeat(
    pool: Pool,
    mut events: broadcast::Receiver<Arc<BusEvent>>,
    name: crate::names::ActionName,
    lease: Lease,
    duration: Duration,
    interrupt: oneshot::Sender<Interrupt>,
) {
    let period = duration / 3;
    let mut next_beat = tokio::time::Instant::now() + period;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_beat) => {}
            event = events.recv() => match event {
                Ok(event) if progress::is_about(&event.event.payload, &name) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Closed) => {
                    // No more events: beat on the clock alone.
                    tokio::time::sleep_until(next_beat).await;
                }
            },
        }
        next_beat = tokio::time::Instant::now() + period;
        let beat = async {
            let client = pool.get().await?;
            store::action_queue::heartbeat(&client, &name, lease, duration).await
        }
        .await;
        match beat {
            Ok(Some(false)) => {}
            Ok(Some(true)) => {
                let _ = interrupt.send(Interrupt::Cancelled);
                return;
            }
            Ok(None) => {
                let _ = interrupt.send(Interrupt::LeaseLost);
                return;
            }
            Err(e) => {
                // Keep trying until the lease runs out.
                tracing::warn!(error = %crate::error::ErrorChain(&e), "action heartbeat failed");
            }
        }
    }
}
