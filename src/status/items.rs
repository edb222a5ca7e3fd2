//! Items that follow from a connection's own state, before (or instead of)
//! any probe: pending, disabled, revoked, or active and not checked yet.

use chrono::{DateTime, Utc};

use super::model::{Circuit, ConfiguredReason, ItemStatus, Level, Problem, ProblemCode};
use crate::{names::ConnectionName, registry::model::ConnectionState};

pub fn for_state(
    name: &ConnectionName,
    type_id: &crate::names::TypeId,
    state: ConnectionState,
    now: DateTime<Utc>,
) -> ItemStatus {
    let (configured, reason, summary, problem) = match state {
        ConnectionState::Pending => (
            false,
            Some(ConfiguredReason::NotLinked),
            "Waiting for credentials",
            None,
        ),
        ConnectionState::Disabled => (false, Some(ConfiguredReason::Disabled), "Disabled", None),
        ConnectionState::Revoked => (
            false,
            Some(ConfiguredReason::Revoked),
            "Access revoked",
            Some(Problem {
                code: ProblemCode::OauthRevoked,
                hint: "Reconnect the integration".to_owned(),
                retry_after: None,
            }),
        ),
        ConnectionState::Active => (true, None, "Not checked yet", None),
    };
    ItemStatus {
        connection: Some(name.clone()),
        type_id: type_id.clone(),
        configured,
        configured_reason: reason,
        level: Level::Disconnected,
        summary: summary.to_owned(),
        redacted_summary: summary.to_owned(),
        problem,
        environments: Vec::new(),
        circuit: Circuit::Closed,
        updated_at: now,
        stale: false,
        latency: None,
    }
}
