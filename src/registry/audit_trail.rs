//! What the audit log records of each change to a connection: the fields
//! it touched, before and after. Credentials and webhook secrets appear
//! only as their fingerprints.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::Connection;
use crate::audit::{Change, model::FieldChange};

fn change(connection: &Connection, request_id: Option<Uuid>, fields: Vec<FieldChange>) -> Change {
    Change {
        project: Some(connection.name.project.as_str().to_owned()),
        resource: connection.name.to_string(),
        request_id,
        fields,
    }
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
        FieldChange::set("integration_type", connection.type_id.to_string()),
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
