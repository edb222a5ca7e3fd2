//! tower_governor limits on the webhook route: one bucket per webhook key
//! (a noisy integration cannot starve the others) and one per peer IP.

use std::time::Duration;

use axum::{Router, body::Body, http::Request, response::IntoResponse};
use tower_governor::{
    GovernorError, GovernorLayer,
    key_extractor::{KeyExtractor, PeerIpKeyExtractor},
};

use super::WebhookConfig;
use crate::{
    error::{ApiError, ErrorCode},
    rate_limit::{self, RateLimit},
};

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
    match rate_limit::buckets(limit, extractor) {
        Some(config) => router.layer(GovernorLayer::new(config).error_handler(refuse)),
        None => router,
    }
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
