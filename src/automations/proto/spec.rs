//! AutomationSpec ⇄ proto, with the validation of everything a spec holds:
//! names in the automation's project, expressions that parse, bounds.

use std::time::Duration;

use prost::Message as _;

use crate::{
    automations::{
        expr::Expr,
        model::{Overlap, Source, Spec, Step, StepKind, Trigger},
    },
    error::FieldViolation,
    names::{ConnectionName, ProjectId, TypeId},
    proto::{self, v1 as pb},
    registry::proto::template::{mapping_to_proto, mappings_from_proto},
};

const MAX_STEPS: usize = 20;
const MAX_EVENT_TYPES: usize = 20;
const MAX_PARAMS_BYTES: usize = 64 * 1024;
const MAX_RUNS_PER_MINUTE: i32 = 10_000;
const DELAY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));

fn connection_in(
    project: &ProjectId,
    name: &str,
    field: String,
    v: &mut Vec<FieldViolation>,
) -> Option<ConnectionName> {
    match ConnectionName::parse(name) {
        Ok(c) if c.project == *project => Some(c),
        Ok(_) => {
            v.push(FieldViolation::new(
                field,
                "must be a connection in the automation's project",
            ));
            None
        }
        Err(e) => {
            v.push(FieldViolation::new(field, e.to_string()));
            None
        }
    }
}

fn expression(source: &str, field: String, v: &mut Vec<FieldViolation>) -> Option<Expr> {
    Expr::parse(source)
        .map_err(|e| v.push(FieldViolation::new(field, e.to_string())))
        .ok()
}

fn trigger(
    t: Option<&pb::AutomationTrigger>,
    project: &ProjectId,
    path: &str,
    v: &mut Vec<FieldViolation>,
) -> Option<Trigger> {
    let path = format!("{path}.trigger");
    let Some(t) = t else {
        v.push(FieldViolation::new(path, "is required"));
        return None;
    };
    let source = match (t.connection.is_empty(), t.integration_type.is_empty()) {
        (false, true) => connection_in(project, &t.connection, format!("{path}.connection"), v)
            .map(Source::Connection),
        (true, false) => TypeId::parse_name(&t.integration_type)
            .map(Source::Type)
            .map_err(|e| {
                v.push(FieldViolation::new(
                    format!("{path}.integration_type"),
                    e.to_string(),
                ))
            })
            .ok(),
        _ => {
            v.push(FieldViolation::new(
                path.clone(),
                "must name exactly one of connection and integration_type",
            ));
            None
        }
    };
    if t.event_types.len() > MAX_EVENT_TYPES {
        v.push(FieldViolation::new(
            format!("{path}.event_types"),
            "holds more than 20 patterns",
        ));
    }
    for (i, pattern) in t.event_types.iter().enumerate() {
        let ok =
            (1..=128).contains(&pattern.len()) && pattern.chars().all(|c| c.is_ascii_graphic());
        if !ok {
            v.push(FieldViolation::new(
                format!("{path}.event_types[{i}]"),
                "must be 1 to 128 printable ASCII characters without spaces",
            ));
        }
    }
    let filter = match t.filter.trim() {
        "" => None,
        source => Some(expression(source, format!("{path}.filter"), v)?),
    };
    Some(Trigger {
        source: source?,
        event_types: t.event_types.clone(),
        filter,
    })
}

fn step(
    s: &pb::AutomationStep,
    index: usize,
    project: &ProjectId,
    path: &str,
    v: &mut Vec<FieldViolation>,
) -> Option<Step> {
    let at = format!("{path}.steps[{index}]");
    let name = if s.name.is_empty() {
        format!("step-{}", index + 1)
    } else {
        s.name.clone()
    };
    if name.chars().count() > 63 || name.chars().any(char::is_control) {
        v.push(FieldViolation::new(
            format!("{at}.name"),
            "must be at most 63 characters, none of them control characters",
        ));
    }
    use pb::automation_step::Kind;
    let kind = match &s.kind {
        None => {
            v.push(FieldViolation::new(
                at,
                "must be one of action, condition and delay",
            ));
            return None;
        }
        Some(Kind::Action(a)) => {
            let connection =
                connection_in(project, &a.connection, format!("{at}.action.connection"), v);
            let action_ok = (1..=63).contains(&a.action.len())
                && a.action
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !action_ok {
                v.push(FieldViolation::new(
                    format!("{at}.action.action"),
                    "must be an action id such as deploy",
                ));
            }
            if a.params
                .as_ref()
                .is_some_and(|p| p.encoded_len() > MAX_PARAMS_BYTES)
            {
                v.push(FieldViolation::new(
                    format!("{at}.action.params"),
                    "is larger than 64 KiB",
                ));
            }
            let param_mappings = if a.param_mappings.is_empty() {
                Vec::new()
            } else {
                mappings_from_proto(&a.param_mappings, &format!("{at}.action.param_mappings"), v)
            };
            StepKind::Action {
                connection: connection?,
                action: a.action.clone(),
                params: a
                    .params
                    .as_ref()
                    .map(proto::json::struct_to_json)
                    .unwrap_or_default(),
                param_mappings,
            }
        }
        Some(Kind::Condition(c)) => StepKind::Condition {
            expression: expression(&c.expression, format!("{at}.condition.expression"), v)?,
        },
        Some(Kind::Delay(d)) => {
            let duration = d
                .duration
                .as_ref()
                .and_then(proto::time::duration_from_proto)
                .filter(|d| (DELAY.0..=DELAY.1).contains(d));
            let Some(duration) = duration else {
                v.push(FieldViolation::new(
                    format!("{at}.delay.duration"),
                    "must be 1 second to 24 hours",
                ));
                return None;
            };
            StepKind::Delay { duration }
        }
    };
    Some(Step { name, kind })
}

/// Validates a whole spec; `path` prefixes violation fields.
pub fn from_proto(
    s: Option<&pb::AutomationSpec>,
    project: &ProjectId,
    path: &str,
    v: &mut Vec<FieldViolation>,
) -> Option<Spec> {
    let Some(s) = s else {
        v.push(FieldViolation::new(path, "is required"));
        return None;
    };
    let trigger = trigger(s.trigger.as_ref(), project, path, v);
    if s.steps.is_empty() || s.steps.len() > MAX_STEPS {
        v.push(FieldViolation::new(
            format!("{path}.steps"),
            "must hold 1 to 20 steps",
        ));
    }
    let steps: Vec<Option<Step>> = s
        .steps
        .iter()
        .take(MAX_STEPS)
        .enumerate()
        .map(|(i, st)| step(st, i, project, path, v))
        .collect();
    let mut names = std::collections::HashSet::new();
    for (i, st) in steps.iter().enumerate() {
        if let Some(st) = st
            && !names.insert(st.name.as_str())
        {
            v.push(FieldViolation::new(
                format!("{path}.steps[{i}].name"),
                format!("repeats {:?}", st.name),
            ));
        }
    }
    let overlap = match pb::OverlapPolicy::try_from(s.overlap_policy) {
        Ok(pb::OverlapPolicy::Unspecified | pb::OverlapPolicy::Allow) => Some(Overlap::Allow),
        Ok(pb::OverlapPolicy::Skip) => Some(Overlap::Skip),
        Ok(pb::OverlapPolicy::BufferOne) => Some(Overlap::BufferOne),
        Ok(pb::OverlapPolicy::CancelOther) => Some(Overlap::CancelOther),
        Err(_) => {
            v.push(FieldViolation::new(
                format!("{path}.overlap_policy"),
                "must be a known overlap policy",
            ));
            None
        }
    };
    if !(0..=MAX_RUNS_PER_MINUTE).contains(&s.max_runs_per_minute) {
        v.push(FieldViolation::new(
            format!("{path}.max_runs_per_minute"),
            "must be 0 (the default, 60) to 10000",
        ));
    }
    let steps: Option<Vec<Step>> = steps.into_iter().collect();
    Some(Spec {
        trigger: trigger?,
        steps: steps?,
        overlap: overlap?,
        max_runs_per_minute: u32::try_from(s.max_runs_per_minute).ok()?,
    })
}

pub fn to_proto(s: &Spec) -> pb::AutomationSpec {
    let (connection, integration_type) = match &s.trigger.source {
        Source::Connection(c) => (c.to_string(), String::new()),
        Source::Type(t) => (String::new(), format!("integrationTypes/{t}")),
    };
    pb::AutomationSpec {
        trigger: Some(pb::AutomationTrigger {
            connection,
            integration_type,
            event_types: s.trigger.event_types.clone(),
            filter: s
                .trigger
                .filter
                .as_ref()
                .map(|f| f.source().to_owned())
                .unwrap_or_default(),
        }),
        steps: s.steps.iter().map(step_to_proto).collect(),
        overlap_policy: match s.overlap {
            Overlap::Allow => pb::OverlapPolicy::Allow,
            Overlap::Skip => pb::OverlapPolicy::Skip,
            Overlap::BufferOne => pb::OverlapPolicy::BufferOne,
            Overlap::CancelOther => pb::OverlapPolicy::CancelOther,
        }
        .into(),
        max_runs_per_minute: i32::try_from(s.max_runs_per_minute).unwrap_or(i32::MAX),
    }
}

fn step_to_proto(s: &Step) -> pb::AutomationStep {
    use pb::automation_step::Kind;
    let kind = match &s.kind {
        StepKind::Action {
            connection,
            action,
            params,
            param_mappings,
        } => Kind::Action(pb::ActionStep {
            connection: connection.to_string(),
            action: action.clone(),
            params: Some(proto::json::json_to_struct(params)),
            param_mappings: param_mappings.iter().map(mapping_to_proto).collect(),
        }),
        StepKind::Condition { expression } => Kind::Condition(pb::ConditionStep {
            expression: expression.source().to_owned(),
        }),
        StepKind::Delay { duration } => Kind::Delay(pb::DelayStep {
            duration: Some(proto::time::duration(*duration)),
        }),
    };
    pb::AutomationStep {
        name: s.name.clone(),
        kind: Some(kind),
    }
}
