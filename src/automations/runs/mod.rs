//! The one owner of a run's state: a run is admitted (past the loop guard,
//! the rate limit and the overlap policy), ended, cancelled, released from
//! held or from the buffer, each in the caller's transaction and with its
//! event on the project's watch stream. Every caller holds the automation's
//! row (`store::automations::lock`), so two decisions about one automation
//! never interleave. Freeing runs (the buffered one, the held ones) is in
//! `release.rs`.

mod release;

pub use release::{Released, promote_buffered, release_held};

use chrono::{Duration as Span, Utc};
use deadpool_postgres::GenericClient;

use super::model::{
    DEFAULT_RUNS_PER_MINUTE, Event, LogEntry, Overlap, Run, RunState, RunStep, RunTrigger,
    StepState, Version,
};
use crate::{
    idempotency::RequestKey,
    names::{ActionName, ResourceId, RunName},
    status::events::EventPayload,
    store::{
        self, StoreError,
        automation_runs::{NewRun, Write},
    },
};

/// What starts a run.
pub struct Start<'a> {
    pub version: &'a Version,
    pub event: Event,
    pub trigger: RunTrigger,
    /// The delivery's id, for delivery-started runs (one run per version
    /// and delivery).
    pub delivery_id: Option<&'a str>,
    /// The runs whose effects caused the event, oldest first.
    pub cause_chain: Vec<String>,
    pub replay_of: Option<String>,
    pub request: Option<&'a RequestKey>,
    /// Runs of one automation an event may be caused by before the next is
    /// refused.
    pub loop_depth: u32,
}

/// How deep `chain` already runs through `automation`'s own runs.
pub fn depth_in(chain: &[String], automation: &crate::names::AutomationName) -> i32 {
    let prefix = format!("{automation}/runs/");
    let n = chain.iter().filter(|r| r.starts_with(&prefix)).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The run's event for the watch stream.
pub fn event(run: &Run, message: &str) -> EventPayload {
    EventPayload::RunChanged {
        run: run.name.to_string(),
        state: run.state,
        step: run.step,
        message: message.to_owned(),
    }
}

fn runs_per_minute(version: &Version) -> i64 {
    match version.spec.max_runs_per_minute {
        0 => i64::from(DEFAULT_RUNS_PER_MINUTE),
        n => i64::from(n),
    }
}

/// Writes a new run for `start`, deciding its first state; `None` when its
/// version already has a run for that delivery (nothing more happens).
/// Returns the run and the events to log.
pub async fn admit(
    client: &impl GenericClient,
    start: &Start<'_>,
) -> Result<Option<(Run, Vec<EventPayload>)>, StoreError> {
    let version = start.version;
    let automation = &version.automation;
    if let Some(delivery) = start.delivery_id
        && store::automation_runs::for_delivery(client, automation, version.number, delivery)
            .await?
    {
        return Ok(None);
    }
    let now = Utc::now();
    let depth = depth_in(&start.cause_chain, automation);
    let mut run = Run {
        name: RunName {
            automation: automation.clone(),
            id: ResourceId::generate("run"),
        },
        version: version.number,
        trigger: start.trigger,
        event: start.event.clone(),
        state: RunState::Pending,
        reason: String::new(),
        step: 0,
        steps: version
            .spec
            .steps
            .iter()
            .map(|s| RunStep::pending(&s.name))
            .collect(),
        log: vec![LogEntry::now(-1, origin(start))],
        depth,
        cause_chain: start.cause_chain.clone(),
        replay_of: start.replay_of.clone(),
        create_time: now,
        start_time: None,
        end_time: None,
    };
    let mut next_at = now;
    let mut admitted = false;
    let mut events = Vec::new();
    let limit = i32::try_from(start.loop_depth).unwrap_or(i32::MAX);
    if depth >= limit {
        skip(
            &mut run,
            "LOOP_DEPTH_EXCEEDED",
            format!(
                "refused: the event was caused by this automation's own runs {depth} deep \
                 (the limit is {limit}): {}",
                start.cause_chain.join(" → ")
            ),
        );
    } else {
        let (recent, oldest) =
            store::automation_runs::admitted_last_minute(client, automation).await?;
        let per_minute = runs_per_minute(version);
        if recent >= per_minute {
            run.state = RunState::Held;
            run.reason = "RATE_LIMITED".to_owned();
            next_at = oldest.map_or(now, |t| t + Span::minutes(1));
            run.log.push(LogEntry::now(
                -1,
                format!(
                    "held: {recent} runs started in the last minute, the limit is {per_minute}"
                ),
            ));
        } else {
            admitted = overlap(client, &mut run, version, &mut events).await?;
        }
    }
    let inserted = store::automation_runs::insert(
        client,
        &NewRun {
            run: &run,
            delivery_id: start.delivery_id,
            request: start.request.map(|k| (k.id, k.digest.as_slice())),
            admitted,
            next_at,
        },
    )
    .await?;
    let Some(run) = inserted else {
        return Ok(None);
    };
    let said = run
        .log
        .last()
        .map(|l| l.message.clone())
        .unwrap_or_default();
    events.push(event(&run, &said));
    tracing::info!(run = %run.name, state = run.state.as_str(), reason = run.reason, "run created");
    Ok(Some((run, events)))
}

fn origin(start: &Start<'_>) -> String {
    let event = &start.event;
    match (start.trigger, &event.delivery, &start.replay_of) {
        (RunTrigger::Replay, _, Some(of)) => {
            format!("replay of {of} with version {}", start.version.number)
        }
        (_, Some(delivery), _) => format!("started by {} delivery {delivery}", event.event_type),
        _ => format!("started by hand with a sample {} event", event.event_type),
    }
}

fn skip(run: &mut Run, reason: &str, message: String) {
    run.state = RunState::Skipped;
    run.reason = reason.to_owned();
    run.end_time = Some(Utc::now());
    for step in &mut run.steps {
        step.state = StepState::Skipped;
    }
    run.log.push(LogEntry::now(-1, message));
}

/// Applies the overlap policy to a run about to start; true when it
/// starts now.
async fn overlap(
    client: &impl GenericClient,
    run: &mut Run,
    version: &Version,
    events: &mut Vec<EventPayload>,
) -> Result<bool, StoreError> {
    let automation = &version.automation;
    let waiting = [
        RunState::Pending,
        RunState::Running,
        RunState::Waiting,
        RunState::Buffered,
    ];
    let others = store::automation_runs::in_states(client, automation, &waiting).await?;
    let (active, buffered): (Vec<&Run>, Vec<&Run>) =
        others.iter().partition(|r| r.state.is_active());
    if active.is_empty() {
        return Ok(true);
    }
    let names = active
        .iter()
        .map(|r| r.name.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match version.spec.overlap {
        Overlap::Allow => Ok(true),
        Overlap::Skip => {
            skip(
                run,
                "OVERLAP_SKIPPED",
                format!("skipped: {names} is still running"),
            );
            Ok(false)
        }
        Overlap::BufferOne if buffered.is_empty() => {
            run.state = RunState::Buffered;
            run.log.push(LogEntry::now(
                -1,
                format!("buffered: starts when {names} ends"),
            ));
            Ok(false)
        }
        Overlap::BufferOne => {
            skip(
                run,
                "OVERLAP_SKIPPED",
                format!(
                    "skipped: {names} is still running and {} already waits",
                    buffered[0].name
                ),
            );
            Ok(false)
        }
        Overlap::CancelOther => {
            for other in active {
                let mut other = other.clone();
                let message = format!("cancelled: {} replaces it", run.name);
                events.push(
                    cancel(
                        client,
                        &mut other,
                        "CANCELLED_BY_NEWER_RUN",
                        &message,
                        Stop::UnlessBusy,
                    )
                    .await?,
                );
            }
            Ok(true)
        }
    }
}

/// How a cancelled run's action is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Waiting for the action's row if its worker holds it: for callers
    /// that hold nothing a worker waits for.
    Wait,
    /// Skipping it if its worker holds it (it is finishing anyway): for
    /// the webhook processor, which may hold the event log's lock.
    UnlessBusy,
}

/// Cancels a run that has not ended, and asks the action it waits for to
/// stop. Returns its event.
pub async fn cancel(
    client: &impl GenericClient,
    run: &mut Run,
    reason: &str,
    message: &str,
    stop: Stop,
) -> Result<EventPayload, StoreError> {
    let awaited = run
        .steps
        .get(usize::try_from(run.step).unwrap_or(usize::MAX))
        .filter(|s| s.state == StepState::Running)
        .and_then(|s| s.action.as_deref())
        .and_then(|a| ActionName::parse(a).ok());
    match (&awaited, stop) {
        (Some(action), Stop::Wait) => {
            store::actions::cancel(client, action).await?;
        }
        (Some(action), Stop::UnlessBusy) => {
            store::actions::cancel_unless_busy(client, action).await?;
        }
        (None, _) => {}
    }
    run.state = RunState::Cancelled;
    run.reason = reason.to_owned();
    run.end_time = Some(Utc::now());
    for step in &mut run.steps {
        if matches!(step.state, StepState::Pending | StepState::Running) {
            step.state = StepState::Skipped;
        }
    }
    run.log.push(LogEntry::now(-1, message));
    store::automation_runs::write(
        client,
        &Write {
            run,
            next_at: Utc::now(),
            awaiting: None,
            admit: false,
        },
    )
    .await?;
    tracing::info!(run = %run.name, reason, "run cancelled");
    Ok(event(run, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::AutomationName;

    #[test]
    fn depth_counts_only_this_automations_runs() {
        let a = AutomationName::parse("projects/p/automations/echo").expect("name");
        let chain = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(depth_in(&[], &a), 0);
        assert_eq!(
            depth_in(
                &chain(&[
                    "projects/p/automations/echo/runs/run-1",
                    "projects/p/automations/other/runs/run-2",
                    "projects/p/automations/echo/runs/run-3",
                ]),
                &a
            ),
            2
        );
        // A name that merely starts the same is another automation.
        assert_eq!(
            depth_in(&chain(&["projects/p/automations/echoes/runs/run-1"]), &a),
            0
        );
    }

    #[test]
    fn the_default_rate_is_sixty_a_minute() {
        let version = |n| Version {
            automation: AutomationName::parse("projects/p/automations/a").expect("name"),
            number: 1,
            spec: super::super::model::Spec {
                trigger: super::super::model::Trigger {
                    source: super::super::model::Source::Type(
                        crate::names::TypeId::parse("github").expect("type"),
                    ),
                    event_types: Vec::new(),
                    filter: None,
                },
                steps: Vec::new(),
                overlap: Overlap::Allow,
                max_runs_per_minute: n,
            },
            published_by: "p".into(),
            role: crate::auth::Role::Owner,
            publish_time: Utc::now(),
        };
        assert_eq!(runs_per_minute(&version(0)), 60);
        assert_eq!(runs_per_minute(&version(7)), 7);
    }
}
