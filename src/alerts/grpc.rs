//! gRPC translation for AlertService.

use tonic::{Request, Response, Status};

use super::{
    alert::AlertState, alert_log::AlertLog, alert_proto, channel_proto, channels::Channels, proto,
    rules::AlertRules,
};
use crate::{
    auth::caller_of,
    error::ApiError,
    field_mask::Selection,
    idempotency::RequestKey,
    names::{AlertName, AlertRuleName, ChannelName, ProjectId, ResourceId},
    paging::PageRequest,
    proto::v1::{self as pb, alert_service_server},
};

/// Serves `patchbay.v1.AlertService`.
#[derive(Clone)]
pub struct AlertsGrpc {
    rules: AlertRules,
    channels: Channels,
    log: AlertLog,
}

impl AlertsGrpc {
    pub fn new(rules: AlertRules, channels: Channels, log: AlertLog) -> Self {
        Self {
            rules,
            channels,
            log,
        }
    }
}

fn state_filter(state: i32) -> Result<Option<AlertState>, ApiError> {
    match pb::AlertState::try_from(state) {
        Ok(pb::AlertState::Unspecified) => Ok(None),
        Ok(pb::AlertState::Firing) => Ok(Some(AlertState::Firing)),
        Ok(pb::AlertState::Resolved) => Ok(Some(AlertState::Resolved)),
        Err(_) => Err(ApiError::invalid_field("state", "is not an AlertState")),
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

    async fn create_notification_channel(
        &self,
        request: Request<pb::CreateNotificationChannelRequest>,
    ) -> Reply<pb::NotificationChannel> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
        let channel = r
            .notification_channel
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("notification_channel", "is required"))?;
        let id = if r.notification_channel_id.is_empty() {
            ResourceId::generate("channel")
        } else {
            ResourceId::parse("notification channel", &r.notification_channel_id)
                .map_err(|e| e.at("notification_channel_id"))?
        };
        let definition = channel_proto::definition_from_proto(
            ChannelName { project, id },
            channel,
            self.channels.allow_private(),
        )?;
        let key = RequestKey::parse(
            &r.request_id,
            &pb::CreateNotificationChannelRequest {
                request_id: String::new(),
                ..r.clone()
            },
        )?;
        let created = self.channels.create(caller, definition, key).await?;
        Ok(Response::new(channel_proto::to_proto(
            &created.channel,
            created.secret.as_ref(),
        )))
    }

    async fn get_notification_channel(
        &self,
        request: Request<pb::GetNotificationChannelRequest>,
    ) -> Reply<pb::NotificationChannel> {
        let caller = caller_of(&request)?;
        let name = ChannelName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let channel = self.channels.get(caller, &name).await?;
        Ok(Response::new(channel_proto::to_proto(&channel, None)))
    }

    async fn list_notification_channels(
        &self,
        request: Request<pb::ListNotificationChannelsRequest>,
    ) -> Reply<pb::ListNotificationChannelsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent])?;
        let (channels, next_page_token) = self.channels.list(caller, &project, &page).await?;
        Ok(Response::new(pb::ListNotificationChannelsResponse {
            notification_channels: channels
                .iter()
                .map(|c| channel_proto::to_proto(c, None))
                .collect(),
            next_page_token,
        }))
    }

    async fn update_notification_channel(
        &self,
        request: Request<pb::UpdateNotificationChannelRequest>,
    ) -> Reply<pb::NotificationChannel> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let patch = r
            .notification_channel
            .as_ref()
            .ok_or_else(|| ApiError::invalid_field("notification_channel", "is required"))?;
        let name =
            ChannelName::parse(&patch.name).map_err(|e| e.at("notification_channel.name"))?;
        let fields = Selection::parse(r.update_mask.as_ref(), &channel_proto::UPDATABLE)?;
        let etag = (!patch.etag.is_empty()).then_some(patch.etag.as_str());
        let allow_private = self.channels.allow_private();
        let updated = self
            .channels
            .update(caller, &name, etag, |current| {
                let mut merged = channel_proto::to_proto(current, None);
                channel_proto::apply_mask(&mut merged, patch, &fields);
                channel_proto::definition_from_proto(name.clone(), &merged, allow_private)
            })
            .await?;
        Ok(Response::new(channel_proto::to_proto(&updated, None)))
    }

    async fn delete_notification_channel(
        &self,
        request: Request<pb::DeleteNotificationChannelRequest>,
    ) -> Reply<()> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = ChannelName::parse(&r.name).map_err(|e| e.at("name"))?;
        let etag = (!r.etag.is_empty()).then_some(r.etag.as_str());
        self.channels.delete(caller, &name, etag).await?;
        Ok(Response::new(()))
    }

    async fn test_notification_channel(
        &self,
        request: Request<pb::TestNotificationChannelRequest>,
    ) -> Reply<pb::TestNotificationChannelResponse> {
        let caller = caller_of(&request)?;
        let name = ChannelName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let sent = self.log.test_channel(caller, &name).await?;
        Ok(Response::new(pb::TestNotificationChannelResponse {
            notification: Some(alert_proto::notification(&sent)),
        }))
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Reply<pb::ListNotificationsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let channel = ChannelName::parse(&r.parent).map_err(|e| e.at("parent"))?;
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent])?;
        let (found, next_page_token) = self.log.notifications(caller, &channel, &page).await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: found.iter().map(alert_proto::notification).collect(),
            next_page_token,
        }))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Reply<pb::ListAlertsResponse> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let project = ProjectId::parse_name(&r.parent).map_err(|e| e.at("parent"))?;
        let state = state_filter(r.state)?;
        let state_query = r.state.to_string();
        let page = PageRequest::parse(r.page_size, &r.page_token, &[&r.parent, &state_query])?;
        let (alerts, next_page_token) = self.log.list(caller, &project, state, &page).await?;
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: alerts.iter().map(alert_proto::alert).collect(),
            next_page_token,
        }))
    }

    async fn get_alert(&self, request: Request<pb::GetAlertRequest>) -> Reply<pb::Alert> {
        let caller = caller_of(&request)?;
        let name = AlertName::parse(&request.get_ref().name).map_err(|e| e.at("name"))?;
        let alert = self.log.get(caller, &name).await?;
        Ok(Response::new(alert_proto::alert(&alert)))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Reply<pb::Alert> {
        let caller = caller_of(&request)?;
        let r = request.get_ref();
        let name = AlertName::parse(&r.name).map_err(|e| e.at("name"))?;
        let etag = (!r.etag.is_empty()).then_some(r.etag.as_str());
        let alert = self.log.acknowledge(caller, &name, etag).await?;
        Ok(Response::new(alert_proto::alert(&alert)))
    }
}
