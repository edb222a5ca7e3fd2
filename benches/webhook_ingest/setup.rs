//! What each variant posts to: a Standard Webhooks connection in its own
//! project, created through the API, with that project's alert rules or
//! the automations listening to it set to the variant's count.

use std::time::Duration;

use patchbay::{
    auth::{KeySource, Role, TokenMinter},
    proto::v1::{
        ActionStep, AlertRule, AlertSeverity, Automation, AutomationSpec, AutomationStep,
        AutomationTrigger, Connection, ConsecutiveFailuresCondition, CreateAlertRuleRequest,
        CreateAutomationRequest, CreateConnectionRequest, DeadLettersCondition,
        DeleteAlertRuleRequest, ErrorRateCondition, ListAlertRulesRequest,
        PublishAutomationRequest, RateLimitCondition, StatusCondition, StatusLevel,
        alert_rule::Condition, alert_service_client::AlertServiceClient,
        automation_service_client::AutomationServiceClient,
        integration_registry_client::IntegrationRegistryClient,
    },
};
use tonic::{
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

type Error = Box<dyn std::error::Error>;

#[derive(Clone)]
struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

pub struct Api {
    channel: Channel,
    bearer: Bearer,
}

impl Api {
    pub async fn connect(grpc_addr: &str, jwt_secret: &str, project: &str) -> Result<Self, Error> {
        let minter = TokenMinter::new(
            &KeySource::from_secret(jwt_secret.as_bytes().to_vec())?,
            None,
            None,
        )?;
        let token = minter.mint(
            "bench",
            &[(project.to_owned(), Role::Owner)],
            false,
            Duration::from_secs(3600),
        )?;
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))?
            .connect()
            .await?;
        Ok(Self {
            channel,
            bearer: Bearer(format!("Bearer {token}").parse()?),
        })
    }

    fn registry(&self) -> IntegrationRegistryClient<InterceptedService<Channel, Bearer>> {
        IntegrationRegistryClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    fn alerts(&self) -> AlertServiceClient<InterceptedService<Channel, Bearer>> {
        AlertServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    fn automations(&self) -> AutomationServiceClient<InterceptedService<Channel, Bearer>> {
        AutomationServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    /// Publishes `count` automations listening to `project`'s `hooks`
    /// connection for the deliveries' event type, each with a filter the
    /// deliveries never pass: every delivery is matched against all of
    /// them (eight in ten by the value of a field, one in ten by a list of
    /// values, one in ten by a pattern only), and none starts a run.
    pub async fn set_automations(&self, project: &str, count: usize) -> Result<(), Error> {
        let mut automations = self.automations();
        for i in 0..count {
            let id = format!("automation-{i:03}");
            let step = AutomationStep {
                name: "probe".into(),
                kind: Some(patchbay::proto::v1::automation_step::Kind::Action(
                    ActionStep {
                        connection: format!("projects/{project}/connections/hooks"),
                        action: "test-connection".into(),
                        ..Default::default()
                    },
                )),
            };
            // Most route on a field's value; some take a list of values,
            // and some only a pattern, which no lookup can rule out.
            let filter = match i % 10 {
                9 => format!("payload.data.email matches \"*@example-{i}.org\""),
                8 => format!("payload.data.object in [\"ticket-{i}\", \"task-{i}\"]"),
                _ => format!(
                    "payload.data.object == \"deal-{i}\" and payload.data.email matches \"*@example.org\""
                ),
            };
            automations
                .create_automation(CreateAutomationRequest {
                    parent: format!("projects/{project}"),
                    automation_id: id.clone(),
                    automation: Some(Automation {
                        display_name: format!("Automation {i}"),
                        draft: Some(AutomationSpec {
                            trigger: Some(AutomationTrigger {
                                connection: format!("projects/{project}/connections/hooks"),
                                event_types: vec!["record.*".into()],
                                filter,
                                ..Default::default()
                            }),
                            steps: vec![step],
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?;
            automations
                .publish_automation(PublishAutomationRequest {
                    name: format!("projects/{project}/automations/{id}"),
                    etag: String::new(),
                })
                .await?;
        }
        Ok(())
    }

    /// An `http` connection `hooks` in `project` whose deliveries are signed
    /// with `secret` (its probe target answers nothing, as the load is all
    /// webhooks).
    pub async fn create_connection(
        &self,
        project: &str,
        secret: &str,
    ) -> Result<Connection, Error> {
        let settings = prost_types::Struct {
            fields: [(
                "health_url".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue(
                        "http://127.0.0.1:9/health".into(),
                    )),
                },
            )]
            .into(),
        };
        Ok(self
            .registry()
            .create_connection(CreateConnectionRequest {
                parent: format!("projects/{project}"),
                connection_id: "hooks".into(),
                connection: Some(Connection {
                    integration_type: "integrationTypes/http".into(),
                    settings: Some(settings),
                    ..Default::default()
                }),
                request_id: String::new(),
                webhook_secret: secret.to_owned(),
            })
            .await?
            .into_inner())
    }

    /// Leaves `project` with exactly `count` alert rules: its defaults
    /// removed, then `count` rules of every kind in turn, all watching the
    /// whole project.
    pub async fn set_rules(&self, project: &str, count: usize) -> Result<(), Error> {
        let mut alerts = self.alerts();
        let existing = alerts
            .list_alert_rules(ListAlertRulesRequest {
                parent: format!("projects/{project}"),
                page_size: 1000,
                page_token: String::new(),
            })
            .await?
            .into_inner()
            .alert_rules;
        for rule in existing {
            alerts
                .delete_alert_rule(DeleteAlertRuleRequest {
                    name: rule.name,
                    etag: String::new(),
                })
                .await?;
        }
        for i in 0..count {
            alerts
                .create_alert_rule(CreateAlertRuleRequest {
                    parent: format!("projects/{project}"),
                    alert_rule_id: format!("rule-{i:03}"),
                    alert_rule: Some(AlertRule {
                        display_name: format!("Rule {i}"),
                        severity: AlertSeverity::Warning.into(),
                        condition: Some(condition(i)),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?;
        }
        Ok(())
    }
}

/// The `i`th rule's condition: each kind in turn, with thresholds that vary.
fn condition(i: usize) -> Condition {
    let n = i32::try_from(i).unwrap_or(0);
    match i % 5 {
        0 => Condition::ConsecutiveFailures(ConsecutiveFailuresCondition { more_than: 3 + n }),
        1 => Condition::ErrorRate(ErrorRateCondition {
            above_percent: 5.0,
            window: Some(prost_types::Duration {
                seconds: 300 + i64::from(n) * 60,
                nanos: 0,
            }),
            min_samples: 20,
        }),
        2 => Condition::RateLimit(RateLimitCondition {
            below: 100 + i64::from(n),
        }),
        3 => Condition::Status(StatusCondition {
            level: StatusLevel::Error.into(),
            reason: String::new(),
        }),
        _ => Condition::DeadLetters(DeadLettersCondition {
            more_than: i64::from(n),
        }),
    }
}
