//! Request rate limits (tower_governor token buckets), shared by the HTTP
//! bridge and the gRPC server: each builds its buckets here and keys them
//! its own way.

use std::{sync::Arc, time::Duration};

use tower_governor::{
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::KeyExtractor,
};

/// How often idle buckets are forgotten.
const SWEEP: Duration = Duration::from_secs(60);

/// A token bucket: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    /// `None` (no limit) when `per_second` is 0, as the flags say.
    pub fn from_flags(per_second: u32, burst: u32) -> Option<Self> {
        (per_second > 0).then_some(Self { per_second, burst })
    }
}

/// The buckets of one limit, keyed by `extractor`; idle ones are swept
/// until the last layer using them is gone.
pub fn buckets<K>(
    limit: RateLimit,
    extractor: K,
) -> Option<Arc<GovernorConfig<K, governor::middleware::NoOpMiddleware>>>
where
    K: KeyExtractor + Send + Sync + 'static,
    K::Key: Send + Sync + 'static,
{
    let period = Duration::from_secs(1) / limit.per_second.max(1);
    let config = Arc::new(
        GovernorConfigBuilder::default()
            .period(period)
            .burst_size(limit.burst.max(1))
            .key_extractor(extractor)
            .finish()?,
    );
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
    Some(config)
}
