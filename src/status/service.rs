//! The status service's rules: reads from the followed log's cache, the
//! placeholder types a read may ask for, forced probes (one connection, or
//! every connection of a project at once) under a per-caller quota, and
//! watches. `grpc.rs` only translates.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{
    bus::EventBus,
    cache::ProjectStatus,
    model::ItemStatus,
    prober::Prober,
    watch::{UpdateStream, WatchParams, Watches},
};
use crate::{
    auth::{Caller, Role},
    error::{ApiError, ErrorCode, FieldViolation},
    names::{ConnectionName, ProjectId, TypeId},
    registry::catalog_snapshot::CatalogSnapshot,
};

/// Forced probes per caller and target per minute.
const REFRESHES_PER_MINUTE: u32 = 6;

/// What a refresh forces a probe of.
pub enum RefreshTarget {
    Connection(ConnectionName),
    Project(ProjectId),
}

impl RefreshTarget {
    pub fn project(&self) -> &ProjectId {
        match self {
            Self::Connection(name) => &name.project,
            Self::Project(project) => project,
        }
    }

    fn key(&self) -> String {
        match self {
            Self::Connection(name) => name.to_string(),
            Self::Project(project) => project.name(),
        }
    }
}

/// What a refresh found.
pub enum Refreshed {
    Connection(Box<ItemStatus>),
    Project(Arc<ProjectStatus>, i64),
}

#[derive(Clone)]
pub struct StatusBoard {
    bus: EventBus,
    catalog: CatalogSnapshot,
    prober: Prober,
    watches: Watches,
    refresh_limit: Arc<DefaultKeyedRateLimiter<(String, String)>>,
}

impl StatusBoard {
    pub fn new(bus: EventBus, catalog: CatalogSnapshot, prober: Prober, watches: Watches) -> Self {
        let quota =
            Quota::per_minute(NonZeroU32::new(REFRESHES_PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Self {
            bus,
            catalog,
            prober,
            watches,
            refresh_limit: Arc::new(RateLimiter::keyed(quota)),
        }
    }

    pub fn catalog(&self) -> &CatalogSnapshot {
        &self.catalog
    }

    /// A project's status from memory, and the log position it reflects.
    pub fn project(&self, project: &ProjectId) -> (Arc<ProjectStatus>, i64) {
        self.bus.cache().project(project)
    }

    /// Whether reads may be old: the replica cannot follow the log.
    pub fn stale(&self) -> bool {
        !self.bus.following()
    }

    /// The requested placeholder types, each parsed and known to the
    /// catalog; a type registered moments ago is looked up once more.
    pub async fn include_types(&self, raw: &[String]) -> Result<Vec<TypeId>, ApiError> {
        let mut violations = Vec::new();
        let mut types = Vec::with_capacity(raw.len());
        for (i, t) in raw.iter().enumerate() {
            match TypeId::parse_loose(t) {
                Ok(id) => types.push((i, id)),
                Err(e) => violations.push(FieldViolation::new(
                    format!("include_types[{i}]"),
                    e.to_string(),
                )),
            }
        }
        if types.iter().any(|(_, id)| self.catalog.spec(id).is_none())
            && let Err(e) = self.catalog.refresh(&self.watches.pool).await
        {
            tracing::debug!(error = %crate::error::ErrorChain(&e), "catalog refresh failed");
        }
        for (i, id) in &types {
            if self.catalog.spec(id).is_none() {
                violations.push(FieldViolation::new(
                    format!("include_types[{i}]"),
                    format!("no integration type {id} is registered"),
                ));
            }
        }
        if !violations.is_empty() {
            return Err(ApiError::invalid_argument(violations));
        }
        Ok(types.into_iter().map(|(_, id)| id).collect())
    }

    /// Probes `target` now, within the caller's quota: one connection, or
    /// every connection of a project at once (then answers the project's
    /// status once the log has caught up with what they wrote).
    pub async fn refresh(
        &self,
        caller: &Caller,
        target: RefreshTarget,
    ) -> Result<(Refreshed, Role), ApiError> {
        let role = caller.require(target.project(), Role::Editor)?;
        let key = target.key();
        if let Err(not_until) = self
            .refresh_limit
            .check_key(&(caller.subject().to_owned(), key.clone()))
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err(ApiError::new(
                ErrorCode::ResourceExhausted,
                "REFRESH_RATE_LIMITED",
                "too many refreshes; retry later",
            )
            .with_retry_after(wait.max(Duration::from_secs(1)))
            .with_quota_violation(
                format!("{}:{key}", caller.subject()),
                format!("{REFRESHES_PER_MINUTE} refreshes per minute"),
            ));
        }
        let refreshed = match target {
            RefreshTarget::Connection(name) => {
                Refreshed::Connection(Box::new(self.prober.probe_now(&name).await?.item))
            }
            RefreshTarget::Project(project) => {
                let (status, _) = self.project(&project);
                let names: Vec<ConnectionName> = status
                    .items
                    .iter()
                    .filter_map(|i| i.connection.clone())
                    .collect();
                let probes = names.iter().map(|n| self.prober.probe_now(n));
                for result in futures_util::future::join_all(probes).await {
                    // A connection deleted meanwhile has nothing to refresh.
                    if let Err(e) = result
                        && e.code() != ErrorCode::NotFound
                    {
                        return Err(e);
                    }
                }
                let (status, seq) = self.bus.caught_up().await.project(&project);
                Refreshed::Project(status, seq)
            }
        };
        Ok((refreshed, role))
    }

    pub async fn watch(&self, params: WatchParams) -> Result<UpdateStream, ApiError> {
        self.watches.open(params).await
    }
}
