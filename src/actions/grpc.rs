//! gRPC translation for ActionService: parse, call [`Actions`], convert.

use tonic::{Request, Response, Status};

use super::{Actions, proto};
use crate::{
    auth::caller_of,
    names::ActionName,
    proto::v1::{
        Action, CancelActionRequest, GetActionRequest, ListActionsRequest, ListActionsResponse,
        StartActionRequest, action_service_server::ActionService,
    },
};

/// Serves `patchbay.v1.ActionService`.
#[derive(Clone)]
pub struct ActionsGrpc {
    actions: Actions,
}

impl ActionsGrpc {
    pub fn new(actions: Actions) -> Self {
        Self { actions }
    }
}

fn action_name(name: &str) -> Result<ActionName, Status> {
    ActionName::parse(name).map_err(|e| e.at("name").into())
}

#[tonic::async_trait]
impl ActionService for ActionsGrpc {
    async fn start_action(
        &self,
        request: Request<StartActionRequest>,
    ) -> Result<Response<Action>, Status> {
        let caller = caller_of(&request)?;
        let input = proto::start_from_proto(request.get_ref())?;
        let action = self.actions.start(caller, input).await?;
        Ok(Response::new(proto::to_proto(&action)))
    }

    async fn get_action(
        &self,
        request: Request<GetActionRequest>,
    ) -> Result<Response<Action>, Status> {
        let caller = caller_of(&request)?;
        let name = action_name(&request.get_ref().name)?;
        let action = self.actions.get(caller, &name).await?;
        Ok(Response::new(proto::to_proto(&action)))
    }

    async fn list_actions(
        &self,
        request: Request<ListActionsRequest>,
    ) -> Result<Response<ListActionsResponse>, Status> {
        let caller = caller_of(&request)?;
        let input = proto::list_from_proto(request.get_ref())?;
        let (actions, next_page_token) = self.actions.list(caller, &input).await?;
        Ok(Response::new(ListActionsResponse {
            actions: actions.iter().map(proto::to_proto).collect(),
            next_page_token,
        }))
    }

    async fn cancel_action(
        &self,
        request: Request<CancelActionRequest>,
    ) -> Result<Response<Action>, Status> {
        let caller = caller_of(&request)?;
        let name = action_name(&request.get_ref().name)?;
        let action = self.actions.cancel(caller, &name).await?;
        Ok(Response::new(proto::to_proto(&action)))
    }
}
