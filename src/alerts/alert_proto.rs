//! Alerts and notifications in their proto shape.

use super::{
    alert::{Alert, AlertState},
    model::Severity,
    notification::{Notification, NotificationState},
};
use crate::proto::{
    time::{timestamp, timestamp_opt},
    v1 as pb,
};

pub fn severity(s: Severity) -> pb::AlertSeverity {
    match s {
        Severity::Critical => pb::AlertSeverity::Critical,
        Severity::Warning => pb::AlertSeverity::Warning,
        Severity::Info => pb::AlertSeverity::Info,
    }
}

pub fn alert(a: &Alert) -> pb::Alert {
    pb::Alert {
        name: a.name.to_string(),
        rule: a.rule.to_string(),
        connection: a.connection.to_string(),
        dedupe_key: a.dedupe_key(),
        severity: severity(a.severity).into(),
        state: match a.state {
            AlertState::Firing => pb::AlertState::Firing,
            AlertState::Resolved => pb::AlertState::Resolved,
        }
        .into(),
        summary: a.summary.clone(),
        fire_time: Some(timestamp(a.fire_time)),
        resolve_time: timestamp_opt(a.resolve_time),
        resolve_reason: a
            .resolve_reason
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        observations: a.observations,
        acknowledge_time: timestamp_opt(a.acknowledge_time),
        acknowledged_by: a.acknowledged_by.clone().unwrap_or_default(),
        etag: a.etag.clone(),
    }
}

pub fn notification(n: &Notification) -> pb::Notification {
    pb::Notification {
        name: n.name(),
        alert: n.alert.clone().unwrap_or_default(),
        event_type: n.event_type.as_str().to_owned(),
        state: match n.state {
            NotificationState::Pending => pb::NotificationState::Pending,
            NotificationState::Delivered => pb::NotificationState::Delivered,
            NotificationState::DeadLetter => pb::NotificationState::DeadLetter,
        }
        .into(),
        attempts: n
            .attempts
            .iter()
            .map(|a| pb::NotificationAttempt {
                attempt: a.attempt,
                time: Some(timestamp(a.time)),
                ok: a.ok,
                status_code: a.status_code.unwrap_or_default(),
                error: a.error.clone(),
                duration_ms: a.duration_ms,
            })
            .collect(),
        create_time: Some(timestamp(n.create_time)),
        deliver_time: timestamp_opt(n.deliver_time),
        next_attempt_time: (n.state == NotificationState::Pending)
            .then(|| timestamp(n.next_attempt_at)),
    }
}
