//! SQL for `automations` and `automation_versions`.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, query, query_one, query_opt};
use crate::{
    auth::Role,
    automations::model::{Automation, Source, Spec, Version},
    names::{AutomationName, ConnectionName, ProjectId, ResourceId, TypeId},
};

/// An automation with its current version and held runs.
const SELECT: &str = "SELECT a.project, a.id, a.display_name, a.draft, a.published_version, \
       a.etag, a.create_time, a.update_time, v.spec, v.published_by, v.published_role, \
       v.publish_time, \
       (SELECT count(*) FROM automation_runs r WHERE r.project = a.project \
          AND r.automation = a.id AND r.state = 'held') AS held_runs \
     FROM automations a LEFT JOIN automation_versions v ON v.project = a.project \
       AND v.automation = a.id AND v.version = a.published_version";

fn corrupt(what: &'static str) -> impl Fn(crate::names::NameError) -> StoreError {
    move |e| StoreError::corrupt(what, e)
}

fn spec(value: Value, what: &'static str) -> Result<Spec, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::corrupt(what, e))
}

fn role(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| StoreError::corrupt("published role", s.to_owned()))
}

fn name_from(row: &Row) -> Result<AutomationName, StoreError> {
    let project: &str = row.try_get("project")?;
    Ok(AutomationName {
        project: ProjectId::parse(project).map_err(corrupt("automation project"))?,
        id: ResourceId::parse("automation", row.try_get("id")?)
            .map_err(corrupt("automation id"))?,
    })
}

fn from_row(row: &Row) -> Result<Automation, StoreError> {
    let name = name_from(row)?;
    let number: i32 = row.try_get("published_version")?;
    let published = match row.try_get::<_, Option<Value>>("spec")? {
        Some(value) if number > 0 => Some(Version {
            automation: name.clone(),
            number,
            spec: spec(value, "published spec")?,
            published_by: row.try_get("published_by")?,
            role: role(row.try_get("published_role")?)?,
            publish_time: row.try_get("publish_time")?,
        }),
        _ => None,
    };
    Ok(Automation {
        name,
        display_name: row.try_get("display_name")?,
        draft: spec(row.try_get("draft")?, "automation draft")?,
        published,
        held_runs: row.try_get("held_runs")?,
        etag: row.try_get("etag")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

fn json(spec: &Spec) -> Result<Value, StoreError> {
    serde_json::to_value(spec).map_err(|e| StoreError::corrupt("automation spec", e))
}

pub enum InsertOutcome {
    Inserted(Box<Automation>),
    NameTaken,
    /// The request id was used before, with this request digest.
    RequestTaken(Box<Automation>, Vec<u8>),
}

pub async fn insert(
    client: &impl GenericClient,
    name: &AutomationName,
    display_name: &str,
    draft: &Spec,
    etag: &str,
    request: Option<(Uuid, &[u8])>,
) -> Result<InsertOutcome, StoreError> {
    let inserted = execute(
        client,
        "INSERT INTO automations (project, id, display_name, draft, etag, request_id, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &display_name,
            &json(draft)?,
            &etag,
            &request.map(|(id, _)| id),
            &request.map(|(_, hash)| hash),
        ],
    )
    .await?;
    if inserted == 1 {
        let created = get(client, name, false)
            .await?
            .ok_or_else(|| StoreError::corrupt("automation", "vanished after insert"))?;
        return Ok(InsertOutcome::Inserted(Box::new(created)));
    }
    if let Some((id, _)) = request {
        let sql = format!("{SELECT} WHERE a.project = $1 AND a.request_id = $2");
        if let Some(row) = query_opt(client, &sql, &[&name.project.as_str(), &id]).await? {
            let hash = query_one(
                client,
                "SELECT request_hash FROM automations WHERE project = $1 AND request_id = $2",
                &[&name.project.as_str(), &id],
            )
            .await?
            .try_get::<_, Option<Vec<u8>>>(0)?
            .unwrap_or_default();
            return Ok(InsertOutcome::RequestTaken(Box::new(from_row(&row)?), hash));
        }
    }
    Ok(InsertOutcome::NameTaken)
}

/// The automation `name`; its row locked for the transaction when
/// `for_update`.
pub async fn get(
    client: &impl GenericClient,
    name: &AutomationName,
    for_update: bool,
) -> Result<Option<Automation>, StoreError> {
    let lock = if for_update { " FOR UPDATE OF a" } else { "" };
    let sql = format!("{SELECT} WHERE a.project = $1 AND a.id = $2{lock}");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Locks the automation's row for the transaction: every decision about
/// its runs holds it. False when there is no such automation.
pub async fn lock(client: &impl GenericClient, name: &AutomationName) -> Result<bool, StoreError> {
    Ok(query_opt(
        client,
        "SELECT 1 FROM automations WHERE project = $1 AND id = $2 FOR UPDATE",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?
    .is_some())
}

/// A page of the project's automations by id, after `after`.
pub async fn list(
    client: &impl GenericClient,
    project: &ProjectId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Automation>, StoreError> {
    let sql = format!(
        "{SELECT} WHERE a.project = $1 AND ($2::text IS NULL OR a.id > $2) ORDER BY a.id LIMIT $3"
    );
    query(client, &sql, &[&project.as_str(), &after, &limit])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn update(
    client: &impl GenericClient,
    name: &AutomationName,
    display_name: &str,
    draft: &Spec,
    etag: &str,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE automations SET display_name = $3, draft = $4, etag = $5, update_time = now() \
         WHERE project = $1 AND id = $2",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &display_name,
            &json(draft)?,
            &etag,
        ],
    )
    .await?;
    Ok(())
}

pub async fn delete(client: &impl GenericClient, name: &AutomationName) -> Result<(), StoreError> {
    execute(
        client,
        "DELETE FROM automations WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?;
    Ok(())
}

/// Freezes `spec` as the automation's next version and makes it current.
/// The caller holds the automation's row.
pub async fn publish(
    client: &impl GenericClient,
    name: &AutomationName,
    spec: &Spec,
    published_by: &str,
    role: Role,
    etag: &str,
) -> Result<i32, StoreError> {
    let (connection, type_id) = match &spec.trigger.source {
        Source::Connection(c) => (Some(c.id.as_str()), None),
        Source::Type(t) => (None, Some(t.as_str())),
    };
    let version: i32 = query_one(
        client,
        "UPDATE automations SET published_version = published_version + 1, etag = $3, \
           update_time = now() WHERE project = $1 AND id = $2 RETURNING published_version",
        &[&name.project.as_str(), &name.id.as_str(), &etag],
    )
    .await?
    .try_get(0)?;
    execute(
        client,
        "INSERT INTO automation_versions (project, automation, version, spec, trigger_connection, \
           trigger_type, published_by, published_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &version,
            &json(spec)?,
            &connection,
            &type_id,
            &published_by,
            &role.as_str(),
        ],
    )
    .await?;
    Ok(version)
}

const VERSION_COLUMNS: &str = "v.project, v.automation AS id, v.version, v.spec, v.published_by, \
                               v.published_role, v.publish_time";

fn version_from(row: &Row) -> Result<Version, StoreError> {
    Ok(Version {
        automation: name_from(row)?,
        number: row.try_get("version")?,
        spec: spec(row.try_get("spec")?, "version spec")?,
        published_by: row.try_get("published_by")?,
        role: role(row.try_get("published_role")?)?,
        publish_time: row.try_get("publish_time")?,
    })
}

/// Version `number` of `automation`.
pub async fn version(
    client: &impl GenericClient,
    automation: &AutomationName,
    number: i32,
) -> Result<Option<Version>, StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM automation_versions v \
         WHERE v.project = $1 AND v.automation = $2 AND v.version = $3"
    );
    query_opt(
        client,
        &sql,
        &[
            &automation.project.as_str(),
            &automation.id.as_str(),
            &number,
        ],
    )
    .await?
    .as_ref()
    .map(version_from)
    .transpose()
}

/// A current version listening to one of a batch's connections.
pub struct Listening {
    /// The index, in the batch, of the connection it listens to.
    pub index: usize,
    pub automation: String,
    pub version: i32,
}

/// The current versions whose trigger listens to each of `connections`
/// (by connection, or by its type), in one query for a whole batch of
/// deliveries. Versions never change, so callers cache their specs.
pub async fn listening(
    client: &impl GenericClient,
    connections: &[(&ConnectionName, &TypeId)],
) -> Result<Vec<Listening>, StoreError> {
    let projects: Vec<&str> = connections
        .iter()
        .map(|(c, _)| c.project.as_str())
        .collect();
    let ids: Vec<&str> = connections.iter().map(|(c, _)| c.id.as_str()).collect();
    let types: Vec<&str> = connections.iter().map(|(_, t)| t.as_str()).collect();
    let rows = query(
        client,
        "SELECT b.n, v.automation, v.version \
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS b(project, id, type_id, n) \
         JOIN automation_versions v ON v.project = b.project \
           AND (v.trigger_connection = b.id OR v.trigger_type = b.type_id) \
         JOIN automations a ON a.project = v.project AND a.id = v.automation \
           AND a.published_version = v.version \
         ORDER BY b.n, v.automation",
        &[&projects, &ids, &types],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Listening {
                index: usize::try_from(row.try_get::<_, i64>(0)? - 1).unwrap_or(usize::MAX),
                automation: row.try_get(1)?,
                version: row.try_get(2)?,
            })
        })
        .collect()
}
