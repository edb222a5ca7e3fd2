//! gRPC translation for IntegrationRegistry: the catalog, connections, credentials and mapping templates.

use tonic::{Request, Response, Status};

use crate::{
    app::AppState,
    error::not_built_yet,
    proto::v1::{
        Connection, CreateConnectionRequest, CreateMappingTemplateRequest, DeleteConnectionRequest,
        DeleteMappingTemplateRequest, GetConnectionRequest, GetIntegrationTypeRequest,
        GetMappingTemplateRequest, GetRegistryStatsRequest, IntegrationType,
        ListConnectionsRequest, ListConnectionsResponse, ListIntegrationTypesRequest,
        ListIntegrationTypesResponse, ListMappingTemplatesRequest, ListMappingTemplatesResponse,
        MappingTemplate, RegisterIntegrationTypeRequest, RegistryStats, RotateWebhookSecretRequest,
        SetConnectionCredentialsRequest, TransformRecordRequest, TransformRecordResponse,
        UpdateConnectionRequest, UpdateIntegrationTypeRequest, UpdateMappingTemplateRequest,
        integration_registry_server::IntegrationRegistry,
    },
};

/// Serves `patchbay.v1.IntegrationRegistry`.
#[derive(Clone)]
pub struct RegistryGrpc {
    #[allow(dead_code)]
    state: AppState,
}

impl RegistryGrpc {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl IntegrationRegistry for RegistryGrpc {
    async fn list_integration_types(
        &self,
        _request: Request<ListIntegrationTypesRequest>,
    ) -> Result<Response<ListIntegrationTypesResponse>, Status> {
        not_built_yet("IntegrationRegistry/ListIntegrationTypes")
    }

    async fn get_integration_type(
        &self,
        _request: Request<GetIntegrationTypeRequest>,
    ) -> Result<Response<IntegrationType>, Status> {
        not_built_yet("IntegrationRegistry/GetIntegrationType")
    }

    async fn register_integration_type(
        &self,
        _request: Request<RegisterIntegrationTypeRequest>,
    ) -> Result<Response<IntegrationType>, Status> {
        not_built_yet("IntegrationRegistry/RegisterIntegrationType")
    }

    async fn update_integration_type(
        &self,
        _request: Request<UpdateIntegrationTypeRequest>,
    ) -> Result<Response<IntegrationType>, Status> {
        not_built_yet("IntegrationRegistry/UpdateIntegrationType")
    }

    async fn create_connection(
        &self,
        _request: Request<CreateConnectionRequest>,
    ) -> Result<Response<Connection>, Status> {
        not_built_yet("IntegrationRegistry/CreateConnection")
    }

    async fn get_connection(
        &self,
        _request: Request<GetConnectionRequest>,
    ) -> Result<Response<Connection>, Status> {
        not_built_yet("IntegrationRegistry/GetConnection")
    }

    async fn list_connections(
        &self,
        _request: Request<ListConnectionsRequest>,
    ) -> Result<Response<ListConnectionsResponse>, Status> {
        not_built_yet("IntegrationRegistry/ListConnections")
    }

    async fn update_connection(
        &self,
        _request: Request<UpdateConnectionRequest>,
    ) -> Result<Response<Connection>, Status> {
        not_built_yet("IntegrationRegistry/UpdateConnection")
    }

    async fn delete_connection(
        &self,
        _request: Request<DeleteConnectionRequest>,
    ) -> Result<Response<()>, Status> {
        not_built_yet("IntegrationRegistry/DeleteConnection")
    }

    async fn set_connection_credentials(
        &self,
        _request: Request<SetConnectionCredentialsRequest>,
    ) -> Result<Response<Connection>, Status> {
        not_built_yet("IntegrationRegistry/SetConnectionCredentials")
    }

    async fn rotate_webhook_secret(
        &self,
        _request: Request<RotateWebhookSecretRequest>,
    ) -> Result<Response<Connection>, Status> {
        not_built_yet("IntegrationRegistry/RotateWebhookSecret")
    }

    async fn create_mapping_template(
        &self,
        _request: Request<CreateMappingTemplateRequest>,
    ) -> Result<Response<MappingTemplate>, Status> {
        not_built_yet("IntegrationRegistry/CreateMappingTemplate")
    }

    async fn get_mapping_template(
        &self,
        _request: Request<GetMappingTemplateRequest>,
    ) -> Result<Response<MappingTemplate>, Status> {
        not_built_yet("IntegrationRegistry/GetMappingTemplate")
    }

    async fn list_mapping_templates(
        &self,
        _request: Request<ListMappingTemplatesRequest>,
    ) -> Result<Response<ListMappingTemplatesResponse>, Status> {
        not_built_yet("IntegrationRegistry/ListMappingTemplates")
    }

    async fn update_mapping_template(
        &self,
        _request: Request<UpdateMappingTemplateRequest>,
    ) -> Result<Response<MappingTemplate>, Status> {
        not_built_yet("IntegrationRegistry/UpdateMappingTemplate")
    }

    async fn delete_mapping_template(
        &self,
        _request: Request<DeleteMappingTemplateRequest>,
    ) -> Result<Response<()>, Status> {
        not_built_yet("IntegrationRegistry/DeleteMappingTemplate")
    }

    async fn transform_record(
        &self,
        _request: Request<TransformRecordRequest>,
    ) -> Result<Response<TransformRecordResponse>, Status> {
        not_built_yet("IntegrationRegistry/TransformRecord")
    }

    async fn get_registry_stats(
        &self,
        _request: Request<GetRegistryStatsRequest>,
    ) -> Result<Response<RegistryStats>, Status> {
        not_built_yet("IntegrationRegistry/GetRegistryStats")
    }
}
