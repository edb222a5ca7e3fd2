//! What the audit log records of starting and cancelling an action. Of its
//! params only the keys: their values are the caller's data (a message, a
//! record) and may hold anything.

use super::model::Action;
use crate::audit::{Change, model::FieldChange};

fn change(action: &Action, request_id: Option<uuid::Uuid>, fields: Vec<FieldChange>) -> Change {
    Change::in_project(&action.name.project, &action.name, fields).with_request(request_id)
}

pub fn started(action: &Action) -> Change {
    let mut keys: Vec<&str> = action.params.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut fields = vec![
        FieldChange::set("connection", action.connection.to_string()),
        FieldChange::set("action", action.action.clone()),
        FieldChange::set("state", action.state.as_str()),
    ];
    if !keys.is_empty() {
        fields.push(FieldChange::set("params.keys", keys.join(",")));
    }
    change(action, Some(action.request_id), fields)
}

pub fn cancel_requested(before: &Action, after: &Action) -> Change {
    let fields = FieldChange::diff(
        &[
            ("state", before.state.as_str().to_owned()),
            ("cancel_requested", before.cancel_requested.to_string()),
        ],
        &[
            ("state", after.state.as_str().to_owned()),
            ("cancel_requested", after.cancel_requested.to_string()),
        ],
    );
    change(after, None, fields)
}
