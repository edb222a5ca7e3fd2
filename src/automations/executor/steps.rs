//! Running a run's steps from where it got to, until one waits or the run
//! ends: conditions over the event, delays, and actions started with the
//! step's request id and then waited for.

use chrono::Utc;
use prost::Message as _;

use super::{Executor, Worked, request_id};
use crate::{
    actions::{
        RunStart,
        model::{Action, ActionState},
    },
    automations::{
        AutomationConfig, evaluate,
        model::{LogEntry, Run, RunState, StepKind, StepState, Version},
    },
    error::{ApiError, ErrorCode},
    names::ActionName,
    store::{self, StoreError},
};

impl Executor {
    /// Runs steps from `run.step` until one waits or the run ends.
    pub(super) async fn steps(
        &self,
        run: &mut Run,
        version: &Version,
    ) -> Result<Worked, StoreError> {
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
