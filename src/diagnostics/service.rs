//! The Diagnostics service's rules: who may ask what, and the figures
//! behind each answer. `grpc.rs` only translates.

use std::sync::Arc;

use deadpool_postgres::Pool;

use super::{
    checks::Diagnosis,
    compare,
    deployment::DeploymentFacts,
    health::{self, Component, HealthState},
};
use crate::{
    auth::{Caller, Role},
    crypto::Keyring,
    error::{ApiError, ErrorCode},
    names::{ConnectionName, ProjectId},
    paging::MAX_PAGE_SIZE,
    registry::model::TypeQuery,
    registry::{Registry, model::Connection},
    status::bus::EventBus,
    status::prober::Prober,
    store::{self, StoreError, migrate},
    webhooks::{
        Webhooks,
        dry_run::{Captured, DryRun},
    },
};

/// What Diagnostics reads from: the other services, never their tables'
/// rules.
#[derive(Clone)]
pub struct Parts {
    pub pool: Pool,
    pub bus: EventBus,
    pub facts: Arc<DeploymentFacts>,
    /// The only targets CompareDeployments dials.
    pub peers: Vec<String>,
    pub webhooks: Webhooks,
    pub registry: Registry,
    pub prober: Prober,
    pub keyring: Arc<Keyring>,
    pub alerting: crate::alerts::Alerting,
}

#[derive(Clone)]
pub struct Diagnostics {
    pub(super) pool: Pool,
    facts: Arc<DeploymentFacts>,
    peers: Arc<[String]>,
    webhooks: Webhooks,
    pub(super) registry: Registry,
    pub(super) prober: Prober,
    pub(super) keyring: Arc<Keyring>,
    pub(super) alerting: crate::alerts::Alerting,
    pub(super) bus: EventBus,
    http: reqwest::Client,
}

/// SendTestWebhook's round trip.
pub struct TestDelivery {
    pub status: u16,
    pub latency: std::time::Duration,
    /// The stored delivery's name, when the bridge stored one.
    pub delivery: Option<String>,
    pub url: String,
}

/// Connections diagnosed at once by DiagnoseProject.
const DIAGNOSE_CONCURRENCY: usize = 16;

/// How long SendTestWebhook waits for the bridge.
const TEST_WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// GetDeploymentInfo's answer: the fixed facts, and what the database and
/// the catalog say now.
pub struct DeploymentInfo {
    pub facts: Arc<DeploymentFacts>,
    pub schema_version: i64,
    pub catalog_hash: String,
}

impl Diagnostics {
    pub fn new(parts: Parts) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TEST_WEBHOOK_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            pool: parts.pool,
            bus: parts.bus,
            facts: parts.facts,
            peers: parts.peers.into(),
            webhooks: parts.webhooks,
            registry: parts.registry,
            prober: parts.prober,
            keyring: parts.keyring,
            alerting: parts.alerting,
            http,
        }
    }

    /// Every check on one connection; any role in its project.
    pub async fn diagnose_connection(
        &self,
        caller: &Caller,
        name: &ConnectionName,
    ) -> Result<Diagnosis, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        self.checks(name, self.probe_budget()).await
    }

    /// Every connection's checks, concurrently and bounded, within the
    /// probe timeout and a second however many connections there are: a
    /// probe that has not answered by then is reported as such.
    pub async fn diagnose_project(
        &self,
        caller: &Caller,
        project: &ProjectId,
    ) -> Result<Vec<Diagnosis>, ApiError> {
        use futures_util::StreamExt as _;
        caller.require(project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut names = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store::connections::list(
                &client,
                project,
                None,
                None,
                after.as_deref(),
                MAX_PAGE_SIZE as i64,
            )
            .await?;
            after = page.last().map(|c| c.name.id.to_string());
            let full = page.len() == MAX_PAGE_SIZE;
            names.extend(page.into_iter().map(|c| c.name));
            if !full {
                break;
            }
        }
        drop(client);
        let deadline = tokio::time::Instant::now() + self.probe_budget();
        let mut diagnoses: Vec<Diagnosis> = futures_util::stream::iter(names)
            .map(|name| async move {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                self.checks(&name, left).await
            })
            .buffer_unordered(DIAGNOSE_CONCURRENCY)
            .filter_map(|d| async move {
                // A connection deleted meanwhile has nothing to diagnose.
                match d {
                    Err(e) if e.code() == ErrorCode::NotFound => None,
                    other => Some(other),
                }
            })
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        diagnoses.sort_by(|a, b| a.connection.id.cmp(&b.connection.id));
        Ok(diagnoses)
    }

    /// Runs a captured request through the bridge's checks, storing
    /// nothing; editors and up (the detail is for operators, never for
    /// senders).
    pub async fn verify_webhook(
        &self,
        caller: &Caller,
        name: &ConnectionName,
        captured: &Captured<'_>,
    ) -> Result<DryRun, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let connection = self.connection(name).await?;
        let others: Vec<(String, String)> = self
            .registry
            .credentials(name)
            .await
            .unwrap_or_default()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        self.webhooks
            .dry_run(&connection.webhook_key, captured, &others)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    /// How long a live probe may take in a diagnosis.
    fn probe_budget(&self) -> std::time::Duration {
        self.prober.timeout() + std::time::Duration::from_secs(1)
    }

    /// Signs a sample event with the connection's current secret and posts
    /// it to this deployment's public bridge URL; owners and admins.
    pub async fn send_test_webhook(
        &self,
        caller: &Caller,
        name: &ConnectionName,
    ) -> Result<TestDelivery, ApiError> {
        caller.require(&name.project, Role::Admin)?;
        let connection = self.connection(name).await?;
        let (url, signed) = self
            .webhooks
            .test_delivery(&connection.webhook_key)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let mut request = self.http.post(&url).body(signed.body);
        for (header, value) in &signed.headers {
            request = request.header(header, value);
        }
        let started = std::time::Instant::now();
        let response = request.send().await.map_err(|e| {
            tracing::info!(connection = %name, error = %e.without_url(), "test webhook not delivered");
            ApiError::new(
                ErrorCode::FailedPrecondition,
                "PUBLIC_URL_UNREACHABLE",
                format!("{url} could not be reached: is --public-url this deployment's bridge?"),
            )
            .with_metadata("uri", url.clone())
        })?;
        let status = response.status().as_u16();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        let latency = started.elapsed();
        let delivery = answer["delivery_id"]
            .as_str()
            .map(|id| format!("{name}/deliveries/{id}"));
        Ok(TestDelivery {
            status,
            latency,
            delivery,
            url,
        })
    }

    /// This deployment's info and a listed peer's (asked with `token`);
    /// platform admins only.
    pub async fn compare(
        &self,
        caller: &Caller,
        target: &str,
        token: &str,
    ) -> Result<(DeploymentInfo, crate::proto::v1::DeploymentInfo), ApiError> {
        caller.require_platform_admin()?;
        if !self.peers.iter().any(|peer| peer == target) {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "DEPLOYMENT_PEER_NOT_LISTED",
                "the target is not a deployment peer of this server (--deployment-peer)",
            )
            .with_metadata("target", target));
        }
        let local = self.deployment_info(caller).await?;
        let remote = compare::remote_info(target, token).await?;
        Ok((local, remote))
    }

    /// Any authenticated caller: it names no project's data.
    pub async fn service_health(&self, _caller: &Caller) -> (Vec<Component>, HealthState) {
        health::check(&self.pool, &self.bus).await
    }

    /// Platform admins: it describes the deployment's configuration.
    pub async fn deployment_info(&self, caller: &Caller) -> Result<DeploymentInfo, ApiError> {
        caller.require_platform_admin()?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let schema_version = migrate::applied_version(&client).await?.unwrap_or(0);
        let catalog_hash = catalog_hash(&client).await?;
        Ok(DeploymentInfo {
            facts: self.facts.clone(),
            schema_version,
            catalog_hash,
        })
    }

    /// The connection `name`, or NOT_FOUND.
    pub(super) async fn connection(&self, name: &ConnectionName) -> Result<Connection, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::connections::get(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }
}

/// A hash of every type as stored, in id order: equal on two deployments
/// whose catalogs agree in every field.
async fn catalog_hash(client: &deadpool_postgres::Client) -> Result<String, StoreError> {
    use sha2::{Digest as _, Sha256};
    let mut digest = Sha256::new();
    let mut after: Option<String> = None;
    loop {
        let page = store::catalog::list(
            client,
            &TypeQuery::default(),
            after.as_deref(),
            MAX_PAGE_SIZE as i64,
        )
        .await?;
        for ty in &page {
            let d = &ty.definition;
            let spec = serde_json::to_string(&d.spec).unwrap_or_default();
            let fields = [
                d.id.as_str(),
                &d.display_name,
                d.category.as_str(),
                &d.description,
                &d.capabilities.join(","),
                if d.popular { "popular" } else { "" },
                if d.active { "active" } else { "inactive" },
                &spec,
            ];
            for field in fields {
                digest.update(field.as_bytes());
                digest.update([0]);
            }
        }
        if page.len() < MAX_PAGE_SIZE {
            break;
        }
        after = page.last().map(|t| t.definition.id.to_string());
    }
    Ok(digest.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
