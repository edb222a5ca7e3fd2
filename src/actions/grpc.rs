//! gRPC translation for ActionService: starting, reading and cancelling actions.

use tonic::{Request, Response, Status};

use crate::{
    app::AppState,
    error::not_built_yet,
    proto::v1::{
        Action, CancelActionRequest, GetActionRequest, ListActionsRequest, ListActionsResponse,
        StartActionRequest, action_service_server::ActionService,
    },
};

/// Serves `patchbay.v1.ActionService`.
#[derive(Clone)]
pub struct ActionsGrpc {
    #[allow(dead_code)]
    state: AppState,
}

impl ActionsGrpc {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl ActionService for ActionsGrpc {
    async fn start_action(
        &self,
        _request: Request<StartActionRequest>,
    ) -> Result<Response<Action>, Status> {
        not_built_yet("ActionService/StartAction")
    }

    async fn get_action(
        &self,
        _request: Request<GetActionRequest>,
    ) -> Result<Response<Action>, Status> {
        not_built_yet("ActionService/GetAction")
    }

    async fn list_actions(
        &self,
        _request: Request<ListActionsRequest>,
    ) -> Result<Response<ListActionsResponse>, Status> {
        not_built_yet("ActionService/ListActions")
    }

    async fn cancel_action(
        &self,
        _request: Request<CancelActionRequest>,
    ) -> Result<Response<Action>, Status> {
        not_built_yet("ActionService/CancelAction")
    }
}
