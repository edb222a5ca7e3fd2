//! gRPC translation for StatusService.

use std::time::Duration;

use tonic::{Request, Response, Status};

use super::{
    envelopes::{Audience, EnvelopeCache},
    proto,
    service::{RefreshTarget, Refreshed, StatusBoard},
    watch::{DEFAULT_HEARTBEAT, UpdateStream, WatchParams},
};
use crate::{
    auth::{Role, caller_of},
    error::ApiError,
    names::{ConnectionName, ProjectId},
    proto::{time::duration_from_proto, v1 as pb, v1::status_service_server::StatusService},
};

/// Serves `patchbay.v1.StatusService`.
#[derive(Clone)]
pub struct StatusGrpc {
    board: StatusBoard,
    /// Envelopes built and encoded once per change and audience.
    envelopes: EnvelopeCache,
}

impl StatusGrpc {
    pub fn new(board: StatusBoard) -> Self {
        Self {
            board,
            envelopes: EnvelopeCache::default(),
        }
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
        let types = self.board.include_types(&r.include_types).await?;
        let catalog = self.board.catalog();
        let (status, seq) = self.board.project(&project);
        if !r.if_none_match.is_empty() && r.if_none_match == status.hash {
            let mut not_modified = proto::envelope(
                &project,
                &status,
                seq,
                role,
                &types,
                catalog,
                &r.if_none_match,
            );
            not_modified.stale = self.board.stale();
            return Ok(Response::new(not_modified));
        }
        let audience = Audience {
            project: &project,
            role,
            include_types: &types,
        };
        // `seq` is the only fresh field of a cached envelope.
        let mut envelope = self
            .envelopes
            .get_or_build(&audience, &status, catalog, seq, || {
                proto::envelope(&project, &status, seq, role, &types, catalog, "")
            });
        envelope.stale = self.board.stale();
        Ok(Response::new(envelope))
    }

    async fn get_connection_status(
        &self,
        request: Request<pb::GetConnectionStatusRequest>,
    ) -> Reply<pb::IntegrationStatus> {
        let caller = caller_of(&request)?;
        let name = ConnectionName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let role = caller.require(&name.project, Role::Viewer)?;
        let (status, _) = self.board.project(&name.project);
        let item = status
            .item(&name)
            .ok_or_else(|| ApiError::not_found(&name))?;
        let mut item = proto::item(item, role, self.board.catalog());
        // From memory while the log cannot be followed: it may be old.
        item.stale |= self.board.stale();
        Ok(Response::new(item))
    }

    async fn refresh_status(
        &self,
        request: Request<pb::RefreshStatusRequest>,
    ) -> Reply<pb::RefreshStatusResponse> {
        let caller = caller_of(&request)?;
        let target = &request.get_ref().name;
        let target = match ConnectionName::parse(target) {
            Ok(name) => RefreshTarget::Connection(name),
            Err(_) => RefreshTarget::Project(ProjectId::parse_name(target).map_err(|_| {
                ApiError::invalid_field(
                    "name",
                    "must be projects/{project} or projects/{project}/connections/{connection}",
                )
            })?),
        };
        let project = target.project().clone();
        let (refreshed, role) = self.board.refresh(caller, target).await?;
        let catalog = self.board.catalog();
        let result = match refreshed {
            Refreshed::Connection(item) => pb::refresh_status_response::Result::ConnectionStatus(
                proto::item(&item, role, catalog),
            ),
            Refreshed::Project(status, seq) => pb::refresh_status_response::Result::ProjectStatus(
                proto::envelope(&project, &status, seq, role, &[], catalog, ""),
            ),
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
            Some(d) => match duration_from_proto(d) {
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
            .board
            .watch(WatchParams {
                project,
                role,
                resume_from: r.resume_from,
                heartbeat,
                include_types: self.board.include_types(&r.include_types).await?,
            })
            .await?;
        Ok(Response::new(stream))
    }
}
