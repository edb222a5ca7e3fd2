//! Writes an action's progress and state changes, each with its event on
//! the project's watch stream, fenced on the worker's lease.

use deadpool_postgres::Pool;

use super::model::{Action, ActionState};
use crate::{
    alerts::{
        Alerting,
        observation::{Observation, Observed, Sample, Source},
    },
    names::{ActionName, ConnectionName},
    providers::{EffectError, Report},
    status::{bus::EventBus, events::EventPayload},
    store::{
        self, StoreError,
        action_queue::{Finish, Lease},
    },
};

/// The event a watcher sees for an action's change.
pub fn event(
    action: &ActionName,
    connection: &str,
    state: ActionState,
    percent: i32,
    message: &str,
) -> EventPayload {
    EventPayload::ActionProgress {
        action: action.to_string(),
        connection: connection.to_owned(),
        state,
        percent,
        message: message.to_owned(),
    }
}

/// Whether `payload` is progress of the action `name`.
pub fn is_about(payload: &EventPayload, name: &ActionName) -> bool {
    matches!(payload, EventPayload::ActionProgress { action, .. } if *action == name.to_string())
}

/// One claimed attempt's writer.
#[derive(Clone)]
pub struct Progress {
    pool: Pool,
    bus: EventBus,
    alerting: Alerting,
    name: ActionName,
    connection_name: ConnectionName,
    connection: String,
    lease: Lease,
}

impl Progress {
    pub fn new(
        pool: Pool,
        bus: EventBus,
        alerting: Alerting,
        action: &Action,
        lease: Lease,
    ) -> Self {
        Self {
            pool,
            bus,
            alerting,
            name: action.name.clone(),
            connection_name: action.connection.clone(),
            connection: action.connection.to_string(),
            lease,
        }
    }

    /// Reports progress; false when the lease was lost.
    pub async fn report(&self, percent: i32, message: &str) -> Result<bool, StoreError> {
        let percent = percent.clamp(0, 100);
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let kept =
            store::action_queue::progress(&tx, &self.name, self.lease, percent, message).await?;
        if kept {
            let payload = event(
                &self.name,
                &self.connection,
                ActionState::Running,
                percent,
                message,
            );
            store::status::append(&tx, &self.name.project, &payload).await?;
        }
        tx.commit().await?;
        self.bus.wake();
        Ok(kept)
    }

    /// Records that the effect is about to reach the provider (a repeat
    /// nothing can check when `unconfirmed`); false when the lease was lost.
    pub async fn effect_starting(&self, unconfirmed: bool) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        store::action_queue::effect_starting(&client, &self.name, self.lease, unconfirmed).await
    }

    /// Ends the attempt; false when the lease was lost.
    pub async fn finish(
        &self,
        finish: Finish<'_>,
        state: ActionState,
        percent: i32,
        message: &str,
    ) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let ok = match finish {
            Finish::Succeeded(_) => Some(true),
            Finish::Failed(_) | Finish::Retry(..) => Some(false),
            Finish::Cancelled => None,
        };
        let kept = store::action_queue::finish(&tx, &self.name, self.lease, finish).await?;
        let mut raised = Default::default();
        if kept {
            // The event log's lock before the alert rows the rules lock.
            let payload = event(&self.name, &self.connection, state, percent, message);
            store::status::append(&tx, &self.name.project, &payload).await?;
            // Each attempt's outcome is one observation for the alert rules.
            if let Some(ok) = ok {
                let observation = Observation {
                    connection: self.connection_name.clone(),
                    observed: Observed::Action(Sample {
                        source: Source::Action,
                        ok,
                        reason: None,
                        rate_limit_remaining: None,
                    }),
                };
                raised = self.alerting.observe(&tx, &observation).await?;
            }
        }
        tx.commit().await?;
        self.bus.wake();
        self.alerting.announce(raised);
        if kept && state.is_final() {
            // A run waiting for this action looks again now rather than at
            // its next poll. Its own transaction: a run's row is never
            // waited on while this action's is held.
            if let Err(e) = store::automation_runs::action_finished(&client, &self.name).await {
                tracing::debug!(error = %crate::error::ErrorChain(&e), "could not nudge the runs waiting for this action");
            }
        }
        Ok(kept)
    }
}

/// Providers' actions report through the attempt's writer; a lost lease
/// shows at the attempt's end, not here.
#[tonic::async_trait]
impl Report for Progress {
    async fn report(&self, percent: i32, message: &str) -> Result<(), EffectError> {
        Progress::report(self, percent, message).await?;
        Ok(())
    }
}
