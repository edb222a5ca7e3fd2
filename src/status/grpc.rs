//! gRPC translation for StatusService.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::{Request, Response, Status};

use super::{
    bus::EventBus,
    envelopes::{Audience, EnvelopeCache},
    prober::Prober,
    views,
    watch::{DEFAULT_HEARTBEAT, UpdateStream, WatchParams, Watches},
};
use crate::{
    auth::{Role, caller_of},
    error::{ApiError, ErrorCode, FieldViolation},
    names::{ConnectionName, ProjectId, TypeId},
    proto::{self, v1 as pb, v1::status_service_server::StatusService},
    registry::catalog_snapshot::CatalogSnapshot,
};

/// Forced probes per caller and target per minute.
const REFRESHES_PER_MINUTE: u32 = 6;

/// Serves `patchbay.v1.StatusService`.
#[derive(Clone)]
pub struct StatusGrpc {
    bus: EventBus,
    catalog: CatalogSnapshot,
    prober: Prober,
    watches: Watches,
    envelopes: EnvelopeCache,
    refresh_limit: Arc<DefaultKeyedRateLimiter<(String, String)>>,
}

impl StatusGrpc {
    pub fn new(bus: EventBus, catalog: CatalogSnapshot, prober: Prober, watches: Watches) -> Self {
        let quota =
            Quota::per_minute(NonZeroU32::new(REFRESHES_PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Self {
            bus,
            catalog,
            prober,
            watches,
            envelopes: EnvelopeCache::default(),
            refresh_limit: Arc::new(RateLimiter::keyed(quota)),
        }
    }
}

impl StatusGrpc {
    /// The requested placeholder types, each parsed and known to the
    /// catalog; a type registered moments ago is looked up once more.
    async fn include_types(&self, raw: &[String]) -> Result<Vec<TypeId>, ApiError> {
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
        let unknown = |catalog: &CatalogSnapshot| {
            types
                .iter()
                .filter(|(_, id)| catalog.spec(id).is_none())
                .count()
        };
        if unknown(&self.catalog) > 0 {
            if let Err(e) = self.catalog.refresh(&self.watches.pool).await {
                tracing::debug!(error = %crate::error::ErrorChain(&e), "catalog refresh failed");
            }
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
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl StatusService for StatusGrpc {
    async fn get_project_status(
        &self,
        request: Request<pb::GetProjectStatusRequest>,
    ) -> Reply<pb::StatusEnvelope> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.project).map_err(|e| e.at("project"))?;
        let role = caller.require(&project, Role::Viewer)?;
        let types = self.include_types(&r.include_types).await?;
        let (status, seq) = self.bus.cache().project(&project);
        if !r.if_none_match.is_empty() && r.if_none_match == status.hash {
            let mut not_modified = views::envelope(
                &project,
                &status,
                seq,
                role,
                &types,
                &self.catalog,
                &r.if_none_match,
            );
            not_modified.stale = !self.bus.following();
            return Ok(Response::new(not_modified));
        }
        // Built and encoded once per change; `seq` is the only fresh field.
        let audience = Audience {
            project: &project,
            role,
            include_types: &types,
        };
        let mut envelope =
            self.envelopes
                .get_or_build(&audience, &status, &self.catalog, seq, || {
                    views::envelope(&project, &status, seq, role, &types, &self.catalog, "")
                });
        envelope.stale = !self.bus.following();
        Ok(Response::new(envelope))
    }

    async fn get_connection_status(
        &self,
        request: Request<pb::GetConnectionStatusRequest>,
    ) -> Reply<pb::IntegrationStatus> {
        let caller = caller_of(&request)?;
        let name = ConnectionName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let role = caller.require(&name.project, Role::Viewer)?;
        let (status, _) = self.bus.cache().project(&name.project);
        let item = status
            .item(&name)
            .ok_or_else(|| ApiError::not_found(&name))?;
        let mut item = views::item(item, role, &self.catalog);
        // From memory while the log cannot be followed: it may be old.
        item.stale |= !self.bus.following();
        Ok(Response::new(item))
    }

    async fn refresh_status(
        &self,
        request: Request<pb::RefreshStatusRequest>,
    ) -> Reply<pb::RefreshStatusResponse> {
        let caller = caller_of(&request)?;
        let target = &request.get_ref().name;
        let (project, connection) = match ConnectionName::parse(target) {
            Ok(name) => (name.project.clone(), Some(name)),
            Err(_) => (
                ProjectId::parse_name(target).map_err(|_| {
                    ApiError::invalid_field(
                        "name",
                        "must be projects/{project} or projects/{project}/connections/{connection}",
                    )
                })?,
                None,
            ),
        };
        let role = caller.require(&project, Role::Editor)?;
        if let Err(not_until) = self
            .refresh_limit
            .check_key(&(caller.subject().to_owned(), target.clone()))
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
                format!("{}:{target}", caller.subject()),
                format!("{REFRESHES_PER_MINUTE} refreshes per minute"),
            )
            .into());
        }
        let result = match connection {
            Some(name) => {
                let probe = self.prober.probe_now(&name).await?;
                pb::refresh_status_response::Result::ConnectionStatus(views::item(
                    &probe.item,
                    role,
                    &self.catalog,
                ))
            }
            None => {
                let (status, _) = self.bus.cache().project(&project);
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
                        return Err(e.into());
                    }
                }
                let status = self.bus.caught_up().await;
                let (status, seq) = status.project(&project);
                pb::refresh_status_response::Result::ProjectStatus(views::envelope(
                    &project,
                    &status,
                    seq,
                    role,
                    &[],
                    &self.catalog,
                    "",
                ))
            }
        };
        Ok(Response::new(pb::RefreshStatusResponse {
            result: Some(result),
        }))
    }

    type WatchProjectStatusStream = UpdateStream;

    async fn watch_project_status(
        &self,
        request: Request<pb::WatchProjectStatusRequest>,
    ) -> Reply<UpdateStream> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.project).map_err(|e| e.at("project"))?;
        let role = caller.require(&project, Role::Viewer)?;
        let heartbeat = match &r.heartbeat_interval {
            None => DEFAULT_HEARTBEAT,
            Some(d) => match proto::time::duration_from_proto(d) {
                Some(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(3600) => d,
                _ => {
                    return Err(ApiError::invalid_field(
                        "heartbeat_interval",
                        "must be between 100ms and 1h",
                    )
                    .into());
                }
            },
        };
        if r.resume_from.is_some_and(|n| n < 0) {
            return Err(ApiError::invalid_field("resume_from", "must not be negative").into());
        }
        let stream = self
            .watches
            .open(WatchParams {
                project,
                role,
                resume_from: r.resume_from,
                heartbeat,
                include_types: self.include_types(&r.include_types).await?,
            })
            .await?;
        Ok(Response::new(stream))
    }
}
