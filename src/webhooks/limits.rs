//! tower_governor limits on the webhook route: one bucket per webhook key
//! (a noisy integration cannot starve the others) and one per peer IP.

use std::{sync::Arc, time::Duration};

use axum::{Router, body::Body, http::Request, response::IntoResponse};
use tower_governor::{
    GovernorError, GovernorLayer,
    governor::GovernorConfigBuilder,
    key_extractor::{KeyExtractor, PeerIpKeyExtractor},
};

use super::{RateLimit, WebhookConfig};
use crate::error::{ApiError, ErrorCode};

/// How often idle buckets are forgotten.
const SWEEP: Duration = Duration::from_secs(60);

/// Keys on the `{key}` segment of `/webhooks/{key}`.
#[derive(Debug, Clone, Copy)]
struct WebhookKey;

impl KeyExtractor for WebhookKey {
    type Key = String;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        Ok(req
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .take(64)
            .collect())
    }
}

pub fn apply(mut router: Router, config: &WebhookConfig) -> Router {
    if let Some(limit) = config.per_key {
        router = layer(router, limit, WebhookKey);
    }
    if let Some(limit) = config.per_peer {
        router = layer(router, limit, PeerIpKeyExtractor);
    }
    router
}

fn layer<K>(router: Router, limit: RateLimit, extractor: K) -> Router
where
    K: KeyExtractor + Send + Sync + 'static,
    K::Key: Send + Sync + 'static,
{
    let period = Duration::from_secs(1) / limit.per_second.max(1);
    let Some(config) = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(limit.burst.max(1))
        .key_extractor(extractor)
        .finish()
    else {
        return router;
    };
    let config = Arc::new(config);
    let limiter = config.limiter().clone();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP);
        loop {
            sweep.tick().await;
            if Arc::strong_count(&limiter) == 1 {
                return;
            }
            limiter.retain_recent();
        }
    });
    router.layer(GovernorLayer::new(config).error_handler(refuse))
}

fn refuse(error: GovernorError) -> axum::http::Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::new(
            ErrorCode::ResourceExhausted,
            "RATE_LIMITED",
            "too many webhook deliveries; retry later",
        )
        .with_retry_after(Duration::from_secs(wait_time.max(1)))
        .into_response(),
        GovernorError::UnableToExtractKey => {
            ApiError::internal("rate limit key", "no peer address").into_response()
        }
        GovernorError::Other { code, msg, .. } => (code, msg.unwrap_or_default()).into_response(),
    }
}
