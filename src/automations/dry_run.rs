//! What a run would do with an event, decided without doing any of it: the
//! trigger, each condition, each action's mapped parameters and the
//! requests its provider would make (asked of the provider's plan, which
//! sends nothing). Pure: the caller reads the connections it names first.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{
    evaluate::{self, Match},
    model::{Event, Spec, StepKind},
};
use crate::{
    actions,
    names::{ConnectionName, TypeId},
    providers::{self, PlanCall, Planned},
    registry::{model::TypeSpec, transform::FieldError},
};

/// A connection as a dry run sees it: its type, where its provider is
/// called, and its settings (never its credentials).
pub struct Target {
    pub type_id: TypeId,
    pub spec: TypeSpec,
    pub base_uri: String,
    pub settings: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    WouldRun,
    WouldContinue,
    WouldStop,
    WouldSkip,
    WouldFail,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStep {
    pub name: String,
    pub outcome: Outcome,
    pub message: String,
    pub connection: Option<ConnectionName>,
    pub action: Option<String>,
    pub params: Option<Map<String, Value>>,
    pub requests: Vec<Planned>,
    pub field_errors: Vec<FieldError>,
}

impl PlannedStep {
    fn new(name: &str, outcome: Outcome, message: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            outcome,
            message: message.into(),
            connection: None,
            action: None,
            params: None,
            requests: Vec::new(),
            field_errors: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    pub matched: bool,
    pub reason: &'static str,
    pub explanation: String,
    pub steps: Vec<PlannedStep>,
    /// The version evaluated; 0 for the draft.
    pub version: i32,
}

/// Decides what `spec` would do with `event`; `targets` holds every
/// connection the event and the steps name that exists.
pub fn plan(
    spec: &Spec,
    version: i32,
    event: &Event,
    targets: &HashMap<ConnectionName, Target>,
) -> DryRun {
    let Some(source) = targets.get(&event.connection) else {
        return DryRun {
            matched: false,
            reason: "CONNECTION_NOT_MATCHED",
            explanation: format!("{} does not exist", event.connection),
            steps: Vec::new(),
            version,
        };
    };
    let (matched, reason, explanation) =
        match evaluate::trigger(&spec.trigger, event, &source.type_id) {
            Match::Yes { explanation } => (true, "", explanation),
            Match::No {
                reason,
                explanation,
            } => (false, reason, explanation),
        };
    let mut dry = DryRun {
        matched,
        reason,
        explanation,
        steps: Vec::new(),
        version,
    };
    if !matched {
        return dry;
    }
    let mut stopped = false;
    for step in &spec.steps {
        if stopped {
            dry.steps.push(PlannedStep::new(
                &step.name,
                Outcome::WouldSkip,
                "not reached",
            ));
            continue;
        }
        let planned = match &step.kind {
            StepKind::Condition { expression } => {
                let (held, trace) = expression.explain(&event.document());
                let (outcome, verdict) = if held {
                    (Outcome::WouldContinue, "holds: the run would go on")
                } else {
                    (Outcome::WouldStop, "does not hold: the run would stop here")
                };
                PlannedStep::new(
                    &step.name,
                    outcome,
                    format!("`{}` {verdict} ({})", expression.source(), trace.join("; ")),
                )
            }
            StepKind::Delay { duration } => PlannedStep::new(
                &step.name,
                Outcome::WouldRun,
                format!("would wait {}", humantime::format_duration(*duration)),
            ),
            StepKind::Action {
                connection,
                action,
                params,
                param_mappings,
            } => plan_action(
                &step.name,
                connection,
                action,
                evaluate::params(params, param_mappings, event),
                targets.get(connection),
            ),
        };
        stopped = matches!(planned.outcome, Outcome::WouldStop | Outcome::WouldFail);
        dry.steps.push(planned);
    }
    dry
}

fn plan_action(
    name: &str,
    connection: &ConnectionName,
    action: &str,
    params: Result<Map<String, Value>, Vec<FieldError>>,
    target: Option<&Target>,
) -> PlannedStep {
    let mut step = PlannedStep::new(name, Outcome::WouldRun, "");
    step.connection = Some(connection.clone());
    step.action = Some(action.to_owned());
    let Some(target) = target else {
        step.outcome = Outcome::WouldFail;
        step.message = format!("{connection} does not exist");
        return step;
    };
    if target.spec.action(action).is_none() {
        step.outcome = Outcome::WouldFail;
        step.message = format!("{} has no action {action:?}", target.type_id);
        return step;
    }
    let params = match params {
        Ok(p) => p,
        Err(errors) => {
            step.outcome = Outcome::WouldFail;
            step.message = "its parameters do not map from the event".to_owned();
            step.field_errors = errors;
            return step;
        }
    };
    let call = PlanCall {
        base_uri: &target.base_uri,
        settings: &target.settings,
    };
    let provider = providers::find(&target.spec.probe);
    let planned = provider.and_then(|p| p.plan(&call, action, &params));
    match (planned, actions::Effects::plan_builtin(action)) {
        (Some(Ok(requests)), _) => {
            step.message = format!(
                "would start {action} on {connection}: {}",
                requests
                    .iter()
                    .map(|r| r.summary.as_str())
                    .collect::<Vec<_>>()
                    .join(", then ")
            );
            step.requests = requests;
        }
        (Some(Err(e)), _) => {
            step.outcome = Outcome::WouldFail;
            step.message = format!("would fail: {}", e.error.public_message());
        }
        (None, Some(what)) => {
            step.message = format!("would start {action} on {connection}: {what}");
        }
        (None, None) => {
            step.outcome = Outcome::WouldFail;
            step.message = format!("{action} has no effect Patchbay can run here");
        }
    }
    step.params = Some(params);
    step
}
