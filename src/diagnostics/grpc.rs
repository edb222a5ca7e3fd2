//! gRPC translation for Diagnostics.

use tonic::{Request, Response, Status};

use super::{proto, service::Diagnostics};
use crate::{
    auth::caller_of,
    error::ApiError,
    names::{ConnectionName, ProjectId},
    paging::PageRequest,
    proto::v1::{
        CompareDeploymentsRequest, CompareDeploymentsResponse, ConnectionDiagnosis, DeploymentInfo,
        DiagnoseConnectionRequest, DiagnoseProjectRequest, ExportAuditEventsRequest,
        GetDeploymentInfoRequest, GetServiceHealthRequest, ListAuditEventsRequest,
        ListAuditEventsResponse, ListWebhookDeliveriesRequest, ListWebhookDeliveriesResponse,
        ProjectDiagnosis, RedriveDeliveriesRequest, RedriveDeliveriesResponse,
        SendTestWebhookRequest, SendTestWebhookResponse, ServiceHealth, VerifyAuditLogRequest,
        VerifyAuditLogResponse, VerifyWebhookRequest, VerifyWebhookResponse, diagnostics_server,
    },
    store::delivery_log::Redrive,
    webhooks::dry_run::Captured,
};

/// The longest captured path a dry run takes: common servers' URL limit.
const MAX_CAPTURED_PATH: usize = 8 * 1024;

/// Serves `patchbay.v1.Diagnostics`.
#[derive(Clone)]
pub struct DiagnosticsGrpc {
    diagnostics: Diagnostics,
}

impl DiagnosticsGrpc {
    pub fn new(diagnostics: Diagnostics) -> Self {
        Self { diagnostics }
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// ExportAuditEvents' stream of entries.
pub type AuditExport = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<crate::proto::v1::AuditEvent, Status>> + Send>,
>;

#[tonic::async_trait]
impl diagnostics_server::Diagnostics for DiagnosticsGrpc {
    async fn get_service_health(
        &self,
        request: Request<GetServiceHealthRequest>,
    ) -> Reply<ServiceHealth> {
        let caller = caller_of(&request)?;
        let (components, overall) = self.diagnostics.service_health(caller).await;
        Ok(Response::new(proto::service_health(&components, overall)))
    }

    async fn diagnose_connection(
        &self,
        request: Request<DiagnoseConnectionRequest>,
    ) -> Reply<ConnectionDiagnosis> {
        let caller = caller_of(&request)?;
        let name = ConnectionName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let diagnosis = self.diagnostics.diagnose_connection(caller, &name).await?;
        Ok(Response::new(proto::diagnosis(&diagnosis)))
    }

    async fn diagnose_project(
        &self,
        request: Request<DiagnoseProjectRequest>,
    ) -> Reply<ProjectDiagnosis> {
        let caller = caller_of(&request)?;
        let project =
            ProjectId::parse_name(&request.get_ref().project).map_err(|e| e.at("project"))?;
        let diagnoses = self.diagnostics.diagnose_project(caller, &project).await?;
        Ok(Response::new(proto::project_diagnosis(
            &project.name(),
            &diagnoses,
        )))
    }

    async fn verify_webhook(
        &self,
        request: Request<VerifyWebhookRequest>,
    ) -> Reply<VerifyWebhookResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = ConnectionName::parse(&r.connection).map_err(|e| e.at("connection"))?;
        if !r.path.starts_with('/') || r.path.len() > MAX_CAPTURED_PATH {
            return Err(ApiError::invalid_field(
                "path",
                format!(
                    "must start with /, as the bridge was called, and be at most {MAX_CAPTURED_PATH} bytes"
                ),
            )
            .into());
        }
        let headers = proto::captured_headers(&r.headers)?;
        let method = if r.method.is_empty() {
            "POST"
        } else {
            r.method.as_str()
        };
        let captured = Captured {
            method,
            path: &r.path,
            headers: &headers,
            body: &r.body,
        };
        let run = self
            .diagnostics
            .verify_webhook(caller, &name, &captured)
            .await?;
        Ok(Response::new(proto::verdict(&run)))
    }

    async fn send_test_webhook(
        &self,
        request: Request<SendTestWebhookRequest>,
    ) -> Reply<SendTestWebhookResponse> {
        let caller = caller_of(&request)?;
        let name =
            ConnectionName::parse(&request.get_ref().connection).map_err(|e| e.at("connection"))?;
        let sent = self.diagnostics.send_test_webhook(caller, &name).await?;
        Ok(Response::new(SendTestWebhookResponse {
            status_code: i32::from(sent.status),
            latency: Some(crate::proto::time::duration(sent.latency)),
            delivery: sent.delivery.unwrap_or_default(),
            uri: sent.url,
        }))
    }

    async fn get_deployment_info(
        &self,
        request: Request<GetDeploymentInfoRequest>,
    ) -> Reply<DeploymentInfo> {
        let caller = caller_of(&request)?;
        let info = self.diagnostics.deployment_info(caller).await?;
        Ok(Response::new(proto::deployment_info(&info)))
    }

    async fn compare_deployments(
        &self,
        request: Request<CompareDeploymentsRequest>,
    ) -> Reply<CompareDeploymentsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let target = super::compare::parse_target(&r.target)?;
        let (local, remote) = self
            .diagnostics
            .compare(caller, target, &r.bearer_token)
            .await?;
        let drift = super::compare::drift(&proto::deployment_info(&local), &remote);
        Ok(Response::new(CompareDeploymentsResponse {
            target: r.target.clone(),
            drift: proto::drift(&drift),
        }))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<ListWebhookDeliveriesRequest>,
    ) -> Reply<ListWebhookDeliveriesResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let parent = proto::parent(&r.parent)?;
        let query = proto::delivery_query(&r.filter, true)?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent, &r.filter])?;
        let (deliveries, next_page_token) = self
            .diagnostics
            .list_deliveries(caller, &parent, &query, &page)
            .await?;
        Ok(Response::new(ListWebhookDeliveriesResponse {
            deliveries: deliveries.iter().map(proto::delivery).collect(),
            next_page_token,
        }))
    }

    async fn redrive_deliveries(
        &self,
        request: Request<RedriveDeliveriesRequest>,
    ) -> Reply<RedriveDeliveriesResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let parent = proto::parent(&r.parent)?;
        if !r.names.is_empty() && !r.filter.is_empty() {
            return Err(
                ApiError::invalid_field("filter", "give names or a filter, not both").into(),
            );
        }
        let ids = proto::delivery_ids(&parent, &r.names)?;
        let query = proto::delivery_query(&r.filter, false)?;
        let which = if ids.is_empty() {
            Redrive::Matching(&query)
        } else {
            Redrive::Ids(&ids)
        };
        let moved = self
            .diagnostics
            .redrive(caller, &parent, which, r.validate_only)
            .await?;
        Ok(Response::new(RedriveDeliveriesResponse {
            redriven_count: i32::try_from(moved).unwrap_or(i32::MAX),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Reply<ListAuditEventsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let scope = proto::audit_scope(&r.parent)?;
        let query = proto::audit_query(&r.filter)?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent, &r.filter])?;
        let (events, next_page_token) = self
            .diagnostics
            .list_audit_events(caller, &scope, &query, &page)
            .await?;
        Ok(Response::new(ListAuditEventsResponse {
            audit_events: events.iter().map(proto::audit_event).collect(),
            next_page_token,
        }))
    }

    type ExportAuditEventsStream = AuditExport;

    async fn export_audit_events(
        &self,
        request: Request<ExportAuditEventsRequest>,
    ) -> Reply<AuditExport> {
        use futures_util::StreamExt as _;
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let scope = proto::audit_scope(&r.parent)?;
        let query = proto::audit_query(&r.filter)?;
        let events = self
            .diagnostics
            .export_audit_events(caller, scope, query)
            .await?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(events)
            .map(|event| event.map(|e| proto::audit_event(&e)).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn verify_audit_log(
        &self,
        request: Request<VerifyAuditLogRequest>,
    ) -> Reply<VerifyAuditLogResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let scope = proto::audit_scope(&r.parent)?;
        let range = proto::audit_range(&scope, r.first_seq, r.last_seq)?;
        let verification = self
            .diagnostics
            .verify_audit_log(caller, &scope, range)
            .await?;
        Ok(Response::new(proto::audit_verification(&verification)))
    }
}
