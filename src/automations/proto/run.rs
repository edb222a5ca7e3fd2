//! Runs, events and dry runs ⇄ proto.

use crate::{
    automations::{
        dry_run::{DryRun, Outcome, PlannedStep},
        model::{Event, Run, RunState, StepState},
    },
    error::{ApiError, FieldViolation},
    names::{AutomationName, ConnectionName},
    proto::{self, v1 as pb},
    registry::proto::template::field_error_to_proto,
};

pub fn run_state_to_proto(s: RunState) -> pb::RunState {
    match s {
        RunState::Pending => pb::RunState::Pending,
        RunState::Running => pb::RunState::Running,
        RunState::Waiting => pb::RunState::Waiting,
        RunState::Succeeded => pb::RunState::Succeeded,
        RunState::Failed => pb::RunState::Failed,
        RunState::Cancelled => pb::RunState::Cancelled,
        RunState::Skipped => pb::RunState::Skipped,
        RunState::Held => pb::RunState::Held,
        RunState::Buffered => pb::RunState::Buffered,
    }
}

/// A ListRuns filter: `None` for every state.
pub fn run_state_from_proto(s: i32) -> Result<Option<RunState>, ApiError> {
    let state = pb::RunState::try_from(s)
        .map_err(|_| ApiError::invalid_field("state", "is not a RunState"))?;
    Ok(RunState::ALL
        .into_iter()
        .find(|r| run_state_to_proto(*r) == state))
}

fn step_state_to_proto(s: StepState) -> pb::StepState {
    match s {
        StepState::Pending => pb::StepState::Pending,
        StepState::Running => pb::StepState::Running,
        StepState::Succeeded => pb::StepState::Succeeded,
        StepState::Failed => pb::StepState::Failed,
        StepState::Skipped => pb::StepState::Skipped,
    }
}

pub fn event_to_proto(e: &Event) -> pb::AutomationEvent {
    pb::AutomationEvent {
        connection: e.connection.to_string(),
        event_type: e.event_type.clone(),
        payload: Some(proto::json::json_to_value(&e.payload)),
        delivery: e.delivery.clone().unwrap_or_default(),
    }
}

/// A sample event from a request; its connection defaults to `fallback`
/// (the trigger's), and must be in the automation's project.
pub fn event_from_proto(
    e: Option<&pb::AutomationEvent>,
    automation: &AutomationName,
    fallback: Option<&ConnectionName>,
) -> Result<Event, ApiError> {
    let Some(e) = e else {
        return Err(ApiError::invalid_field("event", "is required"));
    };
    let mut v = Vec::new();
    let connection = if e.connection.is_empty() {
        fallback.cloned()
    } else {
        match ConnectionName::parse(&e.connection) {
            Ok(c) if c.project == automation.project => Some(c),
            Ok(_) => {
                v.push(FieldViolation::new(
                    "event.connection",
                    "must be a connection in the automation's project",
                ));
                None
            }
            Err(err) => {
                v.push(FieldViolation::new("event.connection", err.to_string()));
                None
            }
        }
    };
    if connection.is_none() && v.is_empty() {
        v.push(FieldViolation::new(
            "event.connection",
            "is required when the trigger listens to a type",
        ));
    }
    if e.event_type.is_empty() || e.event_type.len() > 128 {
        v.push(FieldViolation::new(
            "event.event_type",
            "must be 1 to 128 characters",
        ));
    }
    if prost::Message::encoded_len(e) > 1 << 20 {
        v.push(FieldViolation::new("event.payload", "is larger than 1 MiB"));
    }
    match connection {
        Some(connection) if v.is_empty() => Ok(Event {
            connection,
            event_type: e.event_type.clone(),
            payload: e
                .payload
                .as_ref()
                .map(proto::json::value_to_json)
                .unwrap_or(serde_json::Value::Null),
            delivery: None,
        }),
        _ => Err(ApiError::invalid_argument(v)),
    }
}

pub fn run_to_proto(r: &Run) -> pb::Run {
    pb::Run {
        name: r.name.to_string(),
        version: r.version,
        trigger: r.trigger.as_str().to_owned(),
        event: Some(event_to_proto(&r.event)),
        state: run_state_to_proto(r.state).into(),
        reason: r.reason.clone(),
        steps: r
            .steps
            .iter()
            .map(|s| pb::RunStep {
                name: s.name.clone(),
                state: step_state_to_proto(s.state).into(),
                action: s.action.clone().unwrap_or_default(),
                params: s.params.as_ref().map(proto::json::json_to_struct),
                message: s.message.clone(),
            })
            .collect(),
        log: r
            .log
            .iter()
            .map(|l| pb::RunLogEntry {
                time: Some(proto::time::timestamp(l.time)),
                step: l.step,
                message: l.message.clone(),
            })
            .collect(),
        depth: r.depth,
        cause_chain: r.cause_chain.clone(),
        replay_of: r.replay_of.clone().unwrap_or_default(),
        create_time: Some(proto::time::timestamp(r.create_time)),
        start_time: proto::time::timestamp_opt(r.start_time),
        end_time: proto::time::timestamp_opt(r.end_time),
    }
}

pub fn dry_run_to_proto(d: &DryRun) -> pb::DryRunAutomationResponse {
    pb::DryRunAutomationResponse {
        matched: d.matched,
        reason: d.reason.to_owned(),
        explanation: d.explanation.clone(),
        steps: d.steps.iter().map(planned_to_proto).collect(),
        version: d.version,
    }
}

fn planned_to_proto(s: &PlannedStep) -> pb::DryRunStep {
    pb::DryRunStep {
        name: s.name.clone(),
        outcome: match s.outcome {
            Outcome::WouldRun => pb::DryRunOutcome::WouldRun,
            Outcome::WouldContinue => pb::DryRunOutcome::WouldContinue,
            Outcome::WouldStop => pb::DryRunOutcome::WouldStop,
            Outcome::WouldSkip => pb::DryRunOutcome::WouldSkip,
            Outcome::WouldFail => pb::DryRunOutcome::WouldFail,
        }
        .into(),
        message: s.message.clone(),
        connection: s
            .connection
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        action: s.action.clone().unwrap_or_default(),
        params: s.params.as_ref().map(proto::json::json_to_struct),
        requests: s
            .requests
            .iter()
            .map(|r| pb::PlannedRequest {
                method: r.method.to_owned(),
                url: r.url.clone(),
                body: Some(proto::json::json_to_value(&r.body)),
                summary: r.summary.clone(),
            })
            .collect(),
        field_errors: s.field_errors.iter().map(field_error_to_proto).collect(),
    }
}
