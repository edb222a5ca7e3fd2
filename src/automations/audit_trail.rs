//! What the audit log records of each change to an automation and its runs.

use uuid::Uuid;

use super::model::{Automation, Run, Spec};
use crate::audit::{Change, model::FieldChange};

fn fields(display_name: &str, draft: &Spec) -> Vec<(&'static str, String)> {
    vec![
        ("display_name", display_name.to_owned()),
        ("draft", serde_json::to_string(draft).unwrap_or_default()),
    ]
}

pub fn created(a: &Automation, request_id: Option<Uuid>) -> Change {
    Change::in_project(
        &a.name.project,
        &a.name,
        FieldChange::diff(&[], &fields(&a.display_name, &a.draft)),
    )
    .with_request(request_id)
}

pub fn updated(before: &Automation, after: &Automation) -> Change {
    Change::in_project(
        &after.name.project,
        &after.name,
        FieldChange::diff(
            &fields(&before.display_name, &before.draft),
            &fields(&after.display_name, &after.draft),
        ),
    )
}

pub fn deleted(a: &Automation) -> Change {
    Change::in_project(&a.name.project, &a.name, Vec::new())
}

pub fn published(a: &Automation, version: i32, role: &str) -> Change {
    Change::in_project(
        &a.name.project,
        &a.name,
        vec![
            FieldChange::set("published_version", version.to_string()),
            FieldChange::set("published_role", role),
        ],
    )
}

/// A run started by hand or by a replay, or cancelled.
pub fn run(run: &Run, request_id: Option<Uuid>) -> Change {
    let project = &run.name.automation.project;
    Change::in_project(
        project,
        &run.name,
        vec![
            FieldChange::set("version", run.version.to_string()),
            FieldChange::set("state", run.state.as_str()),
        ],
    )
    .with_request(request_id)
}
