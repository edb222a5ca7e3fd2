//! What a notification says: the Standard Webhooks body posted to webhook
//! channels (`{type, timestamp, data}`), and the email rendered from it.
//! Built once, when the alert changes, so every retry sends the same bytes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{alert::Alert, notification::EventType};
use crate::names::ChannelName;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The body of an alert's notification.
pub fn alert(event: EventType, alert: &Alert, rule_display_name: &str) -> Value {
    json!({
        "type": event.as_str(),
        "timestamp": time(alert.resolve_time.unwrap_or(alert.fire_time)),
        "data": {
            "alert": {
                "name": alert.name.to_string(),
                "rule": alert.rule.to_string(),
                "ruleDisplayName": rule_display_name,
                "connection": alert.connection.to_string(),
                "dedupeKey": alert.dedupe_key(),
                "severity": alert.severity.as_str().to_uppercase(),
                "state": alert.state.as_str().to_uppercase(),
                "summary": alert.summary,
                "fireTime": time(alert.fire_time),
                "resolveTime": alert.resolve_time.map(time),
                "resolveReason": alert.resolve_reason.map(|r| r.as_str()),
            }
        }
    })
}

/// The sample TestNotificationChannel sends.
pub fn test(channel: &ChannelName, now: DateTime<Utc>) -> Value {
    json!({
        "type": EventType::Test.as_str(),
        "timestamp": time(now),
        "data": {
            "channel": channel.to_string(),
            "message": "A test notification from Patchbay: this channel works.",
        }
    })
}

/// An email's subject and plain-text body for `payload`.
pub fn email(payload: &Value) -> (String, String) {
    let field = |path: &str| {
        payload
            .pointer(path)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match field("/type").as_str() {
        "alert.fired" | "alert.resolved" => {
            let what = if field("/type") == "alert.fired" {
                "Firing"
            } else {
                "Resolved"
            };
            let subject = format!(
                "[{}] {what}: {} on {}",
                field("/data/alert/severity"),
                field("/data/alert/ruleDisplayName"),
                field("/data/alert/connection"),
            );
            let mut body = format!(
                "{what}: {}\n\nConnection: {}\nRule: {}\nSeverity: {}\nWhat held: {}\nFired: {}\n",
                field("/data/alert/ruleDisplayName"),
                field("/data/alert/connection"),
                field("/data/alert/rule"),
                field("/data/alert/severity"),
                field("/data/alert/summary"),
                field("/data/alert/fireTime"),
            );
            if what == "Resolved" {
                body.push_str(&format!(
                    "Resolved: {} ({})\n",
                    field("/data/alert/resolveTime"),
                    field("/data/alert/resolveReason"),
                ));
            }
            body.push_str(&format!("\nAlert: {}\n", field("/data/alert/name")));
            (subject, body)
        }
        _ => (
            "[Patchbay] Test notification".to_owned(),
            format!(
                "{}\n\nChannel: {}\n",
                field("/data/message"),
                field("/data/channel")
            ),
        ),
    }
}
