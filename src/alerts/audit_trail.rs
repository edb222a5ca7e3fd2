//! What the audit log records of each change to an alert rule.

use uuid::Uuid;

use super::model::{AlertRule, ChannelTarget, NotificationChannel, Scope};
use crate::audit::{Change, model::FieldChange};

fn fields(rule: &AlertRule) -> Vec<(&'static str, String)> {
    let d = &rule.definition;
    let scope = match &d.scope {
        Scope::Project => "project".to_owned(),
        Scope::Connection(id) => format!("connection {id}"),
        Scope::Type(t) => t.name(),
    };
    let channels: Vec<String> = d.channels.iter().map(|c| c.id.to_string()).collect();
    vec![
        ("display_name", d.display_name.clone()),
        ("severity", d.severity.as_str().to_owned()),
        ("scope", scope),
        ("channels", channels.join(",")),
        (
            "condition",
            serde_json::to_string(&d.condition).unwrap_or_default(),
        ),
        (
            "resolution",
            serde_json::to_string(&d.resolution).unwrap_or_default(),
        ),
        ("disabled", d.disabled.to_string()),
    ]
}

fn change(rule: &AlertRule, request_id: Option<Uuid>, fields: Vec<FieldChange>) -> Change {
    let name = &rule.definition.name;
    Change::in_project(&name.project, name, fields).with_request(request_id)
}

/// A rule's creation, with the project's default rules when this call gave
/// it them.
pub fn created(rule: &AlertRule, request_id: Option<Uuid>, defaults: &[String]) -> Change {
    let mut changed = FieldChange::diff(&[], &fields(rule));
    changed.extend(default_rules(defaults));
    change(rule, request_id, changed)
}

pub fn updated(before: &AlertRule, after: &AlertRule) -> Change {
    change(
        after,
        None,
        FieldChange::diff(&fields(before), &fields(after)),
    )
}

pub fn deleted(rule: &AlertRule) -> Change {
    change(rule, None, Vec::new())
}

/// The field a change that seeded the default rules adds to its entry.
pub fn default_rules(defaults: &[String]) -> Option<FieldChange> {
    (!defaults.is_empty()).then(|| FieldChange::set("default_alert_rules", defaults.join(",")))
}

fn channel_fields(c: &NotificationChannel) -> Vec<(&'static str, String)> {
    let d = &c.definition;
    let mut fields = vec![
        ("display_name", d.display_name.clone()),
        ("kind", d.target.kind().to_owned()),
    ];
    match &d.target {
        ChannelTarget::Webhook { uri } => fields.push(("webhook.uri", uri.clone())),
        ChannelTarget::Email { to } => fields.push(("email.to", to.join(","))),
    }
    if let Some(fingerprint) = &c.secret_fingerprint {
        fields.push(("signing_secret_fingerprint", fingerprint.clone()));
    }
    fields
}

fn channel_change(
    c: &NotificationChannel,
    request_id: Option<Uuid>,
    fields: Vec<FieldChange>,
) -> Change {
    let name = &c.definition.name;
    Change::in_project(&name.project, name, fields).with_request(request_id)
}

pub fn channel_created(c: &NotificationChannel, request_id: Option<Uuid>) -> Change {
    channel_change(c, request_id, FieldChange::diff(&[], &channel_fields(c)))
}

pub fn channel_updated(before: &NotificationChannel, after: &NotificationChannel) -> Change {
    channel_change(
        after,
        None,
        FieldChange::diff(&channel_fields(before), &channel_fields(after)),
    )
}

pub fn channel_deleted(c: &NotificationChannel) -> Change {
    channel_change(c, None, Vec::new())
}
