//! gRPC translation for StatusService: project status reads and the watch stream.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::{
    app::AppState,
    error::not_built_yet,
    proto::v1::{
        GetConnectionStatusRequest, GetProjectStatusRequest, IntegrationStatus,
        RefreshStatusRequest, RefreshStatusResponse, StatusEnvelope, StatusUpdate,
        WatchProjectStatusRequest, status_service_server::StatusService,
    },
};

/// Serves `patchbay.v1.StatusService`.
#[derive(Clone)]
pub struct StatusGrpc {
    #[allow(dead_code)]
    state: AppState,
}

impl StatusGrpc {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl StatusService for StatusGrpc {
    type WatchProjectStatusStream =
        Pin<Box<dyn Stream<Item = Result<StatusUpdate, Status>> + Send>>;

    async fn get_project_status(
        &self,
        _request: Request<GetProjectStatusRequest>,
    ) -> Result<Response<StatusEnvelope>, Status> {
        not_built_yet("StatusService/GetProjectStatus")
    }

    async fn get_connection_status(
        &self,
        _request: Request<GetConnectionStatusRequest>,
    ) -> Result<Response<IntegrationStatus>, Status> {
        not_built_yet("StatusService/GetConnectionStatus")
    }

    async fn refresh_status(
        &self,
        _request: Request<RefreshStatusRequest>,
    ) -> Result<Response<RefreshStatusResponse>, Status> {
        not_built_yet("StatusService/RefreshStatus")
    }

    async fn watch_project_status(
        &self,
        _request: Request<WatchProjectStatusRequest>,
    ) -> Result<Response<Self::WatchProjectStatusStream>, Status> {
        not_built_yet("StatusService/WatchProjectStatus")
    }
}
