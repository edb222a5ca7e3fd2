//! Works runs on every replica: claims due runs under a lease (so two
//! replicas never work one run at once), runs their steps in order, and
//! writes where each got to, fenced on the lease. An action step starts its
//! action with a request id made from the run and the step, so a step
//! worked again (after a crash, or a lost lease) finds the action it
//! started instead of starting another; the run then waits for it. Held
//! runs are released as their automation's rate limit allows. The steps
//! themselves are in `steps.rs`.

mod steps;

use std::sync::Arc;

use chrono::Utc;
use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    AutomationConfig,
    model::{Run, RunState},
    runs,
};
use crate::{
    actions::Actions,
    alerts::{
        Alerting,
        evaluator::Raised,
        observation::{Observation, Observed},
    },
    names::ActionName,
    status::bus::EventBus,
    store::{self, StoreError, automation_runs::Write},
};

/// Runs claimed per round.
const BATCH: i64 = 16;

/// The namespace of the request ids runs start actions with.
const REQUEST_IDS: Uuid = Uuid::from_u128(0x5b1e_4c4e_8a6d_4f0b_9a51_7a0c_2f3d_11e7);

/// The request id of step `step` of `run`: the same on every attempt.
pub fn request_id(run: &crate::names::RunName, step: usize) -> Uuid {
    Uuid::new_v5(&REQUEST_IDS, format!("{run}/steps/{step}").as_bytes())
}

pub struct Executor {
    pool: Pool,
    bus: EventBus,
    actions: Actions,
    alerting: Alerting,
    config: AutomationConfig,
    wake: Arc<Notify>,
    owner: Uuid,
}

/// Where working a run left it.
struct Worked {
    next_at: chrono::DateTime<Utc>,
    awaiting: Option<ActionName>,
}

impl Executor {
    pub fn new(
        pool: Pool,
        bus: EventBus,
        actions: Actions,
        alerting: Alerting,
        config: AutomationConfig,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            bus,
            actions,
            alerting,
            config,
            wake,
            owner: Uuid::new_v4(),
        }
    }

    pub async fn run(self, token: CancellationToken) {
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll) => {}
            }
            if let Err(e) = self.release_held().await {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "releasing held runs failed");
            }
            loop {
                let claimed = match self.claim().await {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %crate::error::ErrorChain(&e), "claiming runs failed");
                        break;
                    }
                };
                let n = claimed.len();
                for run in claimed {
                    let name = run.name.clone();
                    if let Err(e) = self.advance(run).await {
                        tracing::warn!(run = %name, error = %crate::error::ErrorChain(&e), "working a run failed; it is retried when its lease ends");
                    }
                    if token.is_cancelled() {
                        return;
                    }
                }
                if n < BATCH as usize {
                    break;
                }
            }
        }
    }

    async fn claim(&self) -> Result<Vec<Run>, StoreError> {
        let client = self.pool.get().await?;
        store::automation_runs::claim_due(&client, self.owner, self.config.lease, BATCH).await
    }

    async fn release_held(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        for automation in store::automation_runs::held_due(&client, BATCH).await? {
            let tx = client.transaction().await?;
            if !store::automations::lock(&tx, &automation).await? {
                continue;
            }
            let Some(current) = store::automations::get(&tx, &automation, false).await? else {
                continue;
            };
            let Some(version) = current.published else {
                continue;
            };
            let released = runs::release_held(&tx, &version).await?;
            for e in &released.events {
                store::status::append(&tx, &automation.project, e).await?;
            }
            // After the event log's lock: fewer held runs is what a
            // held-runs alert resolves on.
            let mut raised = Raised::default();
            for connection in &released.connections {
                let observation = Observation {
                    connection: connection.clone(),
                    observed: Observed::HeldRuns,
                };
                raised.add(self.alerting.observe(&tx, &observation).await?);
            }
            tx.commit().await?;
            self.alerting.announce(raised);
            if !released.events.is_empty() {
                self.bus.wake();
            }
        }
        Ok(())
    }

    /// Works a claimed run as far as it goes now, then writes it.
    async fn advance(&self, mut run: Run) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let version = store::automations::version(&client, &run.name.automation, run.version)
            .await?
            .ok_or_else(|| StoreError::corrupt("run version", run.name.to_string()))?;
        drop(client);
        if run.start_time.is_none() {
            run.start_time = Some(Utc::now());
        }
        run.state = RunState::Running;
        let worked = self.steps(&mut run, &version).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Every decision about an automation's runs holds its row.
        store::automations::lock(&tx, &run.name.automation).await?;
        let kept = store::automation_runs::write_fenced(
            &tx,
            &Write {
                run: &run,
                next_at: worked.next_at,
                awaiting: worked.awaiting.as_ref(),
                admit: false,
            },
            Some(self.owner),
        )
        .await?;
        if !kept {
            tracing::info!(run = %run.name, "the run was cancelled or taken over while it ran; its progress is dropped");
            return Ok(());
        }
        let said = run
            .log
            .last()
            .map(|l| l.message.clone())
            .unwrap_or_default();
        let project = run.name.automation.project.clone();
        store::status::append(&tx, &project, &runs::event(&run, &said)).await?;
        if run.state.is_final() {
            for e in runs::promote_buffered(&tx, &run.name.automation).await? {
                store::status::append(&tx, &project, &e).await?;
            }
        }
        tx.commit().await?;
        self.bus.wake();
        if run.state.is_final() {
            tracing::info!(run = %run.name, state = run.state.as_str(), reason = run.reason, "run ended");
            self.wake.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::RunName;

    #[test]
    fn a_steps_request_id_is_the_same_on_every_attempt_and_differs_by_step() {
        let run = RunName::parse("projects/p/automations/a/runs/run-1").expect("name");
        let other = RunName::parse("projects/p/automations/a/runs/run-2").expect("name");
        assert_eq!(request_id(&run, 0), request_id(&run, 0));
        assert_ne!(request_id(&run, 0), request_id(&run, 1));
        assert_ne!(request_id(&run, 0), request_id(&other, 0));
        assert_eq!(request_id(&run, 0).get_version_num(), 5);
    }
}
