//! What a delivery says, read from its body once it is stored: the event
//! type, and whether it tells us something about the connection's health.

use serde_json::Value;

/// A delivery, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub event_type: String,
    pub health: Option<Health>,
}

/// What an event says about its connection's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// A deployment failed (Vercel `deployment.error`): shown as ERROR now.
    DeploymentFailed {
        environment: String,
        url: Option<String>,
    },
    /// Something changed upstream (a push, a new deployment): probe again
    /// now rather than at the next TTL.
    Changed,
}

/// Reads `body` for a connection of type `type_id`; `header_event_type` is
/// what the provider put in a header, if anything.
pub fn normalize(
    type_id: &str,
    header_event_type: &str,
    body: &[u8],
) -> Result<Normalized, String> {
    // JSON bodies must parse; others (Slack's form-encoded commands, for
    // one) are kept as they are, named by their headers.
    let looks_like_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    let json: Value = if looks_like_json {
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?
    } else {
        Value::Null
    };
    let event_type = if header_event_type.is_empty() {
        body_event_type(&json)
    } else {
        header_event_type.to_owned()
    };
    let health = match (type_id, event_type.as_str()) {
        ("vercel", "deployment.error" | "deployment.canceled") => {
            let payload = &json["payload"];
            Some(Health::DeploymentFailed {
                environment: payload["target"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .unwrap_or("preview")
                    .to_owned(),
                url: payload["deployment"]["url"]
                    .as_str()
                    .or_else(|| payload["url"].as_str())
                    .map(str::to_owned),
            })
        }
        ("vercel", "deployment.succeeded" | "deployment.ready" | "deployment.promoted")
        | ("github", "push") => Some(Health::Changed),
        _ => None,
    };
    Ok(Normalized { event_type, health })
}

/// The event type the bridge stores with a delivery, before processing:
/// the provider's header when it names one, else the body's own field
/// (read without building the document: only the few keys that name it).
pub fn stored_event_type(header_event_type: String, body: &[u8]) -> String {
    use std::{borrow::Cow, collections::HashMap};

    use serde::de::IgnoredAny;

    /// A string, or anything else (which names nothing).
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Text<'a> {
        #[serde(borrow)]
        Str(Cow<'a, str>),
        Other(IgnoredAny),
    }
    type Object<'a> = HashMap<Cow<'a, str>, Text<'a>>;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Element<'a> {
        #[serde(borrow)]
        Object(Object<'a>),
        Other(IgnoredAny),
    }
    fn text<'a>(object: &'a Object<'_>, key: &str) -> Option<&'a str> {
        match object.get(key)? {
            Text::Str(s) => Some(s),
            Text::Other(_) => None,
        }
    }

    if !header_event_type.is_empty() {
        return header_event_type;
    }
    let name = |found: Option<&str>| found.unwrap_or_default().chars().take(128).collect();
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => match serde_json::from_slice::<Object<'_>>(body) {
            Ok(object) => name(text(&object, "type").or_else(|| text(&object, "_type"))),
            Err(_) => String::new(),
        },
        // HubSpot batches: the first event names them.
        Some(b'[') => match serde_json::from_slice::<Vec<Element<'_>>>(body) {
            Ok(events) => match events.first() {
                Some(Element::Object(first)) => name(text(first, "subscriptionType")),
                _ => String::new(),
            },
            Err(_) => String::new(),
        },
        _ => String::new(),
    }
}

/// `type` (Standard Webhooks, Stripe, Vercel, Slack), `_type` (Sanity
/// documents), or the first event's `subscriptionType` (HubSpot batches).
fn body_event_type(json: &Value) -> String {
    let found = json["type"]
        .as_str()
        .or_else(|| json["_type"].as_str())
        .or_else(|| json[0]["subscriptionType"].as_str())
        .unwrap_or_default();
    found.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vercel_deployment_errors_say_which_environment_failed() {
        let body = br#"{"type":"deployment.error","payload":{"target":"production","deployment":{"url":"app-x.vercel.app"}}}"#;
        let n = normalize("vercel", "", body).expect("json");
        assert_eq!(n.event_type, "deployment.error");
        assert_eq!(
            n.health,
            Some(Health::DeploymentFailed {
                environment: "production".into(),
                url: Some("app-x.vercel.app".into())
            })
        );
    }

    #[test]
    fn event_types_come_from_headers_then_bodies() {
        assert_eq!(
            normalize("github", "push", b"{}").expect("json").event_type,
            "push"
        );
        let hubspot = br#"[{"subscriptionType":"contact.creation","objectId":1}]"#;
        assert_eq!(
            normalize("hubspot", "", hubspot).expect("json").event_type,
            "contact.creation"
        );
        assert_eq!(normalize("http", "", b"").expect("empty").event_type, "");
    }

    #[test]
    fn the_stored_event_type_is_the_one_processing_finds() {
        let bodies: [&[u8]; 11] = [
            br#"{"type":"deployment.error","payload":{"type":"nested"}}"#,
            br#"{"_type":"post","title":"x"}"#,
            br#"[{"subscriptionType":"contact.creation"},{"subscriptionType":"deal.creation"}]"#,
            br#"[{"subscriptionType":"contact.deletion"}]"#,
            b"token=x&command=%2Fdeploy",
            br#"{"truncated": "#,
            br#"{"type":7}"#,
            br#"{"type":{"a":1},"_type":"post"}"#,
            br#"{"type":"first","type":"last"}"#,
            br#"["x", {"subscriptionType":"y"}]"#,
            br#"[[1, 2, "z"]]"#,
        ];
        for body in bodies {
            let processed = normalize("http", "", body).map(|n| n.event_type);
            let stored = stored_event_type(String::new(), body);
            assert_eq!(stored, processed.unwrap_or_default(), "{body:?}");
        }
        assert_eq!(stored_event_type("push".into(), br#"{"type":"x"}"#), "push");
    }

    #[test]
    fn broken_json_fails_and_other_bodies_pass_as_they_are() {
        assert!(normalize("http", "", br#"{"truncated": "#).is_err());
        let form = normalize("slack-app", "", b"token=x&command=%2Fdeploy").expect("form body");
        assert_eq!(form.event_type, "");
    }
}
