//! SQL for the `mapping_templates` table.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, is_unique_violation, query, query_opt};
use crate::{
    names::{ProjectId, ResourceId, TemplateName, TypeId},
    registry::model::{MappingTemplate, TemplateDefinition, TemplateQuery},
};

const COLUMNS: &str = "project, id, display_name, type_id, entity_type, fields, \
                       default_for_entity, etag, create_time, update_time";

fn from_row(row: &Row) -> Result<MappingTemplate, StoreError> {
    let project: String = row.try_get("project")?;
    let id: String = row.try_get("id")?;
    let type_id: String = row.try_get("type_id")?;
    let fields: serde_json::Value = row.try_get("fields")?;
    Ok(MappingTemplate {
        definition: TemplateDefinition {
            name: TemplateName {
                project: ProjectId::parse(&project)
                    .map_err(|e| StoreError::corrupt("template project", e))?,
                id: ResourceId::parse("mapping template", &id)
                    .map_err(|e| StoreError::corrupt("template id", e))?,
            },
            display_name: row.try_get("display_name")?,
            type_id: TypeId::parse(&type_id)
                .map_err(|e| StoreError::corrupt("template type", e))?,
            entity_type: row.try_get("entity_type")?,
            fields: serde_json::from_value(fields)
                .map_err(|e| StoreError::corrupt("template fields", e))?,
            default_for_entity: row.try_get("default_for_entity")?,
        },
        etag: row.try_get("etag")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

fn fields_json(d: &TemplateDefinition) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(&d.fields).map_err(|e| StoreError::corrupt("template fields", e))
}

pub enum InsertOutcome {
    Inserted(MappingTemplate),
    NameTaken,
    RequestTaken,
    /// The project already has a default template for this type and entity.
    DefaultTaken,
}

pub async fn insert(
    client: &impl GenericClient,
    d: &TemplateDefinition,
    etag: &str,
    request: Option<(Uuid, &[u8])>,
) -> Result<InsertOutcome, StoreError> {
    let sql = format!(
        "INSERT INTO mapping_templates (project, id, display_name, type_id, entity_type, fields, \
         default_for_entity, etag, request_id, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    );
    let statement = client.prepare_cached(&sql).await?;
    let result = client
        .query_one(
            &statement,
            &[
                &d.name.project.as_str(),
                &d.name.id.as_str(),
                &d.display_name,
                &d.type_id.as_str(),
                &d.entity_type,
                &fields_json(d)?,
                &d.default_for_entity,
                &etag,
                &request.map(|(id, _)| id),
                &request.map(|(_, hash)| hash),
            ],
        )
        .await;
    match result {
        Ok(row) => Ok(InsertOutcome::Inserted(from_row(&row)?)),
        Err(e) if is_unique_violation(&e, "mapping_templates_pkey") => Ok(InsertOutcome::NameTaken),
        Err(e) if is_unique_violation(&e, "mapping_templates_project_request_id_key") => {
            Ok(InsertOutcome::RequestTaken)
        }
        Err(e) if is_unique_violation(&e, "mapping_templates_default") => {
            Ok(InsertOutcome::DefaultTaken)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn by_request(
    client: &impl GenericClient,
    project: &ProjectId,
    request_id: Uuid,
) -> Result<Option<(MappingTemplate, Vec<u8>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, request_hash FROM mapping_templates WHERE project = $1 AND request_id = $2"
    );
    match query_opt(client, &sql, &[&project.as_str(), &request_id]).await? {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("request_hash")?))),
        None => Ok(None),
    }
}

pub async fn get(
    client: &impl GenericClient,
    name: &TemplateName,
) -> Result<Option<MappingTemplate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM mapping_templates WHERE project = $1 AND id = $2");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn get_for_update(
    client: &impl GenericClient,
    name: &TemplateName,
) -> Result<Option<MappingTemplate>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM mapping_templates WHERE project = $1 AND id = $2 FOR UPDATE"
    );
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The project's default template for an entity, as sync uses it.
pub async fn default_for(
    client: &impl GenericClient,
    project: &ProjectId,
    type_id: &TypeId,
    entity_type: &str,
) -> Result<Option<MappingTemplate>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM mapping_templates \
         WHERE project = $1 AND type_id = $2 AND entity_type = $3 AND default_for_entity"
    );
    query_opt(
        client,
        &sql,
        &[&project.as_str(), &type_id.as_str(), &entity_type],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn list(
    client: &impl GenericClient,
    q: &TemplateQuery,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MappingTemplate>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM mapping_templates WHERE project = $1 \
         AND ($2::text IS NULL OR type_id = $2) AND ($3::text IS NULL OR entity_type = $3) \
         AND ($4::text IS NULL OR id > $4) ORDER BY id LIMIT $5"
    );
    let rows = query(
        client,
        &sql,
        &[
            &q.project.as_str(),
            &q.type_id.as_ref().map(TypeId::as_str),
            &q.entity_type,
            &after,
            &limit,
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// `None` when the update would make a second default for the entity.
pub async fn update(
    client: &impl GenericClient,
    d: &TemplateDefinition,
    etag: &str,
) -> Result<Option<MappingTemplate>, StoreError> {
    let sql = format!(
        "UPDATE mapping_templates SET display_name = $3, type_id = $4, entity_type = $5, \
         fields = $6, default_for_entity = $7, etag = $8, update_time = now() \
         WHERE project = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let statement = client.prepare_cached(&sql).await?;
    let result = client
        .query_one(
            &statement,
            &[
                &d.name.project.as_str(),
                &d.name.id.as_str(),
                &d.display_name,
                &d.type_id.as_str(),
                &d.entity_type,
                &fields_json(d)?,
                &d.default_for_entity,
                &etag,
            ],
        )
        .await;
    match result {
        Ok(row) => Ok(Some(from_row(&row)?)),
        Err(e) if is_unique_violation(&e, "mapping_templates_default") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(client: &impl GenericClient, name: &TemplateName) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM mapping_templates WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await
}
