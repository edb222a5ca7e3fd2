//! What a delivery says, read from its body once it is stored: the event
//! type, and (asking the connection's provider) whether it tells us
//! something about the connection's health.

use serde_json::Value;

use crate::providers::{Health, Provider};

/// A delivery, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub event_type: String,
    pub health: Option<Health>,
    /// The action whose effect caused it, when it carries that action's tag.
    pub caused_by: Option<String>,
    /// The body, parsed (`Null` when it is not JSON).
    pub body: Value,
}

/// Reads `body` for a connection of `provider` (`None`: a type whose
/// provider is unknown here, whose events mean nothing for health);
/// `header_event_type` is what the provider put in a header, if anything.
pub fn normalize(
    provider: Option<&dyn Provider>,
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
    let health = provider.and_then(|p| p.webhook_health(&event_type, &json));
    let caused_by = provider.and_then(|p| p.webhook_cause(&event_type, &json));
    Ok(Normalized {
        event_type,
        health,
        caused_by,
        body: json,
    })
}

/// The event type the bridge stores with a delivery, before processing:
/// the provider's header when it names one, else the body's own field
/// (read without building the document: only the few keys that name it).
pub fn stored_event_type(header_event_type: String, body: &[u8]) -> String {
    if !header_event_type.is_empty() {
        return header_event_type;
    }
    let found = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice::<Names>(body)
            .ok()
            .and_then(|n| n.kind.or(n.document_type)),
        // HubSpot batches: the first event names them.
        Some(b'[') => serde_json::from_slice::<FirstOf>(body)
            .ok()
            .and_then(|first| first.0)
            .and_then(|n| n.subscription_type),
        _ => None,
    };
    found
        .map(|t| t.chars().take(128).collect())
        .unwrap_or_default()
}

/// The keys of one JSON object that can name its event; every other value
/// is skipped unread, and (as with `Value`) a repeated key's last value wins.
#[derive(Default)]
struct Names {
    kind: Option<String>,
    document_type: Option<String>,
    subscription_type: Option<String>,
}

impl<'de> serde::Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Names;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Names, A::Error> {
                read_names(map)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn read_names<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Names, A::Error> {
    let mut names = Names::default();
    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
        let slot = match key.as_ref() {
            "type" => &mut names.kind,
            "_type" => &mut names.document_type,
            "subscriptionType" => &mut names.subscription_type,
            _ => {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
        };
        *slot = map.next_value::<Text>()?.into_string();
    }
    Ok(names)
}

/// A string value, or any other (which names nothing).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Text {
    Str(String),
    Other(serde::de::IgnoredAny),
}

impl Text {
    fn into_string(self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s),
            Self::Other(_) => None,
        }
    }
}

/// The first element of a JSON array, when it is an object; the rest is
/// skipped unread.
struct FirstOf(Option<Names>);

/// An array element: an object's names, or anything else.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Element {
    Object(Names),
    Other(serde::de::IgnoredAny),
}

impl<'de> serde::Deserialize<'de> for FirstOf {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FirstOf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FirstOf, A::Error> {
                let first = match seq.next_element::<Element>()? {
                    Some(Element::Object(names)) => Some(names),
                    _ => None,
                };
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstOf(first))
            }
        }
        deserializer.deserialize_seq(Visitor)
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
    use crate::providers;

    #[test]
    fn vercel_deployment_errors_say_which_environment_failed() {
        let body = br#"{"type":"deployment.error","payload":{"target":"production","deployment":{"url":"app-x.vercel.app"}}}"#;
        let n = normalize(providers::find("vercel"), "", body).expect("json");
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
            normalize(providers::find("github"), "push", b"{}")
                .expect("json")
                .event_type,
            "push"
        );
        let hubspot = br#"[{"subscriptionType":"contact.creation","objectId":1}]"#;
        assert_eq!(
            normalize(providers::find("hubspot"), "", hubspot)
                .expect("json")
                .event_type,
            "contact.creation"
        );
        assert_eq!(
            normalize(providers::find("http"), "", b"")
                .expect("empty")
                .event_type,
            ""
        );
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
            let processed = normalize(providers::find("http"), "", body).map(|n| n.event_type);
            let stored = stored_event_type(String::new(), body);
            assert_eq!(stored, processed.unwrap_or_default(), "{body:?}");
        }
        assert_eq!(stored_event_type("push".into(), br#"{"type":"x"}"#), "push");
    }

    #[test]
    fn broken_json_fails_and_other_bodies_pass_as_they_are() {
        assert!(normalize(providers::find("http"), "", br#"{"truncated": "#).is_err());
        let form = normalize(None, "", b"token=x&command=%2Fdeploy").expect("form body");
        assert_eq!(form.event_type, "");
    }
}
