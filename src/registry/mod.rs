//! IntegrationRegistry: the catalog, connections with their sealed secrets,
//! mapping templates and record transformation.
//!
//! [`Registry`] holds the rules (who may do what, what is valid); the store
//! holds the SQL; `grpc` only translates.

mod audit_trail;
pub mod catalog;
pub mod catalog_snapshot;
pub mod connection_secrets;
pub mod connections;
mod grpc;
pub mod model;
pub mod oauth;
pub(crate) mod proto;
pub mod rotation;
pub mod settings;
mod stats;
pub mod templates;
pub mod transform;
mod transitions;

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
pub use grpc::RegistryGrpc;

use crate::{crypto::Keyring, providers::BaseUrls};

/// How long a rotated webhook secret stays valid, unless configured.
pub const DEFAULT_SECRET_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The registry's rules over the store. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    pool: Pool,
    keyring: Arc<Keyring>,
    secret_grace: Duration,
    /// For provider calls the registry makes itself (token revocation).
    http: reqwest::Client,
    /// Where OAuth token and revocation endpoints are called.
    base_urls: Arc<BaseUrls>,
    /// Resolves a deleted connection's alerts.
    alerting: crate::alerts::Alerting,
}

impl Registry {
    pub fn new(pool: Pool, keyring: Arc<Keyring>, secret_grace: Duration) -> Self {
        Self {
            pool,
            keyring,
            secret_grace,
            http: reqwest::Client::new(),
            base_urls: Arc::default(),
            alerting: crate::alerts::Alerting::default(),
        }
    }

    /// Resolves deleted connections' alerts through `alerting`.
    pub fn with_alerting(mut self, alerting: crate::alerts::Alerting) -> Self {
        self.alerting = alerting;
        self
    }

    /// Calls providers through `base_urls` (the server's overrides).
    pub fn with_base_urls(mut self, base_urls: BaseUrls) -> Self {
        self.base_urls = Arc::new(base_urls);
        self
    }

    pub fn base_urls(&self) -> &BaseUrls {
        &self.base_urls
    }
}
