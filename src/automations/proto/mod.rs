//! Automation ⇄ proto: the resource and its update mask here, specs in
//! `spec.rs`, runs, events and dry runs in `run.rs`.

pub mod run;
pub mod spec;

use crate::{
    automations::model::Automation,
    error::ApiError,
    field_mask::Selection,
    names::AutomationName,
    proto::{self, v1 as pb},
};

pub const UPDATABLE: [&str; 6] = [
    "display_name",
    "draft",
    "draft.trigger",
    "draft.steps",
    "draft.overlap_policy",
    "draft.max_runs_per_minute",
];

pub fn to_proto(a: &Automation) -> pb::Automation {
    pb::Automation {
        name: a.name.to_string(),
        display_name: a.display_name.clone(),
        draft: Some(spec::to_proto(&a.draft)),
        published_version: a.published.as_ref().map_or(0, |v| v.number),
        published: a.published.as_ref().map(|v| spec::to_proto(&v.spec)),
        held_runs: a.held_runs,
        published_by: a
            .published
            .as_ref()
            .map(|v| v.published_by.clone())
            .unwrap_or_default(),
        etag: a.etag.clone(),
        create_time: Some(proto::time::timestamp(a.create_time)),
        update_time: Some(proto::time::timestamp(a.update_time)),
        publish_time: a
            .published
            .as_ref()
            .map(|v| proto::time::timestamp(v.publish_time)),
    }
}

/// Merges the masked fields of `patch` into `base`.
pub fn apply_mask(base: &mut pb::Automation, patch: &pb::Automation, fields: &Selection) {
    if fields.wants("display_name", !patch.display_name.is_empty()) {
        base.display_name = patch.display_name.clone();
    }
    let empty = pb::AutomationSpec::default();
    let draft = patch.draft.as_ref().unwrap_or(&empty);
    if fields.wants("draft", patch.draft.is_some()) {
        base.draft = patch.draft.clone();
        return;
    }
    let target = base.draft.get_or_insert_with(Default::default);
    // Sub-fields are taken only when the mask names them.
    let named = |path: &str| fields.wants(path, false);
    if named("draft.trigger") {
        target.trigger = draft.trigger.clone();
    }
    if named("draft.steps") {
        target.steps = draft.steps.clone();
    }
    if named("draft.overlap_policy") {
        target.overlap_policy = draft.overlap_policy;
    }
    if named("draft.max_runs_per_minute") {
        target.max_runs_per_minute = draft.max_runs_per_minute;
    }
}

pub fn parse_name(name: &str, field: &str) -> Result<AutomationName, ApiError> {
    AutomationName::parse(name).map_err(|e| e.at(field))
}
