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
    alerts::Alerting,
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

/// The first and the longest wait between tries to record an attempt's end.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(2);

/// How an attempt ended, held until it is recorded.
enum End {
    Cancelled,
    Succeeded(Map<String, serde_json::Value>),
    Retry { wait: Duration, why: String },
    Failed { details: Vec<u8>, message: String },
}

impl End {
    fn outcome(&self) -> ActionOutcome {
        match self {
            Self::Cancelled => ActionOutcome::Cancelled,
            Self::Succeeded(_) => ActionOutcome::Succeeded,
            Self::Retry { .. } => ActionOutcome::Retrying,
            Self::Failed { .. } => ActionOutcome::Failed,
        }
    }

    /// Writes the end; false when the lease was lost.
    async fn record(&self, progress: &Progress, percent: i32) -> Result<bool, StoreError> {
        match self {
            Self::Cancelled => {
                progress
                    .finish(
                        Finish::Cancelled,
                        ActionState::Cancelled,
                        percent,
                        "cancelled",
                    )
                    .await
            }
            Self::Succeeded(result) => {
                progress
                    .finish(
                        Finish::Succeeded(result),
                        ActionState::Succeeded,
                        100,
                        "done",
                    )
                    .await
            }
            Self::Retry { wait, why } => {
                progress
                    .finish(
                        Finish::Retry(*wait, why),
                        ActionState::Pending,
                        percent,
                        &format!("retrying: {why}"),
                    )
                    .await
            }
            Self::Failed { details, message } => {
                progress
                    .finish(
                        Finish::Failed(details),
                        ActionState::Failed,
                        percent,
                        message,
                    )
                    .await
            }
        }
    }
}

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
    alerting: Alerting,
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
            alerting: Alerting::default(),
        }
    }

    /// Reports each attempt's outcome to the alert rules through `alerting`.
    pub fn with_alerting(mut self, alerting: Alerting) -> Self {
        self.alerting = alerting;
        self
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
        let progress = Progress::new(
            self.pool.clone(),
            self.bus.clone(),
            self.alerting.clone(),
            &action,
            lease,
        );
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
        let end = match outcome {
            Err(Interrupt::LeaseLost) => {
                tracing::warn!("the lease was lost; another worker owns the action now");
                return;
            }
            Err(Interrupt::Cancelled) => End::Cancelled,
            Ok(Ok(result)) => {
                tracing::info!("action succeeded");
                End::Succeeded(result)
            }
            Ok(Err(failure)) => self.failed(&action, failure),
        };
        let counted = end.outcome();
        // The effect is done and its end known: keep trying to record it
        // through a database outage, or a retry would run the effect again.
        let mut wait = RECORD_RETRY_FIRST;
        loop {
            match end.record(&progress, action.progress_percent).await {
                Ok(true) => {
                    self.metrics.action_ended(counted);
                    break;
                }
                Ok(false) => {
                    tracing::warn!("the lease was lost before the attempt could be recorded");
                    break;
                }
                Err(e) if token.is_cancelled() => {
                    // Stopping: the lease expires and another attempt runs.
                    tracing::warn!(error = %crate::error::ErrorChain(&e), "recording the attempt failed while stopping");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error::ErrorChain(&e), retry_in = ?wait, "recording the attempt failed; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = token.cancelled() => {}
                    }
                    wait = (wait * 2).min(RECORD_RETRY_MAX);
                }
            }
        }
        if token.is_cancelled() {
            tracing::debug!("stopping after this attempt");
        }
    }

    /// How a failed attempt ends: another attempt later, or the action
    /// failed.
    fn failed(&self, action: &Action, failure: EffectError) -> End {
        if self.retries(action, &failure) {
            let attempts = u32::try_from(action.attempts).unwrap_or(u32::MAX);
            let wait = failure
                .retry_after
                .unwrap_or_else(|| backoff(self.config.retry_base, attempts));
            let why = failure.error.public_message().to_owned();
            tracing::info!(retry_in = ?wait, error = %why, "attempt failed; retrying");
            return End::Retry { wait, why };
        }
        let message = failure.error.public_message().to_owned();
        tracing::info!(error = %failure.error, "action failed");
        let status = tonic::Status::from(failure.error);
        End::Failed {
            details: status.details().to_vec(),
            message,
        }
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
        let effect = self.effects.run(action, progress);
        tokio::pin!(effect);
        let outcome = tokio::select! {
            result = &mut effect => Ok(result),
            Ok(interrupt) = interrupt_rx => Err(interrupt),
            () = token.cancelled() => {
                // Stopping: an effect dropped midway is one a retry may
                // repeat, so it gets the shutdown grace to finish; past it,
                // the action is given back (see `run`).
                match tokio::time::timeout(self.config.stop_grace, &mut effect).await {
                    Ok(result) => Ok(result),
                    Err(_) => Err(Interrupt::LeaseLost),
                }
            }
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
