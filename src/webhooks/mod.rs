//! Inbound webhooks: `POST /webhooks/{key}` verifies a delivery against its
//! connection's signature scheme, stores it (group commit) before the 2xx,
//! and a processor attaches it to its connection asynchronously.

pub mod dry_run;
mod ingest;
mod limits;
pub mod model;
pub mod normalize;
pub mod processor;
pub mod receivers;
pub mod refusals;
pub mod route;
pub mod signature;
pub mod signing;

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use tokio::sync::Notify;

pub use ingest::Ingest;
pub use receivers::Receivers;
pub use route::router;

use crate::{crypto::Keyring, metrics::Metrics, rate_limit::RateLimit};

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Bodies larger than this get 413.
    pub body_limit: usize,
    /// Per webhook key; `None` turns the limit off.
    pub per_key: Option<RateLimit>,
    /// Per peer IP; `None` turns the limit off.
    pub per_peer: Option<RateLimit>,
    /// How long dedupe records are kept: far beyond any timestamp window.
    pub dedupe_retention: Duration,
    /// Processing attempts before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's delay; each later one doubles, with jitter.
    pub retry_base: Duration,
    /// The writer's largest batch.
    pub max_batch: usize,
    /// How often the processor looks for work without being woken.
    pub poll: Duration,
    /// How often refused-request counts are written.
    pub refusal_flush: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            per_key: Some(RateLimit {
                per_second: 100,
                burst: 1000,
            }),
            per_peer: Some(RateLimit {
                per_second: 1000,
                burst: 5000,
            }),
            dedupe_retention: Duration::from_secs(7 * 24 * 3600),
            max_attempts: 5,
            retry_base: Duration::from_secs(2),
            max_batch: 512,
            poll: Duration::from_secs(1),
            refusal_flush: Duration::from_secs(5),
        }
    }
}

/// What the bridge's webhook route shares. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    pub receivers: Receivers,
    pub ingest: Ingest,
    /// How HubSpot's signed URL is rebuilt behind a proxy.
    pub public_url: Arc<str>,
    pub config: Arc<WebhookConfig>,
    /// Refused requests, counted per connection and reason.
    pub refusals: refusals::Refusals,
    pub metrics: Metrics,
}

impl Webhooks {
    /// Starts the writer; `stored` is notified after each committed batch.
    pub fn start(
        pool: Pool,
        keyring: Arc<Keyring>,
        public_url: Arc<str>,
        config: WebhookConfig,
        stored: Arc<Notify>,
        metrics: Metrics,
    ) -> Self {
        Self {
            metrics,
            receivers: Receivers::new(pool.clone(), keyring),
            ingest: Ingest::start(pool, config.max_batch, stored),
            public_url,
            config: Arc::new(config),
            refusals: refusals::Refusals::default(),
        }
    }
}

impl Webhooks {
    /// A sample event for the connection behind `key`, signed with its
    /// current secret as its scheme's provider would, and the public URL to
    /// post it to; `None` when no connection has the key.
    pub async fn test_delivery(
        &self,
        key: &str,
    ) -> Result<Option<(String, signing::Signed)>, crate::error::ApiError> {
        let Some(receiver) = self.receivers.load(key).await? else {
            return Ok(None);
        };
        let now = chrono::Utc::now();
        let Some(secret) = receiver.secrets_at(now).first().copied() else {
            return Ok(None);
        };
        let url = format!("{}/webhooks/{key}", self.public_url);
        let id = format!("patchbay_test_{}", uuid::Uuid::new_v4().simple());
        let body = signing::sample_body(receiver.scheme, TEST_EVENT, &id, now.timestamp());
        let signer = signing::Signer {
            scheme: receiver.scheme,
            header: receiver.header.as_deref(),
            secret,
            url: &url,
            now: now.timestamp(),
        };
        Ok(Some((
            url.clone(),
            signing::sign(&signer, body, &id, TEST_EVENT),
        )))
    }
}

/// The event type of SendTestWebhook's sample deliveries.
pub const TEST_EVENT: &str = "patchbay.test";
