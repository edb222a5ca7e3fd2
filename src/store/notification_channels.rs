//! SQL for `notification_channels`.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{StoreError, execute, query, query_opt};
use crate::{
    alerts::model::{ChannelDefinition, ChannelTarget, NotificationChannel},
    crypto::Sealed,
    names::{ChannelName, ProjectId, ResourceId},
};

const COLUMNS: &str = "project, id, display_name, kind, uri, recipients, \
                       signing_secret_fingerprint, etag, create_time, update_time";

fn from_row(row: &Row) -> Result<NotificationChannel, StoreError> {
    let corrupt = |what| move |e| StoreError::corrupt(what, e);
    let name = ChannelName {
        project: ProjectId::parse(row.try_get("project")?).map_err(corrupt("channel project"))?,
        id: ResourceId::parse("notification channel", row.try_get("id")?)
            .map_err(corrupt("channel id"))?,
    };
    let kind: String = row.try_get("kind")?;
    let target = match kind.as_str() {
        "webhook" => ChannelTarget::Webhook {
            uri: row
                .try_get::<_, Option<String>>("uri")?
                .ok_or_else(|| StoreError::corrupt("channel uri", "missing"))?,
        },
        "email" => ChannelTarget::Email {
            to: row.try_get("recipients")?,
        },
        other => return Err(StoreError::corrupt("channel kind", other.to_owned())),
    };
    Ok(NotificationChannel {
        definition: ChannelDefinition {
            name,
            display_name: row.try_get("display_name")?,
            target,
        },
        secret_fingerprint: row.try_get("signing_secret_fingerprint")?,
        etag: row.try_get("etag")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

fn target_columns(t: &ChannelTarget) -> (Option<&str>, &[String]) {
    match t {
        ChannelTarget::Webhook { uri } => (Some(uri.as_str()), &[]),
        ChannelTarget::Email { to } => (None, to.as_slice()),
    }
}

pub enum InsertOutcome {
    Inserted(Box<NotificationChannel>),
    NameTaken,
    RequestTaken,
}

/// A new channel; `secret` and `fingerprint` for a webhook channel.
pub struct NewChannel<'a> {
    pub definition: &'a ChannelDefinition,
    pub secret: Option<(&'a Sealed, &'a str)>,
    pub etag: &'a str,
    pub request: Option<(Uuid, &'a [u8])>,
}

pub async fn insert(
    client: &impl GenericClient,
    new: &NewChannel<'_>,
) -> Result<InsertOutcome, StoreError> {
    let d = new.definition;
    let (uri, recipients) = target_columns(&d.target);
    let sql = format!(
        "INSERT INTO notification_channels (project, id, display_name, kind, uri, recipients, \
         signing_secret, signing_secret_key_id, signing_secret_fingerprint, etag, request_id, \
         request_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let row = query_opt(
        client,
        &sql,
        &[
            &d.name.project.as_str(),
            &d.name.id.as_str(),
            &d.display_name,
            &d.target.kind(),
            &uri,
            &recipients,
            &new.secret.map(|(s, _)| s.bytes.as_slice()),
            &new.secret.map(|(s, _)| s.key_id.as_str()),
            &new.secret.map(|(_, f)| f),
            &new.etag,
            &new.request.map(|(id, _)| id),
            &new.request.map(|(_, hash)| hash),
        ],
    )
    .await?;
    if let Some(row) = row {
        return Ok(InsertOutcome::Inserted(Box::new(from_row(&row)?)));
    }
    let taken = query_opt(
        client,
        "SELECT 1 FROM notification_channels WHERE project = $1 AND id = $2",
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
) -> Result<Option<(NotificationChannel, Vec<u8>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, request_hash FROM notification_channels \
         WHERE project = $1 AND request_id = $2"
    );
    match query_opt(client, &sql, &[&project.as_str(), &request_id]).await? {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("request_hash")?))),
        None => Ok(None),
    }
}

/// The channel `name`; locked for the transaction when `for_update`.
pub async fn get(
    client: &impl GenericClient,
    name: &ChannelName,
    for_update: bool,
) -> Result<Option<NotificationChannel>, StoreError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql =
        format!("SELECT {COLUMNS} FROM notification_channels WHERE project = $1 AND id = $2{lock}");
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
) -> Result<Vec<NotificationChannel>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notification_channels WHERE project = $1 \
         AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3"
    );
    query(client, &sql, &[&project.as_str(), &after, &limit])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Which of `ids` are channels of `project`.
pub async fn existing(
    client: &impl GenericClient,
    project: &ProjectId,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    query(
        client,
        "SELECT id FROM notification_channels WHERE project = $1 AND id = ANY($2)",
        &[&project.as_str(), &ids],
    )
    .await?
    .iter()
    .map(|row| row.try_get(0).map_err(StoreError::from))
    .collect()
}

/// The ids of the rules that name `channel`.
pub async fn rules_naming(
    client: &impl GenericClient,
    channel: &ChannelName,
) -> Result<Vec<String>, StoreError> {
    query(
        client,
        "SELECT id FROM alert_rules WHERE project = $1 AND $2 = ANY(channels) ORDER BY id",
        &[&channel.project.as_str(), &channel.id.as_str()],
    )
    .await?
    .iter()
    .map(|row| row.try_get(0).map_err(StoreError::from))
    .collect()
}

pub async fn update(
    client: &impl GenericClient,
    d: &ChannelDefinition,
    etag: &str,
) -> Result<NotificationChannel, StoreError> {
    let (uri, recipients) = target_columns(&d.target);
    let sql = format!(
        "UPDATE notification_channels SET display_name = $3, uri = $4, recipients = $5, \
         etag = $6, update_time = now() WHERE project = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let row = super::query_one(
        client,
        &sql,
        &[
            &d.name.project.as_str(),
            &d.name.id.as_str(),
            &d.display_name,
            &uri,
            &recipients,
            &etag,
        ],
    )
    .await?;
    from_row(&row)
}

pub async fn delete(client: &impl GenericClient, name: &ChannelName) -> Result<u64, StoreError> {
    execute(
        client,
        "DELETE FROM notification_channels WHERE project = $1 AND id = $2",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await
}

/// Up to `limit` webhook channels whose signing secret is sealed under a
/// key other than `current_key`, locked (skipping rows others hold).
pub async fn stale_secrets(
    client: &impl GenericClient,
    current_key: &str,
    limit: i64,
) -> Result<Vec<(ChannelName, Sealed)>, StoreError> {
    query(
        client,
        "SELECT project, id, signing_secret, signing_secret_key_id FROM notification_channels \
         WHERE signing_secret_key_id <> $1 ORDER BY project, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        &[&current_key, &limit],
    )
    .await?
    .iter()
    .map(|row| {
        let corrupt = |what| move |e| StoreError::corrupt(what, e);
        let name = ChannelName {
            project: ProjectId::parse(row.try_get(0)?).map_err(corrupt("channel project"))?,
            id: ResourceId::parse("notification channel", row.try_get(1)?)
                .map_err(corrupt("channel id"))?,
        };
        Ok((
            name,
            Sealed {
                bytes: row.try_get(2)?,
                key_id: row.try_get(3)?,
            },
        ))
    })
    .collect()
}

/// Replaces a channel's sealed signing secret (same plaintext, new key).
pub async fn reseal(
    client: &impl GenericClient,
    name: &ChannelName,
    sealed: &Sealed,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE notification_channels SET signing_secret = $3, signing_secret_key_id = $4 \
         WHERE project = $1 AND id = $2",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &sealed.bytes,
            &sealed.key_id,
        ],
    )
    .await?;
    Ok(())
}
