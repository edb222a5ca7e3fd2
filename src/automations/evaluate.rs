//! Pure decisions over an event, shared by real runs and dry runs: whether
//! a trigger matches, what an action step's parameters map to, and whether
//! a condition lets a run go on.

use serde_json::{Map, Value};

use super::{
    expr::{Root, glob},
    model::{Event, Source, Trigger},
};
use crate::{
    names::{ConnectionName, TypeId},
    registry::{model::FieldMapping, transform},
};

/// Whether a trigger matches an event, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Yes {
        explanation: String,
    },
    No {
        reason: &'static str,
        explanation: String,
    },
}

impl Match {
    pub fn matched(&self) -> bool {
        matches!(self, Self::Yes { .. })
    }
}

/// Matches `event` (from a connection of type `type_id`) against `trigger`.
pub fn trigger(trigger: &Trigger, event: &Event, type_id: &TypeId) -> Match {
    match &trigger.source {
        Source::Connection(c) if *c != event.connection => {
            return Match::No {
                reason: "CONNECTION_NOT_MATCHED",
                explanation: format!(
                    "the event is from {}, the trigger listens to {c}",
                    event.connection
                ),
            };
        }
        Source::Type(t) if t != type_id => {
            return Match::No {
                reason: "CONNECTION_NOT_MATCHED",
                explanation: format!(
                    "the event is from a {type_id} connection, the trigger listens to {t}"
                ),
            };
        }
        _ => {}
    }
    if !trigger.event_types.is_empty()
        && !trigger
            .event_types
            .iter()
            .any(|p| glob(p, &event.event_type))
    {
        return Match::No {
            reason: "EVENT_TYPE_NOT_MATCHED",
            explanation: format!(
                "event type {:?} matches none of {:?}",
                event.event_type, trigger.event_types
            ),
        };
    }
    let Some(filter) = &trigger.filter else {
        return Match::Yes {
            explanation: "no filter".to_owned(),
        };
    };
    let (held, trace) = filter.explain(&event.document());
    let explanation = format!("filter `{}`: {}", filter.source(), trace.join("; "));
    if held {
        Match::Yes { explanation }
    } else {
        Match::No {
            reason: "FILTER_NOT_MATCHED",
            explanation,
        }
    }
}

/// Only the yes-or-no of [`trigger`], without building explanations: the
/// per-delivery path, which builds the event's `doc` once for every
/// trigger it tries.
pub fn trigger_matches<R: Root + ?Sized>(
    trigger: &Trigger,
    connection: &ConnectionName,
    event_type: &str,
    doc: &R,
    type_id: &TypeId,
) -> bool {
    let source = match &trigger.source {
        Source::Connection(c) => c == connection,
        Source::Type(t) => t == type_id,
    };
    source
        && (trigger.event_types.is_empty()
            || trigger.event_types.iter().any(|p| glob(p, event_type)))
        && trigger.filter.as_ref().is_none_or(|f| f.holds(doc))
}

/// An action step's parameters for `event`: `params`, then each mapping
/// over the event's document; every field error when one does not map.
pub fn params(
    params: &Map<String, Value>,
    mappings: &[FieldMapping],
    event: &Event,
) -> Result<Map<String, Value>, Vec<transform::FieldError>> {
    let mut out = params.clone();
    if mappings.is_empty() {
        return Ok(out);
    }
    let (mapped, errors) = transform::transform(mappings, &event.document());
    if !errors.is_empty() {
        return Err(errors);
    }
    out.extend(mapped);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{automations::expr::Expr, registry::model::FieldType};

    fn event(event_type: &str, payload: Value) -> Event {
        Event {
            connection: ConnectionName::parse("projects/acme/connections/gh").expect("name"),
            event_type: event_type.to_owned(),
            payload,
            delivery: None,
        }
    }

    fn github() -> TypeId {
        TypeId::parse("github").expect("type")
    }

    fn push_on_main() -> Trigger {
        Trigger {
            source: Source::Connection(
                ConnectionName::parse("projects/acme/connections/gh").expect("name"),
            ),
            event_types: vec!["push".into()],
            filter: Some(Expr::parse("payload.ref == 'refs/heads/main'").expect("filter")),
        }
    }

    #[test]
    fn a_trigger_checks_source_then_type_then_filter() {
        let t = push_on_main();
        let main = event("push", json!({"ref": "refs/heads/main"}));
        assert!(trigger(&t, &main, &github()).matched());
        assert!(trigger_matches(
            &t,
            &main.connection,
            &main.event_type,
            &main.document(),
            &github()
        ));

        let dev = event("push", json!({"ref": "refs/heads/dev"}));
        assert_eq!(
            trigger(&t, &dev, &github()),
            Match::No {
                reason: "FILTER_NOT_MATCHED",
                explanation: "filter `payload.ref == 'refs/heads/main'`: payload.ref \
                              (is \"refs/heads/dev\") == \"refs/heads/main\": false"
                    .into()
            }
        );
        assert!(!trigger_matches(
            &t,
            &dev.connection,
            &dev.event_type,
            &dev.document(),
            &github()
        ));

        let issue = event("issues", json!({"ref": "refs/heads/main"}));
        assert!(matches!(
            trigger(&t, &issue, &github()),
            Match::No {
                reason: "EVENT_TYPE_NOT_MATCHED",
                ..
            }
        ));
        assert!(!trigger_matches(
            &t,
            &issue.connection,
            &issue.event_type,
            &issue.document(),
            &github()
        ));

        let mut elsewhere = main.clone();
        elsewhere.connection =
            ConnectionName::parse("projects/acme/connections/other").expect("name");
        assert!(matches!(
            trigger(&t, &elsewhere, &github()),
            Match::No {
                reason: "CONNECTION_NOT_MATCHED",
                ..
            }
        ));
        assert!(!trigger_matches(
            &t,
            &elsewhere.connection,
            &elsewhere.event_type,
            &elsewhere.document(),
            &github()
        ));

        let by_type = Trigger {
            source: Source::Type(github()),
            event_types: vec!["pu*".into()],
            filter: None,
        };
        assert!(trigger_matches(
            &by_type,
            &elsewhere.connection,
            &elsewhere.event_type,
            &elsewhere.document(),
            &github()
        ));
        let vercel = TypeId::parse("vercel").expect("type");
        assert!(!trigger_matches(
            &by_type,
            &elsewhere.connection,
            &elsewhere.event_type,
            &elsewhere.document(),
            &vercel
        ));
        assert!(!trigger(&by_type, &elsewhere, &vercel).matched());
    }

    #[test]
    fn params_map_over_the_event_and_override_constants() {
        let e = event("push", json!({"head_commit": {"id": " ABC "}}));
        let constants = json!({"target": "production", "ref": "fallback"});
        let Value::Object(constants) = constants else {
            unreachable!()
        };
        let mapping = FieldMapping {
            source_path: "payload.head_commit.id".into(),
            target_field: "ref".into(),
            field_type: FieldType::String,
            required: true,
            default_value: None,
            transformations: vec![
                crate::registry::model::Transformation::Trim,
                crate::registry::model::Transformation::Lower,
            ],
        };
        let mapped = params(&constants, std::slice::from_ref(&mapping), &e).expect("maps");
        assert_eq!(
            Value::Object(mapped),
            json!({"target": "production", "ref": "abc"})
        );
        let missing = event("push", json!({}));
        let errors = params(&constants, &[mapping], &missing).expect_err("required");
        assert_eq!(errors[0].reason, "MISSING_REQUIRED");
        assert_eq!(
            params(&constants, &[], &missing).map(Value::Object),
            Ok(Value::Object(constants.clone()))
        );
    }
}
