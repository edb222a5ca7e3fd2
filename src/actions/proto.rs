//! Requests in, `patchbay.v1.Action` out.

use prost::Message as _;

use super::{
    model::{Action, ActionState},
    service::{ListInput, StartInput},
};
use crate::{
    error::ApiError,
    idempotency::RequestKey,
    list_filter::Filter,
    names::{ConnectionName, ProjectId, ResourceId},
    paging::PageRequest,
    proto::{json, time, v1 as pb},
};

/// Params larger than this are refused.
const MAX_PARAMS_BYTES: usize = 64 * 1024;

pub fn start_from_proto(r: &pb::StartActionRequest) -> Result<StartInput, ApiError> {
    let connection = ConnectionName::parse(&r.connection).map_err(|e| e.at("connection"))?;
    if r.action.is_empty() || r.action.len() > 64 {
        return Err(ApiError::invalid_field(
            "action",
            "must be 1 to 64 characters",
        ));
    }
    if r.request_id.is_empty() {
        return Err(ApiError::invalid_field(
            "request_id",
            "is required (a UUID)",
        ));
    }
    let params = r
        .params
        .as_ref()
        .map(json::struct_to_json)
        .unwrap_or_default();
    if r.params
        .as_ref()
        .is_some_and(|p| p.encoded_len() > MAX_PARAMS_BYTES)
    {
        return Err(ApiError::invalid_field("params", "is larger than 64 KiB"));
    }
    let mut digested = r.clone();
    digested.request_id.clear();
    let key = RequestKey::parse(&r.request_id, &digested)?
        .ok_or_else(|| ApiError::invalid_field("request_id", "is required (a UUID)"))?;
    Ok(StartInput {
        connection,
        action: r.action.clone(),
        params,
        key,
        cause_chain: None,
    })
}

pub fn list_from_proto(r: &pb::ListActionsRequest) -> Result<ListInput, ApiError> {
    let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
    let filter = Filter::parse(&r.filter, &["connection", "state"])?;
    let connection = filter
        .get("connection")
        .map(|c| {
            let name = ConnectionName::parse(c).map_err(|e| e.at("filter"))?;
            if name.project != project {
                return Err(ApiError::invalid_field(
                    "filter",
                    "the connection is in another project",
                ));
            }
            Ok::<ResourceId, ApiError>(name.id)
        })
        .transpose()?;
    let state = filter
        .get("state")
        .map(|s| {
            let s = s
                .strip_prefix("ACTION_STATE_")
                .unwrap_or(s)
                .to_ascii_lowercase();
            ActionState::parse(&s).ok_or_else(|| {
                ApiError::invalid_field(
                    "filter",
                    "state is one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED",
                )
            })
        })
        .transpose()?;
    let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent, &r.filter])?;
    Ok(ListInput {
        project,
        connection,
        state,
        page,
    })
}

impl From<ActionState> for pb::ActionState {
    fn from(s: ActionState) -> Self {
        match s {
            ActionState::Pending => Self::Pending,
            ActionState::Running => Self::Running,
            ActionState::Succeeded => Self::Succeeded,
            ActionState::Failed => Self::Failed,
            ActionState::Cancelled => Self::Cancelled,
        }
    }
}

pub fn to_proto(a: &Action) -> pb::Action {
    pb::Action {
        name: a.name.to_string(),
        connection: a.connection.to_string(),
        action: a.action.clone(),
        state: pb::ActionState::from(a.state).into(),
        progress_percent: a.progress_percent,
        progress_message: a.progress_message.clone(),
        params: Some(json::json_to_struct(&a.params)),
        result: a.result.as_ref().map(json::json_to_struct),
        error: a
            .error
            .as_deref()
            .and_then(|bytes| tonic_types::pb::Status::decode(bytes).ok()),
        attempts: a.attempts,
        requested_by: a.requested_by.clone(),
        request_id: a.request_id.to_string(),
        create_time: Some(time::timestamp(a.create_time)),
        start_time: time::timestamp_opt(a.start_time),
        update_time: Some(time::timestamp(a.update_time)),
        end_time: time::timestamp_opt(a.end_time),
        unconfirmed_repeats: a.unconfirmed_repeats,
        cause_chain: a.cause_chain.clone(),
    }
}
