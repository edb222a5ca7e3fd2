//! gRPC translation for IntegrationRegistry: parse the request, call the
//! [`Registry`], convert the answer.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    Registry,
    model::MappingSource,
    proto::{catalog as catalog_proto, connection as connection_proto, template as template_proto},
};
use crate::{
    auth::caller_of,
    error::ApiError,
    field_mask::Selection,
    idempotency::RequestKey,
    names::{ResourceId, TemplateName, TypeId},
    paging::PageRequest,
    proto::{json, v1 as pb, v1::integration_registry_server::IntegrationRegistry},
};

/// Serves `patchbay.v1.IntegrationRegistry`.
#[derive(Clone)]
pub struct RegistryGrpc {
    registry: Registry,
    public_url: Arc<str>,
}

impl RegistryGrpc {
    pub fn new(registry: Registry, public_url: Arc<str>) -> Self {
        Self {
            registry,
            public_url,
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl IntegrationRegistry for RegistryGrpc {
    async fn list_integration_types(
        &self,
        request: Request<pb::ListIntegrationTypesRequest>,
    ) -> Reply<pb::ListIntegrationTypesResponse> {
        caller_of(&request)?;
        let r = request.get_ref();
        let query = catalog_proto::query_from_proto(r)?;
        let popular = r.popular_only.to_string();
        let page = PageRequest::parse(
            r.page_size,
            &r.page_token,
            &[&r.category.to_string(), &r.capability, &r.query, &popular],
        )?;
        let (types, next_page_token, total) = self.registry.list_types(&query, &page).await?;
        Ok(Response::new(pb::ListIntegrationTypesResponse {
            integration_types: types.iter().map(catalog_proto::to_proto).collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn get_integration_type(
        &self,
        request: Request<pb::GetIntegrationTypeRequest>,
    ) -> Reply<pb::IntegrationType> {
        caller_of(&request)?;
        let id = TypeId::parse_name(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let ty = self.registry.get_type(&id).await?;
        Ok(Response::new(catalog_proto::to_proto(&ty)))
    }

    async fn register_integration_type(
        &self,
        request: Request<pb::RegisterIntegrationTypeRequest>,
    ) -> Reply<pb::IntegrationType> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        caller.require_platform_admin()?;
        let proto_type = r
            .integration_type
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("integration_type", "is required"))?;
        let mut definition = catalog_proto::definition_from_proto(proto_type)?;
        // New types start active; deactivate them with an update.
        definition.active = true;
        let key = RequestKey::parse(
            &r.request_id,
            &pb::RegisterIntegrationTypeRequest {
                request_id: String::new(),
                ..r.clone()
            },
        )?;
        let ty = self.registry.register_type(caller, definition, key).await?;
        Ok(Response::new(catalog_proto::to_proto(&ty)))
    }

    async fn update_integration_type(
        &self,
        request: Request<pb::UpdateIntegrationTypeRequest>,
    ) -> Reply<pb::IntegrationType> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        caller.require_platform_admin()?;
        let patch = r
            .integration_type
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("integration_type", "is required"))?;
        let id = TypeId::parse_name(&patch.name).map_err(|e| e.at("integration_type.name"))?;
        let fields = Selection::parse(r.update_mask.as_ref(), &catalog_proto::UPDATABLE)?;
        let etag = (!patch.etag.is_empty()).then_some(patch.etag.as_str());
        let ty = self
            .registry
            .update_type(caller, &id, etag, |current| {
                let mut merged = catalog_proto::to_proto(current);
                catalog_proto::apply_mask(&mut merged, patch, &fields);
                catalog_proto::definition_from_proto(&merged)
            })
            .await?;
        Ok(Response::new(catalog_proto::to_proto(&ty)))
    }

    async fn create_connection(
        &self,
        request: Request<pb::CreateConnectionRequest>,
    ) -> Reply<pb::Connection> {
        let caller = caller_of(&request)?;
        let input = connection_proto::create_input(request.get_ref())?;
        let created = self.registry.create_connection(caller, input).await?;
        Ok(Response::new(connection_proto::to_proto(
            &created.value,
            &self.public_url,
            created.generated_secret.as_ref(),
        )))
    }

    async fn get_connection(
        &self,
        request: Request<pb::GetConnectionRequest>,
    ) -> Reply<pb::Connection> {
        let caller = caller_of(&request)?;
        let name = connection_proto::parse_name(&request.get_ref().name)?;
        let connection = self.registry.get_connection(caller, &name).await?;
        Ok(Response::new(connection_proto::to_proto(
            &connection,
            &self.public_url,
            None,
        )))
    }

    async fn list_connections(
        &self,
        request: Request<pb::ListConnectionsRequest>,
    ) -> Reply<pb::ListConnectionsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let query = connection_proto::query_from_proto(r)?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent, &r.filter])?;
        let (connections, next_page_token, total) = self
            .registry
            .list_connections(caller, &query, &page)
            .await?;
        Ok(Response::new(pb::ListConnectionsResponse {
            connections: connections
                .iter()
                .map(|c| connection_proto::to_proto(c, &self.public_url, None))
                .collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn update_connection(
        &self,
        request: Request<pb::UpdateConnectionRequest>,
    ) -> Reply<pb::Connection> {
        let caller = caller_of(&request)?;
        let update = connection_proto::update_from_proto(request.get_ref())?;
        let connection = self.registry.update_connection(caller, update).await?;
        Ok(Response::new(connection_proto::to_proto(
            &connection,
            &self.public_url,
            None,
        )))
    }

    async fn delete_connection(&self, request: Request<pb::DeleteConnectionRequest>) -> Reply<()> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = connection_proto::parse_name(&r.name)?;
        let etag = (!r.etag.is_empty()).then_some(r.etag.as_str());
        self.registry.delete_connection(caller, &name, etag).await?;
        Ok(Response::new(()))
    }

    async fn set_connection_credentials(
        &self,
        request: Request<pb::SetConnectionCredentialsRequest>,
    ) -> Reply<pb::Connection> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let (name, credentials) = connection_proto::credentials_from_proto(r)?;
        let etag = (!r.etag.is_empty()).then_some(r.etag.as_str());
        let connection = self
            .registry
            .set_credentials(caller, &name, &credentials, etag)
            .await?;
        Ok(Response::new(connection_proto::to_proto(
            &connection,
            &self.public_url,
            None,
        )))
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Reply<pb::Connection> {
        let caller = caller_of(&request)?;
        let (name, supplied) = connection_proto::rotate_from_proto(request.get_ref())?;
        let rotated = self
            .registry
            .rotate_webhook_secret(caller, &name, supplied)
            .await?;
        Ok(Response::new(connection_proto::to_proto(
            &rotated.value,
            &self.public_url,
            rotated.generated_secret.as_ref(),
        )))
    }

    async fn create_mapping_template(
        &self,
        request: Request<pb::CreateMappingTemplateRequest>,
    ) -> Reply<pb::MappingTemplate> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = template_proto::parse_parent(&r.parent)?;
        let template = r
            .mapping_template
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("mapping_template", "is required"))?;
        let id = if r.mapping_template_id.is_empty() {
            ResourceId::generate("template")
        } else {
            ResourceId::parse("mapping template", &r.mapping_template_id)
                .map_err(|e| e.at("mapping_template_id"))?
        };
        let definition =
            template_proto::definition_from_proto(TemplateName { project, id }, template)?;
        let key = RequestKey::parse(
            &r.request_id,
            &pb::CreateMappingTemplateRequest {
                request_id: String::new(),
                ..r.clone()
            },
        )?;
        let created = self
            .registry
            .create_template(caller, definition, key)
            .await?;
        Ok(Response::new(template_proto::to_proto(&created)))
    }

    async fn get_mapping_template(
        &self,
        request: Request<pb::GetMappingTemplateRequest>,
    ) -> Reply<pb::MappingTemplate> {
        let caller = caller_of(&request)?;
        let name = TemplateName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let template = self.registry.get_template(caller, &name).await?;
        Ok(Response::new(template_proto::to_proto(&template)))
    }

    async fn list_mapping_templates(
        &self,
        request: Request<pb::ListMappingTemplatesRequest>,
    ) -> Reply<pb::ListMappingTemplatesResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let query = template_proto::query_from_proto(r)?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent, &r.filter])?;
        let (templates, next_page_token) =
            self.registry.list_templates(caller, &query, &page).await?;
        Ok(Response::new(pb::ListMappingTemplatesResponse {
            mapping_templates: templates.iter().map(template_proto::to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_mapping_template(
        &self,
        request: Request<pb::UpdateMappingTemplateRequest>,
    ) -> Reply<pb::MappingTemplate> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let patch = r
            .mapping_template
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("mapping_template", "is required"))?;
        let name = TemplateName::parse(&patch.name).map_err(|e| e.at("mapping_template.name"))?;
        let fields = Selection::parse(r.update_mask.as_ref(), &template_proto::UPDATABLE)?;
        let etag = (!patch.etag.is_empty()).then_some(patch.etag.as_str());
        let updated = self
            .registry
            .update_template(caller, &name, etag, |current| {
                let mut merged = template_proto::to_proto(current);
                template_proto::apply_mask(&mut merged, patch, &fields);
                template_proto::definition_from_proto(name.clone(), &merged)
            })
            .await?;
        Ok(Response::new(template_proto::to_proto(&updated)))
    }

    async fn delete_mapping_template(
        &self,
        request: Request<pb::DeleteMappingTemplateRequest>,
    ) -> Reply<()> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = TemplateName::parse(&r.name).map_err(|e| e.at("name"))?;
        let etag = (!r.etag.is_empty()).then_some(r.etag.as_str());
        self.registry.delete_template(caller, &name, etag).await?;
        Ok(Response::new(()))
    }

    async fn transform_record(
        &self,
        request: Request<pb::TransformRecordRequest>,
    ) -> Reply<pb::TransformRecordResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let source = match (r.template.is_empty(), r.fields.is_empty()) {
            (false, true) => MappingSource::Stored(
                TemplateName::parse(&r.template).map_err(|e| e.at("template"))?,
            ),
            (true, false) => {
                let mut v = Vec::new();
                let fields = template_proto::mappings_from_proto(&r.fields, "fields", &mut v);
                if !v.is_empty() {
                    return Err(ApiError::invalid_argument(v).into());
                }
                MappingSource::Inline(fields)
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "template",
                    "set exactly one of template and fields",
                )
                .into());
            }
        };
        let record = template_proto::record_from_proto(r.record.as_ref())?;
        let (mapped, errors) = self
            .registry
            .transform_record(caller, source, &record)
            .await?;
        Ok(Response::new(pb::TransformRecordResponse {
            record: Some(json::json_to_struct(&mapped)),
            field_errors: errors
                .iter()
                .map(template_proto::field_error_to_proto)
                .collect(),
        }))
    }

    async fn get_registry_stats(
        &self,
        request: Request<pb::GetRegistryStatsRequest>,
    ) -> Reply<pb::RegistryStats> {
        let caller = caller_of(&request)?;
        let stats = self.registry.stats(caller).await?;
        let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(Response::new(pb::RegistryStats {
            categories: stats
                .categories
                .iter()
                .map(|(category, n)| pb::CategoryCount {
                    category: catalog_proto::category_to_proto(*category).into(),
                    type_count: count(*n),
                })
                .collect(),
            connections: stats
                .connections
                .iter()
                .map(|(type_id, state, n)| pb::ConnectionCount {
                    integration_type: type_id.name(),
                    state: connection_proto::state_to_proto(*state).into(),
                    count: count(*n),
                })
                .collect(),
            total_types: count(stats.total_types),
            total_connections: count(stats.total_connections),
        }))
    }
}
