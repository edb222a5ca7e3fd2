//! Works runs on every replica: claims due runs under a lease (so two
//! replicas never work one run at once), runs their steps in order, and
//! writes where each got to, fenced on the lease. An action step starts its
//! action with a request id made from the run and the step, so a step
//! worked again (after a crash, or a lost lease) finds the action it
//! started instead of starting another; the run then waits for it. Held
//! runs are released as their automation's rate limit allows.

use std::sync::Arc;

use chrono::Utc;
use deadpool_postgres::Pool;
use prost::Message as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    AutomationConfig, evaluate,
    model::{LogEntry, Run, RunState, StepKind, StepState, Version},
    runs,
};
use crate::{
    actions::{
        Actions, RunStart,
        model::{Action, ActionState},
    },
    alerts::{
        Alerting,
        evaluator::Raised,
        observation::{Observation, Observed},
    },
    error::{ApiError, ErrorCode},
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

    /// Runs steps from `run.step` until one waits or the run ends.
    async fn steps(&self, run: &mut Run, version: &Version) -> Result<Worked, StoreError> {
        let now = Utc::now();
        loop {
            let Ok(index) = usize::try_from(run.step) else {
                return Ok(self.end(
                    run,
                    RunState::Failed,
                    "STEP_INVALID",
                    "the run lost its place",
                ));
            };
            let Some(step) = version.spec.steps.get(index) else {
                return Ok(self.end(run, RunState::Succeeded, "", "every step ran"));
            };
            match &step.kind {
                StepKind::Condition { expression } => {
                    let (held, trace) = expression.explain(&run.event.document());
                    let said = format!("`{}`: {}", expression.source(), trace.join("; "));
                    run.steps[index].state = StepState::Succeeded;
                    if !held {
                        run.steps[index].message = format!("did not hold ({said}); the run stops");
                        log(run, index, "the condition did not hold: the run stops here");
                        for later in &mut run.steps[index + 1..] {
                            later.state = StepState::Skipped;
                        }
                        return Ok(self.end(
                            run,
                            RunState::Succeeded,
                            "STOPPED_BY_CONDITION",
                            "stopped by a condition",
                        ));
                    }
                    run.steps[index].message = format!("held ({said})");
                    log(run, index, "the condition held");
                }
                StepKind::Delay { duration } => {
                    if run.steps[index].state == StepState::Pending {
                        let wait = humantime::format_duration(*duration).to_string();
                        run.steps[index].state = StepState::Running;
                        run.steps[index].message = format!("waiting {wait}");
                        log(run, index, format!("waiting {wait}"));
                        run.state = RunState::Waiting;
                        let until = now
                            + chrono::Duration::from_std(*duration)
                                .unwrap_or(chrono::Duration::MAX);
                        return Ok(Worked {
                            next_at: until,
                            awaiting: None,
                        });
                    }
                    run.steps[index].state = StepState::Succeeded;
                    log(run, index, "waited");
                }
                StepKind::Action {
                    connection,
                    action,
                    params,
                    param_mappings,
                } => {
                    let started = match &run.steps[index].action {
                        Some(name) => ActionName::parse(name).ok(),
                        None => None,
                    };
                    let Some(started) = started else {
                        let params = match evaluate::params(params, param_mappings, &run.event) {
                            Ok(p) => p,
                            Err(errors) => {
                                let why = errors
                                    .iter()
                                    .map(|e| format!("{}: {}", e.target_field, e.message))
                                    .collect::<Vec<_>>()
                                    .join("; ");
                                run.steps[index].state = StepState::Failed;
                                run.steps[index].message =
                                    format!("its parameters do not map: {why}");
                                return Ok(self.end(
                                    run,
                                    RunState::Failed,
                                    "PARAMS_INVALID",
                                    "a step's parameters did not map from the event",
                                ));
                            }
                        };
                        let mut chain = run.cause_chain.clone();
                        chain.push(run.name.to_string());
                        let automation = run.name.automation.to_string();
                        let start = RunStart {
                            automation: &automation,
                            role: version.role,
                            connection,
                            action,
                            params: &params,
                            request_id: request_id(&run.name, index),
                            cause_chain: chain,
                        };
                        match self.actions.start_for_run(start).await {
                            Ok(a) => {
                                let name = a.name.clone();
                                run.steps[index].state = StepState::Running;
                                run.steps[index].action = Some(name.to_string());
                                run.steps[index].params = Some(params);
                                run.steps[index].message =
                                    format!("started {action} on {connection}");
                                log(run, index, format!("started {name}"));
                                run.state = RunState::Waiting;
                                return Ok(Worked {
                                    next_at: now + poll(&self.config),
                                    awaiting: Some(name),
                                });
                            }
                            Err(e) if retryable(&e) => {
                                log(
                                    run,
                                    index,
                                    format!("could not start {action} yet: {}", e.public_message()),
                                );
                                run.state = RunState::Pending;
                                return Ok(Worked {
                                    next_at: now + poll(&self.config),
                                    awaiting: None,
                                });
                            }
                            Err(e) => {
                                run.steps[index].state = StepState::Failed;
                                run.steps[index].message =
                                    format!("{action} could not start: {}", e.public_message());
                                return Ok(self.end(
                                    run,
                                    RunState::Failed,
                                    "ACTION_FAILED",
                                    format!("{action} could not start"),
                                ));
                            }
                        }
                    };
                    let client = self.pool.get().await?;
                    let found = store::actions::get(&client, &started).await?;
                    drop(client);
                    match found.as_ref().map(|a| a.state) {
                        Some(ActionState::Pending | ActionState::Running) => {
                            run.state = RunState::Waiting;
                            return Ok(Worked {
                                next_at: now + poll(&self.config),
                                awaiting: Some(started),
                            });
                        }
                        Some(ActionState::Succeeded) => {
                            run.steps[index].state = StepState::Succeeded;
                            run.steps[index].message = format!("{action} succeeded");
                            log(run, index, format!("{started} succeeded"));
                        }
                        Some(ActionState::Failed | ActionState::Cancelled) | None => {
                            let why = found
                                .as_ref()
                                .map_or_else(|| "it is gone".to_owned(), failure);
                            run.steps[index].state = StepState::Failed;
                            run.steps[index].message = format!("{action} failed: {why}");
                            log(run, index, format!("{started} failed: {why}"));
                            return Ok(self.end(
                                run,
                                RunState::Failed,
                                "ACTION_FAILED",
                                format!("{action} failed"),
                            ));
                        }
                    }
                }
            }
            run.step += 1;
        }
    }

    fn end(
        &self,
        run: &mut Run,
        state: RunState,
        reason: &str,
        message: impl Into<String>,
    ) -> Worked {
        run.state = state;
        run.reason = reason.to_owned();
        run.end_time = Some(Utc::now());
        run.log.push(LogEntry::now(-1, message));
        Worked {
            next_at: Utc::now(),
            awaiting: None,
        }
    }
}

fn poll(config: &AutomationConfig) -> chrono::Duration {
    chrono::Duration::from_std(config.poll).unwrap_or_else(|_| chrono::Duration::seconds(1))
}

fn log(run: &mut Run, step: usize, message: impl Into<String>) {
    run.log.push(LogEntry::now(
        i32::try_from(step).unwrap_or(i32::MAX),
        message,
    ));
}

/// Whether a refused start may succeed later (the database was away).
fn retryable(e: &ApiError) -> bool {
    matches!(e.code(), ErrorCode::Unavailable | ErrorCode::Internal)
}

/// Why an action ended without success, as its stored error says.
fn failure(a: &Action) -> String {
    if a.state == ActionState::Cancelled {
        return "it was cancelled".to_owned();
    }
    a.error
        .as_deref()
        .and_then(|bytes| tonic_types::pb::Status::decode(bytes).ok())
        .map(|s| s.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| a.progress_message.clone())
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
