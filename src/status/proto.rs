//! Status as one caller sees it, in proto: redacted for viewers, with the
//! actions this caller may run on each item.

use chrono::Utc;

use super::{
    cache::ProjectStatus,
    model::{Circuit, ConfiguredReason, ItemStatus, Level, ProblemCode},
};
use crate::{
    auth::Role,
    names::{ProjectId, TypeId},
    proto::{self, v1 as pb},
    registry::catalog_snapshot::CatalogSnapshot,
};

pub fn level(l: Level) -> pb::StatusLevel {
    match l {
        Level::Connected => pb::StatusLevel::Connected,
        Level::Warning => pb::StatusLevel::Warning,
        Level::Error => pb::StatusLevel::Error,
        Level::Disconnected => pb::StatusLevel::Disconnected,
    }
}

fn reason(r: ConfiguredReason) -> pb::ConfiguredReason {
    match r {
        ConfiguredReason::NotLinked => pb::ConfiguredReason::NotLinked,
        ConfiguredReason::Revoked => pb::ConfiguredReason::Revoked,
        ConfiguredReason::Disabled => pb::ConfiguredReason::Disabled,
        ConfiguredReason::HiddenByPolicy => pb::ConfiguredReason::HiddenByPolicy,
    }
}

fn problem_code(c: ProblemCode) -> pb::ProblemCode {
    match c {
        ProblemCode::OauthRevoked => pb::ProblemCode::OauthRevoked,
        ProblemCode::Unauthorized => pb::ProblemCode::Unauthorized,
        ProblemCode::RateLimited => pb::ProblemCode::RateLimited,
        ProblemCode::Timeout => pb::ProblemCode::Timeout,
        ProblemCode::Unreachable => pb::ProblemCode::Unreachable,
        ProblemCode::Misconfigured => pb::ProblemCode::Misconfigured,
        ProblemCode::Unknown => pb::ProblemCode::Unknown,
    }
}

fn circuit(c: Circuit) -> pb::CircuitState {
    match c {
        Circuit::Closed => pb::CircuitState::Closed,
        Circuit::Open => pb::CircuitState::Open,
        Circuit::HalfOpen => pb::CircuitState::HalfOpen,
    }
}

/// The item for a caller with `role`.
pub fn item(item: &ItemStatus, role: Role, catalog: &CatalogSnapshot) -> pb::IntegrationStatus {
    let redacted;
    let shown = if role == Role::Viewer {
        redacted = item.redacted();
        &redacted
    } else {
        item
    };
    let actions = catalog
        .spec(&item.type_id)
        .map(|spec| {
            spec.actions
                .iter()
                .map(|a| {
                    let why = if !role.satisfies(a.min_role) {
                        format!("ROLE_INSUFFICIENT: needs {}", a.min_role.as_str())
                    } else if item.connection.is_none() {
                        "NOT_LINKED: connect the integration first".to_owned()
                    } else if !item.configured {
                        "NOT_CONFIGURED: the connection is not active".to_owned()
                    } else {
                        String::new()
                    };
                    pb::ActionAvailability {
                        action: a.action.clone(),
                        can: why.is_empty(),
                        reason: why,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    pb::IntegrationStatus {
        connection: shown
            .connection
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        integration_type: shown.type_id.name(),
        configured: shown.configured,
        configured_reason: shown.configured_reason.map_or(0, |r| reason(r).into()),
        status: level(shown.level).into(),
        summary: shown.summary.clone(),
        // Placeholders never changed; they carry no time.
        update_time: shown
            .connection
            .as_ref()
            .map(|_| proto::time::timestamp(shown.updated_at)),
        stale: shown.stale,
        problem: shown.problem.as_ref().map(|p| pb::Problem {
            code: problem_code(p.code).into(),
            hint: p.hint.clone(),
            retry_after: p.retry_after.map(proto::time::duration),
        }),
        actions,
        environments: shown
            .environments
            .iter()
            .map(|e| pb::Environment {
                name: e.name.clone(),
                status: level(e.level).into(),
                summary: e.summary.clone(),
                url: e.url.clone().unwrap_or_default(),
                last_deploy_time: proto::time::timestamp_opt(e.last_deploy_at),
            })
            .collect(),
        circuit_state: circuit(shown.circuit).into(),
        latency: shown.latency.map(proto::time::duration),
    }
}

/// The envelope of GetProjectStatus and of a watch's snapshot. `hash` and
/// `render_hash` cover the project's connections; placeholders for
/// `include_types` follow from the request and never change them.
pub fn envelope(
    project: &ProjectId,
    status: &ProjectStatus,
    seq: i64,
    role: Role,
    include_types: &[TypeId],
    catalog: &CatalogSnapshot,
    if_none_match: &str,
) -> pb::StatusEnvelope {
    let mut out = pb::StatusEnvelope {
        project: project.name(),
        items: Vec::new(),
        overall: level(status.overall).into(),
        hash: status.hash.clone(),
        render_hash: status.render_hash.clone(),
        not_modified: false,
        seq,
        stale: false,
        pre_encoded: None,
    };
    if !if_none_match.is_empty() && if_none_match == status.hash {
        out.not_modified = true;
        return out;
    }
    out.items = status
        .items
        .iter()
        .map(|i| item(i, role, catalog))
        .collect();
    let now = Utc::now();
    let mut missing: Vec<&TypeId> = include_types
        .iter()
        .filter(|t| !status.items.iter().any(|i| &i.type_id == *t))
        .collect();
    missing.sort();
    missing.dedup();
    out.items.extend(
        missing
            .into_iter()
            .map(|t| item(&ItemStatus::not_linked(t.clone(), now), role, catalog)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_speak_the_proto_enum_names() {
        for code in ProblemCode::ALL {
            assert_eq!(
                problem_code(code).as_str_name(),
                format!("PROBLEM_CODE_{}", code.as_str())
            );
        }
    }
}
