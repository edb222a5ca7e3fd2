//! What the audit log records of each change to the registry (connections,
//! mapping templates, integration types): the fields it touched, before and
//! after. Credentials and webhook secrets appear only as their
//! fingerprints.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::{Connection, IntegrationType, MappingTemplate};
use crate::audit::{Change, model::FieldChange};

fn change(connection: &Connection, request_id: Option<Uuid>, fields: Vec<FieldChange>) -> Change {
    Change::in_project(&connection.name.project, &connection.name, fields).with_request(request_id)
}

fn settings_diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| {
            FieldChange::new(
                &format!("settings.{key}"),
                before.get(key).map(Value::to_string),
                after.get(key).map(Value::to_string),
            )
        })
        .collect()
}

pub fn created(connection: &Connection, request_id: Option<Uuid>) -> Change {
    let mut fields = vec![
        FieldChange::set("integration_type", connection.type_id.name()),
        FieldChange::set("display_name", connection.display_name.clone()),
        FieldChange::set("state", connection.state.as_str()),
        FieldChange::set(
            "webhook_secret_fingerprint",
            connection.webhook_secret_fingerprint.clone(),
        ),
    ];
    fields.extend(settings_diff(&Map::new(), &connection.settings));
    change(connection, request_id, fields)
}

pub fn updated(before: &Connection, after: &Connection) -> Change {
    let mut fields = Vec::new();
    if before.display_name != after.display_name {
        fields.push(FieldChange::new(
            "display_name",
            Some(before.display_name.clone()),
            Some(after.display_name.clone()),
        ));
    }
    if before.state != after.state {
        fields.push(FieldChange::new(
            "state",
            Some(before.state.as_str().to_owned()),
            Some(after.state.as_str().to_owned()),
        ));
    }
    fields.extend(settings_diff(&before.settings, &after.settings));
    change(after, None, fields)
}

pub fn deleted(connection: &Connection) -> Change {
    change(connection, None, Vec::new())
}

pub fn credentials_set(before: &Connection, after: &Connection) -> Change {
    let mut fields = vec![FieldChange::new(
        "credentials_fingerprint",
        before.credentials_fingerprint.clone(),
        after.credentials_fingerprint.clone(),
    )];
    if before.state != after.state {
        fields.push(FieldChange::new(
            "state",
            Some(before.state.as_str().to_owned()),
            Some(after.state.as_str().to_owned()),
        ));
    }
    change(after, None, fields)
}

pub fn webhook_secret_rotated(before_fingerprint: String, after: &Connection) -> Change {
    change(
        after,
        None,
        vec![FieldChange::new(
            "webhook_secret_fingerprint",
            Some(before_fingerprint),
            Some(after.webhook_secret_fingerprint.clone()),
        )],
    )
}

/// A template's audited fields; its mapping as JSON.
fn template_fields(t: &MappingTemplate) -> Vec<(&'static str, String)> {
    let d = &t.definition;
    vec![
        ("display_name", d.display_name.clone()),
        ("integration_type", d.type_id.name()),
        ("entity_type", d.entity_type.clone()),
        ("default_for_entity", d.default_for_entity.to_string()),
        (
            "fields",
            serde_json::to_string(&d.fields).unwrap_or_default(),
        ),
    ]
}

fn template_change(
    t: &MappingTemplate,
    request_id: Option<Uuid>,
    fields: Vec<FieldChange>,
) -> Change {
    let name = &t.definition.name;
    Change::in_project(&name.project, name, fields).with_request(request_id)
}

pub fn template_created(t: &MappingTemplate, request_id: Option<Uuid>) -> Change {
    template_change(t, request_id, FieldChange::diff(&[], &template_fields(t)))
}

pub fn template_updated(before: &MappingTemplate, after: &MappingTemplate) -> Change {
    let fields = FieldChange::diff(&template_fields(before), &template_fields(after));
    template_change(after, None, fields)
}

pub fn template_deleted(t: &MappingTemplate) -> Change {
    template_change(t, None, Vec::new())
}

/// A type's audited fields; its spec as JSON.
fn type_fields(t: &IntegrationType) -> Vec<(&'static str, String)> {
    let d = &t.definition;
    vec![
        ("display_name", d.display_name.clone()),
        ("category", d.category.as_str().to_owned()),
        ("description", d.description.clone()),
        ("capabilities", d.capabilities.join(",")),
        ("popular", d.popular.to_string()),
        ("active", d.active.to_string()),
        ("spec", serde_json::to_string(&d.spec).unwrap_or_default()),
    ]
}

/// Types are platform-wide: their entries go on the platform's chain.
fn type_change(t: &IntegrationType, request_id: Option<Uuid>, fields: Vec<FieldChange>) -> Change {
    Change::platform(t.definition.id.name(), fields).with_request(request_id)
}

pub fn type_registered(t: &IntegrationType, request_id: Option<Uuid>) -> Change {
    type_change(t, request_id, FieldChange::diff(&[], &type_fields(t)))
}

pub fn type_updated(before: &IntegrationType, after: &IntegrationType) -> Change {
    type_change(
        after,
        None,
        FieldChange::diff(&type_fields(before), &type_fields(after)),
    )
}
