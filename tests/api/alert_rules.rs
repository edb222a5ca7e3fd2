//! Alert rules: the three defaults a project starts with, and the rules its
//! editors write, read, change and delete, each change audited.

use patchbay::{
    auth::Role,
    proto::v1::{
        AlertResolution, AlertRule, AlertSeverity, AuditChainBreak, ConsecutiveFailuresCondition,
        CreateAlertRuleRequest, DeleteAlertRuleRequest, ErrorRateCondition, GetAlertRuleRequest,
        ListAlertRulesRequest, StatusCondition, StatusLevel, UpdateAlertRuleRequest,
        alert_rule::Condition,
    },
};
use prost_types::{Duration, FieldMask};
use tonic::Code;

use crate::{
    audit_log::{broken, tamper, verdict},
    audit_reads::list_all,
    connections::create_github,
    helpers::{TestApp, assert_error, spawn_app},
    notification_channels::{create_channel, email},
};

async fn rules(app: &TestApp, project: &str) -> Vec<AlertRule> {
    let viewer = app.token("viewer", &[(project, Role::Viewer)]);
    app.alerts(Some(&viewer))
        .list_alert_rules(ListAlertRulesRequest {
            parent: format!("projects/{project}"),
            ..Default::default()
        })
        .await
        .expect("list rules")
        .into_inner()
        .alert_rules
}

fn failures_rule(scope: &str) -> AlertRule {
    AlertRule {
        display_name: "Web repo failing".into(),
        severity: AlertSeverity::Critical.into(),
        scope: scope.into(),
        channels: vec!["projects/acme/notificationChannels/oncall".into()],
        condition: Some(Condition::ConsecutiveFailures(
            ConsecutiveFailuresCondition { more_than: 5 },
        )),
        ..Default::default()
    }
}

/// Creates `id` in acme as an editor, notifying `channels`.
pub async fn try_create_rule(
    app: &TestApp,
    id: &str,
    channels: &[&str],
) -> Result<AlertRule, tonic::Status> {
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.alerts(Some(&editor))
        .create_alert_rule(CreateAlertRuleRequest {
            parent: "projects/acme".into(),
            alert_rule_id: id.into(),
            alert_rule: Some(AlertRule {
                channels: channels.iter().map(|c| (*c).to_owned()).collect(),
                ..failures_rule("")
            }),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn create_rule(app: &TestApp, id: &str, channels: &[&str]) -> AlertRule {
    try_create_rule(app, id, channels)
        .await
        .expect("create a rule")
}

#[tokio::test]
async fn a_project_starts_with_three_default_rules_once() {
    let app = spawn_app().await;
    assert!(
        rules(&app, "acme").await.is_empty(),
        "nothing before the project"
    );
    create_github(&app, "acme", "gh").await;
    let defaults = rules(&app, "acme").await;
    let summary: Vec<(&str, AlertSeverity, bool)> = defaults
        .iter()
        .map(|r| (r.name.as_str(), r.severity(), r.default_rule))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "projects/acme/alertRules/consecutive-failures",
                AlertSeverity::Critical,
                true
            ),
            (
                "projects/acme/alertRules/error-rate",
                AlertSeverity::Warning,
                true
            ),
            (
                "projects/acme/alertRules/rate-limit",
                AlertSeverity::Info,
                true
            ),
        ]
    );
    assert_eq!(
        defaults[0].condition,
        Some(Condition::ConsecutiveFailures(
            ConsecutiveFailuresCondition { more_than: 3 }
        ))
    );
    let Some(Condition::ErrorRate(rate)) = &defaults[1].condition else {
        panic!("an error-rate rule: {:?}", defaults[1].condition);
    };
    assert_eq!(rate.above_percent, 5.0);
    assert!(
        rate.min_samples >= 2,
        "one failure in two calls does not fire"
    );

    // Removable, and not given back.
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.alerts(Some(&editor))
        .delete_alert_rule(DeleteAlertRuleRequest {
            name: "projects/acme/alertRules/rate-limit".into(),
            etag: String::new(),
        })
        .await
        .expect("delete a default");
    create_github(&app, "acme", "gh2").await;
    assert_eq!(rules(&app, "acme").await.len(), 2);

    // The first connection's audit entry says it seeded them.
    let admin = app.token("admin", &[("acme", Role::Admin)]);
    let entries = list_all(&app, &admin, "projects/acme", "", 50).await;
    let first = entries.last().expect("the first entry");
    assert_eq!(first.method, "IntegrationRegistry.CreateConnection");
    assert!(
        first
            .changes
            .iter()
            .any(|c| c.field == "default_alert_rules"
                && c.after == "consecutive-failures,error-rate,rate-limit")
    );
}

#[tokio::test]
async fn editors_write_rules_that_anyone_in_the_project_reads() {
    let app = spawn_app().await;
    create_github(&app, "acme", "web").await;
    create_channel(&app, "oncall", email(&["ops@example.com"]))
        .await
        .expect("a channel");
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let mut alerts = app.alerts(Some(&editor));
    let create = |id: &str, rule: AlertRule, request_id: &str| CreateAlertRuleRequest {
        parent: "projects/acme".into(),
        alert_rule_id: id.into(),
        alert_rule: Some(rule),
        request_id: request_id.into(),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let created = alerts
        .create_alert_rule(create(
            "web-down",
            failures_rule("projects/acme/connections/web"),
            &request_id,
        ))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.name, "projects/acme/alertRules/web-down");
    assert!(!created.default_rule && !created.etag.is_empty());
    let resolution = created.resolution.expect("a resolution");
    assert_eq!(resolution.healthy_observations, 3, "the default hysteresis");
    let replayed = alerts
        .create_alert_rule(create(
            "web-down",
            failures_rule("projects/acme/connections/web"),
            &request_id,
        ))
        .await
        .expect("a replay")
        .into_inner();
    assert_eq!(replayed, created, "the same rule, not a second");
    let conflicting = alerts
        .create_alert_rule(create("other", failures_rule(""), &request_id))
        .await;
    assert!(
        conflicting.is_err(),
        "a request id reused for another request"
    );
    let taken = alerts
        .create_alert_rule(create("web-down", failures_rule(""), ""))
        .await;
    assert_error(taken, Code::AlreadyExists, "ALERT_RULE_EXISTS");
    let nowhere = alerts
        .create_alert_rule(create(
            "x",
            failures_rule("projects/acme/connections/nope"),
            "",
        ))
        .await;
    assert_error(nowhere, Code::InvalidArgument, "INVALID_ARGUMENT");
    let denied = app
        .alerts(Some(&viewer))
        .create_alert_rule(create("v", failures_rule(""), ""))
        .await;
    assert_error(denied, Code::PermissionDenied, "ROLE_INSUFFICIENT");
    let outsider = app.token("outsider", &[("other", Role::Owner)]);
    let hidden = app
        .alerts(Some(&outsider))
        .get_alert_rule(GetAlertRuleRequest {
            name: created.name.clone(),
        })
        .await;
    assert_error(hidden, Code::PermissionDenied, "PROJECT_ACCESS_DENIED");
    let read = app
        .alerts(Some(&viewer))
        .get_alert_rule(GetAlertRuleRequest {
            name: created.name.clone(),
        })
        .await
        .expect("viewers read")
        .into_inner();
    assert_eq!(read, created);

    // Change the condition and the hysteresis; the rest stays.
    let patch = AlertRule {
        name: created.name.clone(),
        etag: created.etag.clone(),
        severity: AlertSeverity::Warning.into(),
        condition: Some(Condition::ErrorRate(ErrorRateCondition {
            above_percent: 10.0,
            window: Some(Duration {
                seconds: 600,
                nanos: 0,
            }),
            min_samples: 10,
        })),
        resolution: Some(AlertResolution {
            healthy_observations: 5,
            quiet_period: Some(Duration {
                seconds: 300,
                nanos: 0,
            }),
        }),
        ..Default::default()
    };
    let mask = |paths: &[&str]| {
        Some(FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    };
    let updated = alerts
        .update_alert_rule(UpdateAlertRuleRequest {
            alert_rule: Some(patch.clone()),
            update_mask: mask(&["severity", "condition", "resolution"]),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.severity(), AlertSeverity::Warning);
    assert_eq!(updated.display_name, created.display_name);
    assert_eq!(updated.scope, "projects/acme/connections/web");
    assert_ne!(updated.etag, created.etag);
    let stale = alerts
        .update_alert_rule(UpdateAlertRuleRequest {
            alert_rule: Some(patch),
            update_mask: mask(&["severity"]),
        })
        .await;
    assert_eq!(stale.map(|_| ()).map_err(|s| s.code()), Err(Code::Aborted));
    alerts
        .delete_alert_rule(DeleteAlertRuleRequest {
            name: created.name.clone(),
            etag: updated.etag.clone(),
        })
        .await
        .expect("delete");
    let gone = alerts
        .get_alert_rule(GetAlertRuleRequest {
            name: created.name.clone(),
        })
        .await;
    assert_eq!(gone.map(|_| ()).map_err(|s| s.code()), Err(Code::NotFound));

    // Three audited changes to the rule, with what each touched.
    let admin = app.token("admin", &[("acme", Role::Admin)]);
    let filter = format!("resource = \"{}\"", created.name);
    let audited = list_all(&app, &admin, "projects/acme", &filter, 50).await;
    let methods: Vec<&str> = audited.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "AlertService.DeleteAlertRule",
            "AlertService.UpdateAlertRule",
            "AlertService.CreateAlertRule",
        ]
    );
    let touched: Vec<&str> = audited[1]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(touched, ["severity", "condition", "resolution"]);

    // Someone edits the rule's entry in the database: verification says so.
    let seq: i64 = audited[1]
        .name
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a seq");
    tamper(
        &app,
        &format!("UPDATE audit_events SET changes = '[]' WHERE project = 'acme' AND seq = {seq}"),
    )
    .await;
    assert_eq!(
        verdict(&app, "projects/acme").await,
        broken(seq - 1, &audited[1].name, AuditChainBreak::Altered)
    );
}

#[tokio::test]
async fn a_status_rule_takes_a_level_or_a_reason_never_both() {
    let app = spawn_app().await;
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let mut alerts = app.alerts(Some(&editor));
    let with = |level: StatusLevel, reason: &str| CreateAlertRuleRequest {
        parent: "projects/acme".into(),
        alert_rule: Some(AlertRule {
            display_name: "Status".into(),
            severity: AlertSeverity::Info.into(),
            condition: Some(Condition::Status(StatusCondition {
                level: level.into(),
                reason: reason.into(),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    for (level, reason, ok) in [
        (StatusLevel::Error, "", true),
        (StatusLevel::Unspecified, "OAUTH_REVOKED", true),
        (StatusLevel::Error, "OAUTH_REVOKED", false),
        (StatusLevel::Unspecified, "", false),
        (StatusLevel::Connected, "", false),
        (StatusLevel::Unspecified, "lower case", false),
    ] {
        let answer = alerts.create_alert_rule(with(level, reason)).await;
        assert_eq!(answer.is_ok(), ok, "{level:?} {reason:?}: {answer:?}");
    }
}
