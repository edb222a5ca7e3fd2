//! gRPC translation for Diagnostics: health, checks, webhook verification and deployment drift.

use tonic::{Request, Response, Status};

use crate::{
    error::not_built_yet,
    proto::v1::{
        CompareDeploymentsRequest, CompareDeploymentsResponse, ConnectionDiagnosis, DeploymentInfo,
        DiagnoseConnectionRequest, DiagnoseProjectRequest, GetDeploymentInfoRequest,
        GetServiceHealthRequest, ListWebhookDeliveriesRequest, ListWebhookDeliveriesResponse,
        ProjectDiagnosis, RedriveDeliveriesRequest, RedriveDeliveriesResponse,
        SendTestWebhookRequest, SendTestWebhookResponse, ServiceHealth, VerifyWebhookRequest,
        VerifyWebhookResponse, diagnostics_server::Diagnostics,
    },
};

/// Serves `patchbay.v1.Diagnostics`.
#[derive(Clone, Default)]
pub struct DiagnosticsGrpc;

#[tonic::async_trait]
impl Diagnostics for DiagnosticsGrpc {
    async fn get_service_health(
        &self,
        _request: Request<GetServiceHealthRequest>,
    ) -> Result<Response<ServiceHealth>, Status> {
        not_built_yet("Diagnostics/GetServiceHealth")
    }

    async fn diagnose_connection(
        &self,
        _request: Request<DiagnoseConnectionRequest>,
    ) -> Result<Response<ConnectionDiagnosis>, Status> {
        not_built_yet("Diagnostics/DiagnoseConnection")
    }

    async fn diagnose_project(
        &self,
        _request: Request<DiagnoseProjectRequest>,
    ) -> Result<Response<ProjectDiagnosis>, Status> {
        not_built_yet("Diagnostics/DiagnoseProject")
    }

    async fn verify_webhook(
        &self,
        _request: Request<VerifyWebhookRequest>,
    ) -> Result<Response<VerifyWebhookResponse>, Status> {
        not_built_yet("Diagnostics/VerifyWebhook")
    }

    async fn send_test_webhook(
        &self,
        _request: Request<SendTestWebhookRequest>,
    ) -> Result<Response<SendTestWebhookResponse>, Status> {
        not_built_yet("Diagnostics/SendTestWebhook")
    }

    async fn get_deployment_info(
        &self,
        _request: Request<GetDeploymentInfoRequest>,
    ) -> Result<Response<DeploymentInfo>, Status> {
        not_built_yet("Diagnostics/GetDeploymentInfo")
    }

    async fn compare_deployments(
        &self,
        _request: Request<CompareDeploymentsRequest>,
    ) -> Result<Response<CompareDeploymentsResponse>, Status> {
        not_built_yet("Diagnostics/CompareDeployments")
    }

    async fn list_webhook_deliveries(
        &self,
        _request: Request<ListWebhookDeliveriesRequest>,
    ) -> Result<Response<ListWebhookDeliveriesResponse>, Status> {
        not_built_yet("Diagnostics/ListWebhookDeliveries")
    }

    async fn redrive_deliveries(
        &self,
        _request: Request<RedriveDeliveriesRequest>,
    ) -> Result<Response<RedriveDeliveriesResponse>, Status> {
        not_built_yet("Diagnostics/RedriveDeliveries")
    }
}
