//! Mapping templates: how one provider entity becomes an internal record.

use serde_json::{Map, Value};

use super::model::{MappingSource, MappingTemplate, TemplateDefinition, TemplateQuery};
use super::{
    Registry, audit_trail,
    transform::{self, FieldError},
};
use crate::{
    audit,
    auth::{Caller, Role},
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    idempotency::RequestKey,
    names::TemplateName,
    paging::PageRequest,
    store::{self, StoreError, templates::InsertOutcome},
};

fn default_taken(d: &TemplateDefinition) -> ApiError {
    ApiError::new(
        ErrorCode::AlreadyExists,
        "DEFAULT_TEMPLATE_EXISTS",
        format!(
            "project {} already has a default template for {} {}",
            d.name.project, d.type_id, d.entity_type
        ),
    )
}

impl Registry {
    pub async fn create_template(
        &self,
        caller: &Caller,
        definition: TemplateDefinition,
        request: Option<RequestKey>,
    ) -> Result<MappingTemplate, ApiError> {
        caller.require(&definition.name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let project = &definition.name.project;
        if let Some(request) = &request
            && let Some((template, digest)) =
                store::templates::by_request(&client, project, request.id).await?
        {
            request.check_replay(&digest)?;
            return Ok(template);
        }
        if store::catalog::get(&client, &definition.type_id)
            .await?
            .is_none()
        {
            return Err(ApiError::invalid_field(
                "mapping_template.integration_type",
                "unknown integration type",
            ));
        }
        let request_ref = request.as_ref().map(|r| (r.id, r.digest.as_slice()));
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let outcome = store::templates::insert(&tx, &definition, &new_etag(), request_ref).await?;
        if let InsertOutcome::Inserted(template) = &outcome {
            let change = audit_trail::template_created(template, request.as_ref().map(|r| r.id));
            audit::record(&tx, caller, change).await?;
            tx.commit().await.map_err(StoreError::from)?;
        } else {
            // A unique violation aborted the transaction: look on without it.
            drop(tx);
        }
        match outcome {
            InsertOutcome::Inserted(template) => Ok(template),
            InsertOutcome::DefaultTaken => Err(default_taken(&definition)),
            InsertOutcome::NameTaken => Err(ApiError::new(
                ErrorCode::AlreadyExists,
                "TEMPLATE_EXISTS",
                format!("{} already exists", definition.name),
            )),
            InsertOutcome::RequestTaken => {
                // Lost a race with a request carrying the same id.
                let lost =
                    || ApiError::internal("request id conflict without a row", "concurrent delete");
                let request = request.as_ref().ok_or_else(lost)?;
                let (template, digest) = store::templates::by_request(&client, project, request.id)
                    .await?
                    .ok_or_else(lost)?;
                request.check_replay(&digest)?;
                Ok(template)
            }
        }
    }

    pub async fn get_template(
        &self,
        caller: &Caller,
        name: &TemplateName,
    ) -> Result<MappingTemplate, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::templates::get(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn list_templates(
        &self,
        caller: &Caller,
        query: &TemplateQuery,
        page: &PageRequest,
    ) -> Result<(Vec<MappingTemplate>, String), ApiError> {
        caller.require(&query.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut items =
            store::templates::list(&client, query, page.after.as_deref(), page.fetch_limit())
                .await?;
        let next = page.finish(&mut items, |t| t.definition.name.id.to_string());
        Ok((items, next))
    }

    pub async fn update_template(
        &self,
        caller: &Caller,
        name: &TemplateName,
        etag: Option<&str>,
        merge: impl FnOnce(&MappingTemplate) -> Result<TemplateDefinition, ApiError>,
    ) -> Result<MappingTemplate, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::templates::get_for_update(&tx, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        let definition = merge(&current)?;
        if definition.type_id != current.definition.type_id {
            store::catalog::get(&tx, &definition.type_id)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "mapping_template.integration_type",
                        "unknown integration type",
                    )
                })?;
        }
        let updated = match store::templates::update(&tx, &definition, &new_etag()).await? {
            Some(updated) => updated,
            None => return Err(default_taken(&definition)),
        };
        audit::record(
            &tx,
            caller,
            audit_trail::template_updated(&current, &updated),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(updated)
    }

    pub async fn delete_template(
        &self,
        caller: &Caller,
        name: &TemplateName,
        etag: Option<&str>,
    ) -> Result<(), ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::templates::get_for_update(&tx, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        store::templates::delete(&tx, name).await?;
        audit::record(&tx, caller, audit_trail::template_deleted(&current)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    pub async fn transform_record(
        &self,
        caller: &Caller,
        source: MappingSource,
        record: &Map<String, Value>,
    ) -> Result<(Map<String, Value>, Vec<FieldError>), ApiError> {
        let fields = match source {
            MappingSource::Inline(fields) => fields,
            MappingSource::Stored(name) => {
                self.get_template(caller, &name).await?.definition.fields
            }
        };
        Ok(transform::transform(&fields, record))
    }
}
