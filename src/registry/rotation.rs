//! `patchbay rotate-keys`: re-seals every stored secret (connections' and
//! notification channels') under the current encryption key, in small
//! locked batches, so it can run beside live servers.

use deadpool_postgres::Pool;

use super::connections::seal_context;
use crate::{
    alerts,
    audit::{self, Change, model::FieldChange},
    auth::Caller,
    crypto::{CryptoError, Keyring, Sealed},
    store::{self, StoreError},
};

const BATCH: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("re-sealing {what}")]
    Open {
        /// The secret's seal context: its resource and column.
        what: String,
        #[source]
        source: CryptoError,
    },
}

/// Re-seals stale rows until none is left (connections' secrets, then
/// notification channels' signing secrets); returns how many rows changed.
pub async fn reseal_all(pool: &Pool, keyring: &Keyring) -> Result<u64, RotationError> {
    Ok(reseal_connections(pool, keyring).await? + reseal_channels(pool, keyring).await?)
}

async fn reseal_connections(pool: &Pool, keyring: &Keyring) -> Result<u64, RotationError> {
    let mut total = 0;
    loop {
        let mut client = pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let batch =
            store::connection_secrets::stale_secrets(&tx, keyring.current_id(), BATCH).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        let resealed = batch.len();
        for (name, mut secrets) in batch {
            let context = |column| seal_context(&name, column);
            if let Some(sealed) = &secrets.credentials {
                secrets.credentials = Some(reseal(keyring, &context("credentials"), sealed)?);
            }
            secrets.webhook_secret =
                reseal(keyring, &context("webhook_secret"), &secrets.webhook_secret)?;
            if let Some((sealed, expire)) = &secrets.previous_webhook_secret {
                secrets.previous_webhook_secret = Some((
                    reseal(keyring, &context("webhook_secret"), sealed)?,
                    *expire,
                ));
            }
            store::connection_secrets::reseal(&tx, &name, &secrets).await?;
            total += 1;
        }
        let change = resealed_batch(keyring, "resealed_connections", resealed);
        audit::record(&tx, &operator(), change).await?;
        tx.commit().await.map_err(StoreError::from)?;
    }
}

async fn reseal_channels(pool: &Pool, keyring: &Keyring) -> Result<u64, RotationError> {
    let mut total = 0;
    loop {
        let mut client = pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let batch =
            store::notification_channels::stale_secrets(&tx, keyring.current_id(), BATCH).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        let resealed = batch.len();
        for (name, sealed) in batch {
            let fresh = reseal(keyring, &alerts::channel_seal_context(&name), &sealed)?;
            store::notification_channels::reseal(&tx, &name, &fresh).await?;
            total += 1;
        }
        let change = resealed_batch(keyring, "resealed_channels", resealed);
        audit::record(&tx, &operator(), change).await?;
        tx.commit().await.map_err(StoreError::from)?;
    }
}

/// The command runs with the database's credentials, not a token: its
/// entries name the command.
fn operator() -> Caller {
    Caller::system("patchbay rotate-keys", "command.rotate-keys")
}

/// One entry per batch, on the platform's chain: secrets are
/// project-scoped, but the key is the deployment's.
fn resealed_batch(keyring: &Keyring, field: &str, count: usize) -> Change {
    Change::platform(
        "keyring",
        vec![
            FieldChange::set("key_id", keyring.current_id()),
            FieldChange::set(field, count.to_string()),
        ],
    )
}

fn reseal(keyring: &Keyring, context: &str, sealed: &Sealed) -> Result<Sealed, RotationError> {
    if !keyring.is_stale(sealed) {
        return Ok(sealed.clone());
    }
    let plaintext = keyring
        .open(sealed, context)
        .map_err(|source| RotationError::Open {
            what: context.to_owned(),
            source,
        })?;
    Ok(keyring.seal(&plaintext, context))
}
