//! Malformed requests on AlertService's rules and channels (see
//! `malformed_requests`).

use patchbay::proto::v1::{
    AlertResolution, AlertRule, AlertSeverity, ConsecutiveFailuresCondition,
    CreateAlertRuleRequest, CreateNotificationChannelRequest, DeadLettersCondition,
    DeleteAlertRuleRequest, DeleteNotificationChannelRequest, EmailChannel, ErrorRateCondition,
    GetAlertRuleRequest, GetNotificationChannelRequest, ListAlertRulesRequest,
    ListNotificationChannelsRequest, NotificationChannel, RateLimitCondition,
    UpdateAlertRuleRequest, UpdateNotificationChannelRequest, WebhookChannel,
    alert_rule::Condition, notification_channel::Kind,
};
use prost_types::{Duration, FieldMask};

use crate::{
    case,
    helpers::{TestApp, spawn_app},
    malformed_requests::{Case, assert_all_invalid, bad_names, bad_projects, root},
};

fn valid() -> AlertRule {
    AlertRule {
        display_name: "Failing".into(),
        severity: AlertSeverity::Critical.into(),
        condition: Some(Condition::ConsecutiveFailures(
            ConsecutiveFailuresCondition { more_than: 3 },
        )),
        ..Default::default()
    }
}

fn error_rate(above_percent: f64, seconds: i64, min_samples: i32) -> Option<Condition> {
    Some(Condition::ErrorRate(ErrorRateCondition {
        above_percent,
        window: Some(Duration { seconds, nanos: 0 }),
        min_samples,
    }))
}

fn rule_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let a = || app.alerts(Some(token));
    let mut cases = Vec::new();
    for name in bad_names("alertRules") {
        cases.push(case!(
            "GetAlertRule",
            name,
            a(),
            get_alert_rule,
            GetAlertRuleRequest { name: name.clone() }
        ));
        cases.push(case!(
            "DeleteAlertRule",
            name,
            a(),
            delete_alert_rule,
            DeleteAlertRuleRequest {
                name: name.clone(),
                etag: String::new()
            }
        ));
        cases.push(case!(
            "UpdateAlertRule",
            name,
            a(),
            update_alert_rule,
            UpdateAlertRuleRequest {
                alert_rule: Some(AlertRule {
                    name: name.clone(),
                    ..valid()
                }),
                update_mask: None
            }
        ));
    }
    for parent in bad_projects() {
        cases.push(case!(
            "ListAlertRules",
            parent,
            a(),
            list_alert_rules,
            ListAlertRulesRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "CreateAlertRule",
            parent,
            a(),
            create_alert_rule,
            CreateAlertRuleRequest {
                parent: parent.clone(),
                alert_rule: Some(valid()),
                ..Default::default()
            }
        ));
    }
    let create = |what: &str, edit: &dyn Fn(&mut CreateAlertRuleRequest)| {
        let mut request = CreateAlertRuleRequest {
            parent: "projects/acme".into(),
            alert_rule: Some(valid()),
            ..Default::default()
        };
        edit(&mut request);
        case!("CreateAlertRule", what, a(), create_alert_rule, request)
    };
    let rule = |what: &str, edit: &dyn Fn(&mut AlertRule)| {
        create(what, &|q| {
            if let Some(r) = q.alert_rule.as_mut() {
                edit(r);
            }
        })
    };
    cases.push(create("no rule", &|q| q.alert_rule = None));
    cases.push(create("bad id", &|q| q.alert_rule_id = "Bad_Id".into()));
    cases.push(create("huge id", &|q| {
        q.alert_rule_id = "a".repeat(100_000)
    }));
    cases.push(create("bad request id", &|q| {
        q.request_id = "not-a-uuid".into()
    }));
    cases.push(rule("no display name", &|r| r.display_name.clear()));
    cases.push(rule("huge display name", &|r| {
        r.display_name = "d".repeat(100_000)
    }));
    cases.push(rule("no severity", &|r| r.severity = 0));
    cases.push(rule("unknown severity", &|r| r.severity = 99));
    cases.push(rule("no condition", &|r| r.condition = None));
    cases.push(rule("zero failures", &|r| {
        r.condition = Some(Condition::ConsecutiveFailures(
            ConsecutiveFailuresCondition { more_than: 0 },
        ))
    }));
    cases.push(rule("rate of 100%", &|r| {
        r.condition = error_rate(100.0, 600, 10)
    }));
    cases.push(rule("rate NaN", &|r| {
        r.condition = error_rate(f64::NAN, 600, 10)
    }));
    cases.push(rule("window of a second", &|r| {
        r.condition = error_rate(5.0, 1, 10)
    }));
    cases.push(rule("window of a year", &|r| {
        r.condition = error_rate(5.0, 365 * 86_400, 10)
    }));
    cases.push(rule("one sample", &|r| {
        r.condition = error_rate(5.0, 600, 1)
    }));
    cases.push(rule("no window", &|r| {
        r.condition = Some(Condition::ErrorRate(ErrorRateCondition {
            above_percent: 5.0,
            window: None,
            min_samples: 10,
        }))
    }));
    cases.push(rule("rate limit of 0", &|r| {
        r.condition = Some(Condition::RateLimit(RateLimitCondition { below: 0 }))
    }));
    cases.push(rule("negative dead letters", &|r| {
        r.condition = Some(Condition::DeadLetters(DeadLettersCondition {
            more_than: -1,
        }))
    }));
    cases.push(rule("negative held runs", &|r| {
        r.condition = Some(Condition::HeldRuns(
            patchbay::proto::v1::HeldRunsCondition { more_than: -1 },
        ))
    }));
    cases.push(rule("101 healthy observations", &|r| {
        r.resolution = Some(AlertResolution {
            healthy_observations: 101,
            quiet_period: None,
        })
    }));
    cases.push(rule("negative quiet period", &|r| {
        r.resolution = Some(AlertResolution {
            healthy_observations: 0,
            quiet_period: Some(Duration {
                seconds: -5,
                nanos: 0,
            }),
        })
    }));
    cases.push(rule("another project's connection", &|r| {
        r.scope = "projects/other/connections/web".into()
    }));
    cases.push(rule("a bad scope", &|r| r.scope = "everything".into()));
    cases.push(rule("a bad type scope", &|r| {
        r.scope = "integrationTypes/Bad!".into()
    }));
    cases.push(rule("another project's channel", &|r| {
        r.channels = vec!["projects/other/notificationChannels/c".into()]
    }));
    cases.push(rule("a channel twice", &|r| {
        r.channels = vec![
            "projects/acme/notificationChannels/c".into(),
            "projects/acme/notificationChannels/c".into(),
        ]
    }));
    cases.push(rule("eleven channels", &|r| {
        r.channels = (0..11)
            .map(|i| format!("projects/acme/notificationChannels/c{i}"))
            .collect()
    }));
    cases.push(case!(
        "UpdateAlertRule",
        "unknown mask path",
        a(),
        update_alert_rule,
        UpdateAlertRuleRequest {
            alert_rule: Some(AlertRule {
                name: "projects/acme/alertRules/consecutive-failures".into(),
                ..valid()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["default_rule".into()],
            }),
        }
    ));
    cases.push(case!(
        "ListAlertRules",
        "negative page size",
        a(),
        list_alert_rules,
        ListAlertRulesRequest {
            parent: "projects/acme".into(),
            page_size: -1,
            ..Default::default()
        }
    ));
    cases
}

fn channel_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let a = || app.alerts(Some(token));
    let hook = |uri: &str| NotificationChannel {
        display_name: "Hook".into(),
        kind: Some(Kind::Webhook(WebhookChannel {
            uri: uri.into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut cases = Vec::new();
    for name in bad_names("notificationChannels") {
        cases.push(case!(
            "GetNotificationChannel",
            name,
            a(),
            get_notification_channel,
            GetNotificationChannelRequest { name: name.clone() }
        ));
        cases.push(case!(
            "DeleteNotificationChannel",
            name,
            a(),
            delete_notification_channel,
            DeleteNotificationChannelRequest {
                name: name.clone(),
                etag: String::new()
            }
        ));
        cases.push(case!(
            "UpdateNotificationChannel",
            name,
            a(),
            update_notification_channel,
            UpdateNotificationChannelRequest {
                notification_channel: Some(NotificationChannel {
                    name: name.clone(),
                    ..hook("https://example.com/")
                }),
                update_mask: None
            }
        ));
    }
    for parent in bad_projects() {
        cases.push(case!(
            "ListNotificationChannels",
            parent,
            a(),
            list_notification_channels,
            ListNotificationChannelsRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "CreateNotificationChannel",
            parent,
            a(),
            create_notification_channel,
            CreateNotificationChannelRequest {
                parent: parent.clone(),
                notification_channel: Some(hook("https://example.com/")),
                ..Default::default()
            }
        ));
    }
    let create = |what: &str, channel: Option<NotificationChannel>| {
        case!(
            "CreateNotificationChannel",
            what,
            a(),
            create_notification_channel,
            CreateNotificationChannelRequest {
                parent: "projects/acme".into(),
                notification_channel: channel,
                ..Default::default()
            }
        )
    };
    cases.push(create("no channel", None));
    cases.push(create(
        "no kind",
        Some(NotificationChannel {
            display_name: "x".into(),
            ..Default::default()
        }),
    ));
    cases.push(create(
        "huge display name",
        Some(NotificationChannel {
            display_name: "d".repeat(100_000),
            ..hook("https://example.com/")
        }),
    ));
    let huge_uri = format!("https://example.com/{}", "p".repeat(100_000));
    for uri in [
        "",
        "not a url",
        "ftp://example.com/",
        "https://u:p@example.com/",
        huge_uri.as_str(),
    ] {
        cases.push(create(uri, Some(hook(uri))));
    }
    let mail = |to: Vec<String>| NotificationChannel {
        display_name: "Mail".into(),
        kind: Some(Kind::Email(EmailChannel { to })),
        ..Default::default()
    };
    cases.push(create("no recipients", Some(mail(vec![]))));
    cases.push(create(
        "huge address",
        Some(mail(vec![format!("{}@example.com", "a".repeat(100_000))])),
    ));
    cases.push(case!(
        "UpdateNotificationChannel",
        "unknown mask path",
        a(),
        update_notification_channel,
        UpdateNotificationChannelRequest {
            notification_channel: Some(NotificationChannel {
                name: "projects/acme/notificationChannels/c".into(),
                ..hook("https://example.com/")
            }),
            update_mask: Some(FieldMask {
                paths: vec!["webhook.signing_secret".into()],
            }),
        }
    ));
    cases
}

#[tokio::test]
async fn malformed_notification_channel_requests_are_invalid_argument() {
    let app = spawn_app().await;
    let token = root(&app);
    let cases = channel_cases(&app, &token);
    assert_all_invalid(&app, cases).await;
}

#[tokio::test]
async fn malformed_alert_rule_requests_are_invalid_argument() {
    let app = spawn_app().await;
    let token = root(&app);
    let cases = rule_cases(&app, &token);
    assert_all_invalid(&app, cases).await;
}
