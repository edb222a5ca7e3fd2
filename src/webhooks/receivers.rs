//! The connections the bridge verifies against, by public webhook key, with
//! their secrets opened. Cached briefly so the hot path touches no database;
//! a signature that fails against a cached entry is checked once more
//! against a fresh read, so a just-rotated secret works at once (the rate
//! limits bound what that costs under a flood of bad signatures).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::{
    crypto::{Keyring, Sealed},
    error::ApiError,
    names::ConnectionName,
    registry::{connections::seal_context, model::SignatureScheme},
    secret::Secret,
    store::{self, connection_secrets::WebhookReceiver},
};

/// Entries older than this are read again.
const TTL: Duration = Duration::from_secs(5);
/// Bounds the cache; past it, expired entries go first, then everything.
const CAPACITY: usize = 10_000;

/// A connection as the bridge verifies its deliveries.
pub struct Receiver {
    pub name: ConnectionName,
    pub scheme: SignatureScheme,
    pub header: Option<String>,
    pub tolerance: Option<Duration>,
    /// Newest first; the previous secret with its expiry.
    secrets: Vec<(Secret<String>, Option<DateTime<Utc>>)>,
    loaded_at: Instant,
}

impl Receiver {
    /// A receiver with `secrets`, newest first, each with its expiry.
    pub fn new(
        name: ConnectionName,
        scheme: SignatureScheme,
        header: Option<String>,
        tolerance: Option<Duration>,
        secrets: Vec<(String, Option<DateTime<Utc>>)>,
    ) -> Self {
        Self {
            name,
            scheme,
            header,
            tolerance,
            secrets: secrets
                .into_iter()
                .map(|(secret, expires)| (Secret::new(secret), expires))
                .collect(),
            loaded_at: Instant::now(),
        }
    }

    /// The secrets valid at `now`, newest first.
    pub fn secrets_at(&self, now: DateTime<Utc>) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|(_, expires)| expires.is_none_or(|at| at > now))
            .map(|(secret, _)| secret.expose().as_str())
            .collect()
    }
}

#[derive(Clone)]
pub struct Receivers {
    pool: Pool,
    keyring: Arc<Keyring>,
    cache: Arc<RwLock<HashMap<String, Arc<Receiver>>>>,
}

impl Receivers {
    pub fn new(pool: Pool, keyring: Arc<Keyring>) -> Self {
        Self {
            pool,
            keyring,
            cache: Arc::default(),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A short keyed fingerprint of `secret`: names a secret version
    /// without revealing it.
    pub fn fingerprint(&self, secret: &str) -> String {
        self.keyring.fingerprint(secret.as_bytes())
    }

    /// The receiver behind `key`, from the cache while it is fresh.
    pub async fn get(&self, key: &str) -> Result<Option<Arc<Receiver>>, ApiError> {
        let cached = self
            .cache
            .read()
            .ok()
            .and_then(|cache| cache.get(key).cloned());
        match cached {
            Some(receiver) if receiver.loaded_at.elapsed() < TTL => Ok(Some(receiver)),
            _ => self.load(key).await,
        }
    }

    /// Reads `key` from the database, replacing its cache entry.
    pub async fn load(&self, key: &str) -> Result<Option<Arc<Receiver>>, ApiError> {
        let client = self.pool.get().await.map_err(store::StoreError::from)?;
        let found = store::connection_secrets::by_webhook_key(&client, key).await?;
        drop(client);
        let Ok(mut cache) = self.cache.write() else {
            return Err(ApiError::internal("receiver cache", "poisoned lock"));
        };
        let Some(found) = found else {
            cache.remove(key);
            return Ok(None);
        };
        let receiver = Arc::new(self.open(found)?);
        if cache.len() >= CAPACITY {
            cache.retain(|_, r| r.loaded_at.elapsed() < TTL);
            if cache.len() >= CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key.to_owned(), receiver.clone());
        Ok(Some(receiver))
    }

    fn open(&self, found: WebhookReceiver) -> Result<Receiver, ApiError> {
        let context = seal_context(&found.name, "webhook_secret");
        let open = |sealed: &Sealed| -> Result<Secret<String>, ApiError> {
            let bytes = self
                .keyring
                .open(sealed, &context)
                .map_err(|e| ApiError::internal("opening a webhook secret", e))?;
            String::from_utf8(bytes)
                .map(Secret::new)
                .map_err(|e| ApiError::internal("decoding a webhook secret", e))
        };
        let mut secrets = vec![(open(&found.secrets.webhook_secret)?, None)];
        if let Some((previous, expires)) = &found.secrets.previous_webhook_secret {
            secrets.push((open(previous)?, Some(*expires)));
        }
        Ok(Receiver {
            name: found.name,
            scheme: found.spec.signature_scheme,
            header: found.spec.signature_header.clone(),
            tolerance: found.spec.webhook_tolerance(),
            secrets,
            loaded_at: Instant::now(),
        })
    }
}
