//! gRPC translation for AutomationService.

use tonic::{Request, Response, Status};

use super::{
    proto::{self, run, spec},
    service::{Automations, ReplayVersion},
};
use crate::{
    auth::caller_of,
    error::ApiError,
    field_mask::Selection,
    idempotency::RequestKey,
    names::{AutomationName, ProjectId, ResourceId, RunName},
    paging::PageRequest,
    proto::v1::{self as pb, automation_service_server},
};

/// Serves `patchbay.v1.AutomationService`.
#[derive(Clone)]
pub struct AutomationsGrpc {
    automations: Automations,
}

impl AutomationsGrpc {
    pub fn new(automations: Automations) -> Self {
        Self { automations }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn run_name(name: &str, field: &str) -> Result<RunName, ApiError> {
    RunName::parse(name).map_err(|e| e.at(field))
}

fn etag(e: &str) -> Option<&str> {
    (!e.is_empty()).then_some(e)
}

#[tonic::async_trait]
impl automation_service_server::AutomationService for AutomationsGrpc {
    async fn create_automation(
        &self,
        request: Request<pb::CreateAutomationRequest>,
    ) -> Reply<pb::Automation> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
        let automation = r
            .automation
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("automation", "is required"))?;
        let id = if r.automation_id.is_empty() {
            ResourceId::generate("automation")
        } else {
            ResourceId::parse("automation", &r.automation_id).map_err(|e| e.at("automation_id"))?
        };
        let mut v = Vec::new();
        if automation.display_name.chars().count() > 200 {
            v.push(crate::error::FieldViolation::new(
                "automation.display_name",
                "is longer than 200 characters",
            ));
        }
        let draft = spec::from_proto(
            automation.draft.as_ref(),
            &project,
            "automation.draft",
            &mut v,
        );
        let draft = match draft {
            Some(d) if v.is_empty() => d,
            _ => return Err(ApiError::invalid_argument(v).into()),
        };
        let key = RequestKey::parse(
            &r.request_id,
            &pb::CreateAutomationRequest {
                request_id: String::new(),
                ..r.clone()
            },
        )?;
        let name = AutomationName { project, id };
        let created = self
            .automations
            .create(caller, name, automation.display_name.trim(), draft, key)
            .await?;
        Ok(Response::new(proto::to_proto(&created)))
    }

    async fn get_automation(
        &self,
        request: Request<pb::GetAutomationRequest>,
    ) -> Reply<pb::Automation> {
        let caller = caller_of(&request)?;
        let name = proto::parse_name(&request.get_ref().name, "name")?;
        let found = self.automations.get(caller, &name).await?;
        Ok(Response::new(proto::to_proto(&found)))
    }

    async fn list_automations(
        &self,
        request: Request<pb::ListAutomationsRequest>,
    ) -> Reply<pb::ListAutomationsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent])?;
        let (found, next_page_token) = self.automations.list(caller, &project, &page).await?;
        Ok(Response::new(pb::ListAutomationsResponse {
            automations: found.iter().map(proto::to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_automation(
        &self,
        request: Request<pb::UpdateAutomationRequest>,
    ) -> Reply<pb::Automation> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let patch = r
            .automation
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("automation", "is required"))?;
        let name = proto::parse_name(&patch.name, "automation.name")?;
        let fields = Selection::parse(r.update_mask.as_ref(), &proto::UPDATABLE)?;
        let current = self.automations.get(caller, &name).await?;
        let mut merged = proto::to_proto(&current);
        proto::apply_mask(&mut merged, patch, &fields);
        let mut v = Vec::new();
        if merged.display_name.chars().count() > 200 {
            v.push(crate::error::FieldViolation::new(
                "automation.display_name",
                "is longer than 200 characters",
            ));
        }
        let draft = spec::from_proto(
            merged.draft.as_ref(),
            &name.project,
            "automation.draft",
            &mut v,
        );
        let draft = match draft {
            Some(d) if v.is_empty() => d,
            _ => return Err(ApiError::invalid_argument(v).into()),
        };
        let updated = self
            .automations
            .update(
                caller,
                &name,
                merged.display_name.trim(),
                draft,
                etag(&patch.etag),
            )
            .await?;
        Ok(Response::new(proto::to_proto(&updated)))
    }

    async fn delete_automation(&self, request: Request<pb::DeleteAutomationRequest>) -> Reply<()> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = proto::parse_name(&r.name, "name")?;
        self.automations
            .delete(caller, &name, etag(&r.etag))
            .await?;
        Ok(Response::new(()))
    }

    async fn publish_automation(
        &self,
        request: Request<pb::PublishAutomationRequest>,
    ) -> Reply<pb::Automation> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = proto::parse_name(&r.name, "name")?;
        let published = self
            .automations
            .publish(caller, &name, etag(&r.etag))
            .await?;
        Ok(Response::new(proto::to_proto(&published)))
    }

    async fn run_automation(&self, request: Request<pb::RunAutomationRequest>) -> Reply<pb::Run> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = proto::parse_name(&r.name, "name")?;
        let key = RequestKey::parse(
            &r.request_id,
            &pb::RunAutomationRequest {
                request_id: String::new(),
                ..r.clone()
            },
        )?;
        let fallback = match r.event.as_ref().map(|e| e.connection.is_empty()) {
            Some(true) => self.automations.trigger_connection(&name).await?,
            _ => None,
        };
        let event = run::event_from_proto(r.event.as_ref(), &name, fallback.as_ref())?;
        let started = self.automations.run(caller, &name, event, key).await?;
        Ok(Response::new(run::run_to_proto(&started)))
    }

    async fn dry_run_automation(
        &self,
        request: Request<pb::DryRunAutomationRequest>,
    ) -> Reply<pb::DryRunAutomationResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = proto::parse_name(&r.name, "name")?;
        let draft = match pb::DryRunVersion::try_from(r.version) {
            Ok(pb::DryRunVersion::Unspecified | pb::DryRunVersion::Published) => false,
            Ok(pb::DryRunVersion::Draft) => true,
            Err(_) => {
                return Err(ApiError::invalid_field("version", "is not a DryRunVersion").into());
            }
        };
        let fallback = match r.event.as_ref().map(|e| e.connection.is_empty()) {
            Some(true) => self.automations.trigger_connection(&name).await?,
            _ => None,
        };
        let event = run::event_from_proto(r.event.as_ref(), &name, fallback.as_ref())?;
        let dry = self
            .automations
            .dry_run(caller, &name, &event, draft)
            .await?;
        Ok(Response::new(run::dry_run_to_proto(&dry)))
    }

    async fn get_run(&self, request: Request<pb::GetRunRequest>) -> Reply<pb::Run> {
        let caller = caller_of(&request)?;
        let name = run_name(&request.get_ref().name, "name")?;
        let found = self.automations.get_run(caller, &name).await?;
        Ok(Response::new(run::run_to_proto(&found)))
    }

    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> Reply<pb::ListRunsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let automation = proto::parse_name(&r.parent, "parent")?;
        let state = run::run_state_from_proto(r.state)?;
        let state_query = r.state.to_string();
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent, &state_query])?;
        let (found, next_page_token) = self
            .automations
            .list_runs(caller, &automation, state, &page)
            .await?;
        Ok(Response::new(pb::ListRunsResponse {
            runs: found.iter().map(run::run_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn cancel_run(&self, request: Request<pb::CancelRunRequest>) -> Reply<pb::Run> {
        let caller = caller_of(&request)?;
        let name = run_name(&request.get_ref().name, "name")?;
        let cancelled = self.automations.cancel_run(caller, &name).await?;
        Ok(Response::new(run::run_to_proto(&cancelled)))
    }

    async fn replay_run(&self, request: Request<pb::ReplayRunRequest>) -> Reply<pb::Run> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = run_name(&r.name, "name")?;
        let version = match pb::ReplayVersion::try_from(r.version) {
            Ok(pb::ReplayVersion::Run) => ReplayVersion::Run,
            Ok(pb::ReplayVersion::Published) => ReplayVersion::Published,
            _ => {
                return Err(ApiError::invalid_field(
                    "version",
                    "must say which version to replay: REPLAY_VERSION_RUN or \
                     REPLAY_VERSION_PUBLISHED",
                )
                .into());
            }
        };
        let key = RequestKey::parse(
            &r.request_id,
            &pb::ReplayRunRequest {
                request_id: String::new(),
                ..r.clone()
            },
        )?;
        let replay = self.automations.replay(caller, &name, version, key).await?;
        Ok(Response::new(run::run_to_proto(&replay)))
    }
}
