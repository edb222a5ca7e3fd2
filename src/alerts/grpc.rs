//! gRPC translation for AlertService.

use tonic::{Request, Response, Status};

use super::{proto, rules::AlertRules};
use crate::{
    auth::caller_of,
    error::ApiError,
    field_mask::Selection,
    idempotency::RequestKey,
    names::{AlertRuleName, ProjectId, ResourceId},
    paging::PageRequest,
    proto::v1::{self as pb, alert_service_server},
};

/// Serves `patchbay.v1.AlertService`.
#[derive(Clone)]
pub struct AlertsGrpc {
    rules: AlertRules,
}

impl AlertsGrpc {
    pub fn new(rules: AlertRules) -> Self {
        Self { rules }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl alert_service_server::AlertService for AlertsGrpc {
    async fn create_alert_rule(
        &self,
        request: Request<pb::CreateAlertRuleRequest>,
    ) -> Reply<pb::AlertRule> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
        let rule = r
            .alert_rule
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("alert_rule", "is required"))?;
        let id = if r.alert_rule_id.is_empty() {
            ResourceId::generate("rule")
        } else {
            ResourceId::parse("alert rule", &r.alert_rule_id).map_err(|e| e.at("alert_rule_id"))?
        };
        let definition = proto::definition_from_proto(AlertRuleName { project, id }, rule)?;
        let key = RequestKey::parse(
            &r.request_id,
            &pb::CreateAlertRuleRequest {
                request_id: String::new(),
                ..r.clone()
            },
        )?;
        let created = self.rules.create(caller, definition, key).await?;
        Ok(Response::new(proto::to_proto(&created)))
    }

    async fn get_alert_rule(
        &self,
        request: Request<pb::GetAlertRuleRequest>,
    ) -> Reply<pb::AlertRule> {
        let caller = caller_of(&request)?;
        let name = AlertRuleName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let rule = self.rules.get(caller, &name).await?;
        Ok(Response::new(proto::to_proto(&rule)))
    }

    async fn list_alert_rules(
        &self,
        request: Request<pb::ListAlertRulesRequest>,
    ) -> Reply<pb::ListAlertRulesResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent])?;
        let (rules, next_page_token) = self.rules.list(caller, &project, &page).await?;
        Ok(Response::new(pb::ListAlertRulesResponse {
            alert_rules: rules.iter().map(proto::to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_alert_rule(
        &self,
        request: Request<pb::UpdateAlertRuleRequest>,
    ) -> Reply<pb::AlertRule> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let patch = r
            .alert_rule
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("alert_rule", "is required"))?;
        let name = AlertRuleName::parse(&patch.name).map_err(|e| e.at("alert_rule.name"))?;
        let fields = Selection::parse(r.update_mask.as_ref(), &proto::UPDATABLE)?;
        let etag = (!patch.etag.is_empty()).then_some(patch.etag.as_str());
        let updated = self
            .rules
            .update(caller, &name, etag, |current| {
                let mut merged = proto::to_proto(current);
                proto::apply_mask(&mut merged, patch, &fields);
                proto::definition_from_proto(name.clone(), &merged)
            })
            .await?;
        Ok(Response::new(proto::to_proto(&updated)))
    }

    async fn delete_alert_rule(&self, request: Request<pb::DeleteAlertRuleRequest>) -> Reply<()> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = AlertRuleName::parse(&r.name).map_err(|e| e.at("name"))?;
        let etag = (!r.etag.is_empty()).then_some(r.etag.as_str());
        self.rules.delete(caller, &name, etag).await?;
        Ok(Response::new(()))
    }
}
