//! SQL for the sealed columns of `connections`: credentials and webhook
//! secrets go in and out as [`Sealed`] values; nothing here sees a plaintext.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    StoreError,
    connections::{COLUMNS, from_row},
    execute, query, query_one, query_opt,
};
use crate::{
    crypto::Sealed,
    names::{ConnectionName, ProjectId, ResourceId},
    registry::model::{Connection, ConnectionState},
};

pub struct NewCredentials<'a> {
    pub sealed: &'a Sealed,
    pub fingerprint: &'a str,
    pub expire_time: Option<DateTime<Utc>>,
    pub state: ConnectionState,
    pub etag: &'a str,
}

pub async fn set_credentials(
    client: &impl GenericClient,
    name: &ConnectionName,
    c: &NewCredentials<'_>,
) -> Result<Connection, StoreError> {
    let sql = format!(
        "UPDATE connections SET credentials = $3, credentials_key_id = $4, \
         credentials_fingerprint = $5, credentials_expire_time = $6, state = $7, etag = $8, \
         update_time = now() WHERE project = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let row = query_one(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &c.sealed.bytes,
            &c.sealed.key_id,
            &c.fingerprint,
            &c.expire_time,
            &c.state.as_str(),
            &c.etag,
        ],
    )
    .await?;
    from_row(&row)
}

/// Makes `secret` current; the current one stays valid until `previous_expire_time`.
pub async fn rotate_webhook_secret(
    client: &impl GenericClient,
    name: &ConnectionName,
    secret: &Sealed,
    fingerprint: &str,
    previous_expire_time: DateTime<Utc>,
    etag: &str,
) -> Result<Option<Connection>, StoreError> {
    let sql = format!(
        "UPDATE connections SET previous_webhook_secret = webhook_secret, \
         previous_webhook_secret_key_id = webhook_secret_key_id, \
         previous_webhook_secret_expire_time = $3, webhook_secret = $4, \
         webhook_secret_key_id = $5, webhook_secret_fingerprint = $6, etag = $7, \
         update_time = now() WHERE project = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let row = query_opt(
        client,
        &sql,
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &previous_expire_time,
            &secret.bytes,
            &secret.key_id,
            &fingerprint,
            &etag,
        ],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A connection's sealed secrets.
#[derive(Debug)]
pub struct SealedSecrets {
    pub credentials: Option<Sealed>,
    pub webhook_secret: Sealed,
    pub previous_webhook_secret: Option<(Sealed, DateTime<Utc>)>,
}

fn sealed(row: &Row, bytes: &str, key: &str) -> Result<Option<Sealed>, StoreError> {
    let bytes: Option<Vec<u8>> = row.try_get(bytes)?;
    let key_id: Option<String> = row.try_get(key)?;
    Ok(bytes
        .zip(key_id)
        .map(|(bytes, key_id)| Sealed { key_id, bytes }))
}

const SECRET_COLUMNS: &str = "credentials, credentials_key_id, webhook_secret, webhook_secret_key_id, \
     previous_webhook_secret, previous_webhook_secret_key_id, previous_webhook_secret_expire_time";

fn secrets_from_row(row: &Row) -> Result<SealedSecrets, StoreError> {
    let webhook_secret = sealed(row, "webhook_secret", "webhook_secret_key_id")?
        .ok_or_else(|| StoreError::corrupt("webhook secret", "missing"))?;
    let previous = sealed(
        row,
        "previous_webhook_secret",
        "previous_webhook_secret_key_id",
    )?;
    let previous_expire: Option<DateTime<Utc>> =
        row.try_get("previous_webhook_secret_expire_time")?;
    Ok(SealedSecrets {
        credentials: sealed(row, "credentials", "credentials_key_id")?,
        webhook_secret,
        previous_webhook_secret: previous.zip(previous_expire),
    })
}

pub async fn secrets(
    client: &impl GenericClient,
    name: &ConnectionName,
) -> Result<Option<SealedSecrets>, StoreError> {
    let sql = format!("SELECT {SECRET_COLUMNS} FROM connections WHERE project = $1 AND id = $2");
    query_opt(client, &sql, &[&name.project.as_str(), &name.id.as_str()])
        .await?
        .as_ref()
        .map(secrets_from_row)
        .transpose()
}

/// Up to `limit` connections holding a secret sealed under a key other than
/// `current_key`, locked for re-sealing; rows other workers hold are skipped.
pub async fn stale_secrets(
    client: &impl GenericClient,
    current_key: &str,
    limit: i64,
) -> Result<Vec<(ConnectionName, SealedSecrets)>, StoreError> {
    let sql = format!(
        "SELECT project, id, {SECRET_COLUMNS} FROM connections \
         WHERE credentials_key_id <> $1 OR webhook_secret_key_id <> $1 \
            OR previous_webhook_secret_key_id <> $1 \
         ORDER BY project, id LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let rows = query(client, &sql, &[&current_key, &limit]).await?;
    rows.iter()
        .map(|row| {
            let project: String = row.try_get("project")?;
            let id: String = row.try_get("id")?;
            let name = ConnectionName {
                project: ProjectId::parse(&project)
                    .map_err(|e| StoreError::corrupt("connection project", e))?,
                id: ResourceId::parse("connection", &id)
                    .map_err(|e| StoreError::corrupt("connection id", e))?,
            };
            Ok((name, secrets_from_row(row)?))
        })
        .collect()
}

/// Replaces a row's sealed values (same plaintexts, new key).
pub async fn reseal(
    client: &impl GenericClient,
    name: &ConnectionName,
    secrets: &SealedSecrets,
) -> Result<(), StoreError> {
    let (credentials, credentials_key) = match &secrets.credentials {
        Some(s) => (Some(&s.bytes), Some(&s.key_id)),
        None => (None, None),
    };
    let (previous, previous_key) = match &secrets.previous_webhook_secret {
        Some((s, _)) => (Some(&s.bytes), Some(&s.key_id)),
        None => (None, None),
    };
    execute(
        client,
        "UPDATE connections SET credentials = $3, credentials_key_id = $4, \
         webhook_secret = $5, webhook_secret_key_id = $6, \
         previous_webhook_secret = $7, previous_webhook_secret_key_id = $8 \
         WHERE project = $1 AND id = $2",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &credentials,
            &credentials_key,
            &secrets.webhook_secret.bytes,
            &secrets.webhook_secret.key_id,
            &previous,
            &previous_key,
        ],
    )
    .await?;
    Ok(())
}

/// Locks the row and returns its sealed credentials: refreshes of one
/// connection's OAuth token run one at a time across replicas.
pub async fn lock_credentials(
    client: &impl GenericClient,
    name: &ConnectionName,
) -> Result<Option<Sealed>, StoreError> {
    let row = query_opt(
        client,
        "SELECT credentials, credentials_key_id FROM connections \
         WHERE project = $1 AND id = $2 FOR UPDATE",
        &[&name.project.as_str(), &name.id.as_str()],
    )
    .await?;
    match row {
        Some(row) => sealed(&row, "credentials", "credentials_key_id"),
        None => Ok(None),
    }
}

/// Replaces the credentials alone (an OAuth refresh): state unchanged.
pub async fn replace_credentials(
    client: &impl GenericClient,
    name: &ConnectionName,
    sealed: &Sealed,
    fingerprint: &str,
    expire_time: Option<DateTime<Utc>>,
    etag: &str,
) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE connections SET credentials = $3, credentials_key_id = $4, \
         credentials_fingerprint = $5, credentials_expire_time = $6, etag = $7, \
         update_time = now() WHERE project = $1 AND id = $2",
        &[
            &name.project.as_str(),
            &name.id.as_str(),
            &sealed.bytes,
            &sealed.key_id,
            &fingerprint,
            &expire_time,
            &etag,
        ],
    )
    .await?;
    Ok(())
}

/// What the webhook bridge needs to verify a delivery: the connection its
/// public key names, its type's signing spec and its sealed secrets.
pub struct WebhookReceiver {
    pub name: ConnectionName,
    pub spec: crate::registry::model::TypeSpec,
    pub secrets: SealedSecrets,
}

pub async fn by_webhook_key(
    client: &impl GenericClient,
    key: &str,
) -> Result<Option<WebhookReceiver>, StoreError> {
    let sql = format!(
        "SELECT c.project, c.id, t.spec, {SECRET_COLUMNS} FROM connections c \
         JOIN integration_types t ON t.id = c.type_id WHERE c.webhook_key = $1"
    );
    let Some(row) = query_opt(client, &sql, &[&key]).await? else {
        return Ok(None);
    };
    let project: String = row.try_get("project")?;
    let id: String = row.try_get("id")?;
    Ok(Some(WebhookReceiver {
        name: ConnectionName {
            project: ProjectId::parse(&project)
                .map_err(|e| StoreError::corrupt("connection project", e))?,
            id: ResourceId::parse("connection", &id)
                .map_err(|e| StoreError::corrupt("connection id", e))?,
        },
        spec: serde_json::from_value(row.try_get("spec")?)
            .map_err(|e| StoreError::corrupt("type spec", e))?,
        secrets: secrets_from_row(&row)?,
    }))
}
