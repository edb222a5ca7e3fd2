//! SQL for `alert_rules` and `alert_rule_defaults`.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, query, query_opt};
use crate::{
    alerts::model::{AlertRule, Resolution, RuleDefinition, Scope, Severity},
    names::{AlertRuleName, ChannelName, ConnectionName, ProjectId, ResourceId, TypeId},
};

const COLUMNS: &str = "project, id, display_name, severity, scope_connection, scope_type, \
                       channels, condition, resolution, disabled, default_rule, etag, \
                       create_time, update_time";

fn corrupt(what: &'static str) -> impl Fn(crate::names::NameError) -> StoreError {
    move |e| StoreError::corrupt(what, e)
}

fn from_row(row: &Row) -> Result<AlertRule, StoreError> {
    let project = ProjectId::parse(row.try_get("project")?).map_err(corrupt("rule project"))?;
    let id = ResourceId::parse("alert rule", row.try_get("id")?).map_err(corrupt("rule id"))?;
    let severity: String = row.try_get("severity")?;
    let scope = match (
        row.try_get::<_, Option<String>>("scope_connection")?,
        row.try_get::<_, Option<String>>("scope_type")?,
    ) {
        (Some(c), _) => {
            Scope::Connection(ResourceId::parse("connection", &c).map_err(corrupt("rule scope"))?)
        }
        (None, Some(t)) => Scope::Type(TypeId::parse(&t).map_err(corrupt("rule scope"))?),
        (None, None) => Scope::Project,
    };
    let channels = row
        .try_get::<_, Vec<String>>("channels")?
        .into_iter()
        .map(|c| {
            ResourceId::parse("notification channel", &c)
                .map(|id| ChannelName {
                    project: project.clone(),
                    id,
                })
                .map_err(corrupt("rule channel"))
        })
        .collect::<Result<_, _>>()?;
    let json = |column: &str| row.try_get::<_, serde_json::Value>(column);
    Ok(AlertRule {
        definition: RuleDefinition {
            name: AlertRuleName {
                project: project.clone(),
                id,
            },
            display_name: row.try_get("display_name")?,
            severity: Severity::parse(&severity)
                .ok_or_else(|| StoreError::corrupt("rule severity", severity.clone()))?,
            scope,
            channels,
            condition: serde_json::from_value(json("condition")?)
                .map_err(|e| StoreError::corrupt("rule condition", e))?,
            resolution: serde_json::from_value::<Resolution>(json("resolution")?)
                .map_err(|e| StoreError::corrupt("rule resolution", e))?,
            disabled: row.try_get("disabled")?,
        },
        default_rule: row.try_get("default_rule")?,
        etag: row.try_get("etag")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

/// A definition's columns after `project, id`, in COLUMNS order.
struct Columns {
    scope_connection: Option<String>,
    scope_type: Option<String>,
    channels: Vec<String>,
    condition: serde_json::Value,
    resolution: serde_json::Value,
}

fn columns(d: &RuleDefinition) -> Result<Columns, StoreError> {
    let (scope_connection, scope_type) = match &d.scope {
        Scope::Project => (None, None),
        Scope::Connection(id) => (Some(id.to_string()), None),
        Scope::Type(t) => (None, Some(t.to_string())),
    };
    Ok(Columns {
        scope_connection,
        scope_type,
        channels: d.channels.iter().map(|c| c.id.to_string()).collect(),
        condition: serde_json::to_value(&d.condition)
            .map_err(|e| StoreError::corrupt("rule condition", e))?,
        resolution: serde_json::to_value(d.resolution)
            .map_err(|e| StoreError::corrupt("rule resolution", e))?,
    })
}

pub enum InsertOutcome {
    Inserted(Box<AlertRule>),
    NameTaken,
    RequestTaken,
}

pub async fn insert(
    client: &impl GenericClient,
    d: &RuleDefinition,
    default_rule: bool,
    etag: &str,
    request: Option<(Uuid, &[u8])>,
) -> Result<InsertOutcome, StoreError> {
    let c = columns(d)?;
    let sql = format!(
        "INSERT INTO alert_rules (project, id, display_name, severity, scope_connection, \
         scope_type, channels, condition, resolution, disabled, default_rule, etag, request_id, \
         request_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 14] = [
        &d.name.project.as_str(),
        &d.name.id.as_str(),
        &d.display_name,
        &d.severity.as_str(),
        &c.scope_connection,
        &c.scope_type,
        &c.channels,
        &c.condition,
        &c.resolution,
        &d.disabled,
        &default_rule,
        &etag,
        &request.map(|(id, _)| id),
        &request.map(|(_, hash)| hash),
    ];
    if let Some(row) = query_opt(client, &sql, &params).await? {
        return Ok(InsertOutcome::Inserted(Box::new(from_row(&row)?)));
    }
    // Nothing inserted: say which key was taken.
    let taken = query_opt(
        client,
        "SELECT 1 FROM alert_rules WHERE project = $1 AND id = $2",
        &[&d.name.project.as_str(), &d.name.id.as_str()],
    )
    .await?;
    Ok(if taken.is_some() {
        InsertOutcome::NameTaken
    } else {
        InsertOutcome::RequestTaken
    })
}

pub async fn by_request(
    client: &impl GenericClient,
    project: &ProjectId,
    request_id: Uuid,
) -> Result<Option<(AlertRule, Vec<u8>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, request_hash FROM alert_rules WHERE project = $1 AND request_id = $2"
    );
    match query_opt(client, &sql, &[&project.as_str(), &request_id]).await? {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("request_hash")?))),
        None => Ok(None),
    }
}

/// The rule `name`; locked for the transaction when `for_update`.
pub async fn get(
    client: &impl GenericClient,
    name: &AlertRuleName,
    for_update: bool,
) -> Result<Option<AlertRule>, StoreError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM alert_rules WHERE project = $1 AND id = $2{lock}");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn list(
    client: &impl GenericClient,
    project: &ProjectId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AlertRule>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alert_rules WHERE project = $1 \
         AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3"
    );
    query(client, &sql, &[&project.as_str(), &after, &limit])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn update(
    client: &impl GenericClient,
    d: &RuleDefinition,
    etag: &str,
) -> Result<AlertRule, StoreError> {
    let c = columns(d)?;
    let sql = format!(
        "UPDATE alert_rules SET display_name = $3, severity = $4, scope_connection = $5, \
         scope_type = $6, channels = $7, condition = $8, resolution = $9, disabled = $10, \
         etag = $11, update_time = now() WHERE project = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let row = super::query_one(
        client,
        &sql,
        &[
            &d.name.project.as_str(),
            &d.name.id.as_str(),
            &d.display_name,
            &d.severity.as_str(),
            &c.scope_connection,
            &c.scope_type,
            &c.channels,
            &c.condition,
            &c.resolution,
            &d.disabled,
            &etag,
        ],
    )
    .await?;
    from_row(&row)
}

pub async fn delete(client: &impl GenericClient, name: &AlertRuleName) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM alert_rules WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await
}

/// Marks `project` as given its default rules; false when it already was.
pub async fn claim_defaults(
    client: &impl GenericClient,
    project: &ProjectId,
) -> Result<bool, StoreError> {
    let claimed = execute(
        client,
        "INSERT INTO alert_rule_defaults (project) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&project.as_str()],
    )
    .await?;
    Ok(claimed == 1)
}

/// The enabled rules whose scope takes in `connection`: its project's, its
/// own, and its type's.
/// Takes a shared lock on rule `name`'s row for the transaction (a
/// deletion, which locks it for update, waits, or is waited for); false
/// when it no longer exists.
pub async fn lock_shared(
    client: &impl GenericClient,
    name: &AlertRuleName,
) -> Result<bool, StoreError> {
    Ok(query_opt(
        client,
        "SELECT 1 FROM alert_rules WHERE project = $1 AND id = $2 FOR SHARE",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?
    .is_some())
}

pub async fn watching(
    client: &impl GenericClient,
    connection: &ConnectionName,
) -> Result<Vec<AlertRule>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alert_rules WHERE project = $1 AND NOT disabled \
           AND (scope_connection IS NULL OR scope_connection = $2) \
           AND (scope_type IS NULL OR scope_type = \
                (SELECT type_id FROM connections WHERE project = $1 AND id = $2))"
    );
    query(
        client,
        &sql,
        &[&connection.project.as_str(), &connection.id.as_str()],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}
