//! Notifications past the happy path: retried with backoff until the
//! receiver takes them or dead-lettered after the last attempt, a channel's
//! test sample, acknowledging an alert, and alerts resolved by a deleted
//! rule or a quiet period.

use std::time::Duration;

use patchbay::{
    alerts::delivery::AlertConfig,
    auth::Role,
    proto::v1::{
        AcknowledgeAlertRequest, AlertResolution, AlertRule, AlertSeverity, AlertState,
        ConsecutiveFailuresCondition, CreateAlertRuleRequest, DeleteAlertRuleRequest,
        GetAlertRequest, NotificationState, StatusLevel, TestNotificationChannelRequest,
        alert_rule::Condition,
    },
    secret::Secret,
};
use tonic::Code;

use crate::{
    alerts::{
        alerts, hook_channel, notifications, notify, state, unbroken_status, wait_for_alerts,
    },
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, assert_error, spawn_app_with},
    notification_channels::{create_channel, email},
    receivers::{SmtpSink, WebhookReceiver},
    status::{active_github, fresh_repo, level, wait_for},
};

async fn app_with(fake: &FakeProvider, alerts: AlertConfig) -> TestApp {
    let app = spawn_app_with(TestOptions {
        status: unbroken_status(fake),
        alerts,
        ..TestOptions::default()
    })
    .await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    app
}

fn editor(app: &TestApp) -> String {
    app.token("editor", &[("acme", Role::Editor)])
}

/// Makes the default critical rule fire: the provider fails from now on.
async fn fire(app: &TestApp, fake: &FakeProvider) -> patchbay::proto::v1::Alert {
    fake.set("/repos/acme/web", Reply::status(503));
    let firing = wait_for_alerts(app, "consecutive-failures", "fired", |a| !a.is_empty()).await;
    firing[0].clone()
}

/// Waits (20 s at most) until `channel`'s newest notification is settled.
async fn settled(app: &TestApp, channel: &str) -> patchbay::proto::v1::Notification {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sent = notifications(app, channel).await;
        if let Some(n) = sent.first()
            && n.state != i32::from(NotificationState::Pending)
        {
            return n.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{channel}: never settled: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn notifications_are_retried_with_backoff_then_dead_lettered() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = app_with(
        &fake,
        AlertConfig {
            attempts: 3,
            ..TestOptions::default().alerts
        },
    )
    .await;
    // One receiver fails twice, then takes it; the other always fails.
    let (patient, broken) = (
        WebhookReceiver::start().await,
        WebhookReceiver::start().await,
    );
    patient.answer(&[500, 503]);
    broken.answer(&[500; 10]);
    let patient_hook = hook_channel(&app, "patient", &patient).await;
    let broken_hook = hook_channel(&app, "broken", &broken).await;
    notify(&app, "consecutive-failures", &[&patient_hook, &broken_hook]).await;
    fire(&app, &fake).await;

    let delivered = settled(&app, &patient_hook).await;
    assert_eq!(delivered.state, i32::from(NotificationState::Delivered));
    let codes: Vec<(bool, i32)> = delivered
        .attempts
        .iter()
        .map(|a| (a.ok, a.status_code))
        .collect();
    assert_eq!(codes, [(false, 500), (false, 503), (true, 204)]);
    assert_eq!(delivered.attempts[0].error, "the endpoint answered 500");
    let time = |i: usize| {
        let t = delivered.attempts[i].time.expect("a time");
        chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            .expect("a time")
    };
    // The 200 ms base doubles, with jitter down to half: at least 100 ms,
    // then 200 ms, between the attempts.
    assert!(time(1) - time(0) >= chrono::Duration::milliseconds(100));
    assert!(time(2) - time(1) >= chrono::Duration::milliseconds(200));
    let ids: Vec<String> = patient.received().iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one webhook-id across retries, for the receiver to dedupe on: {ids:?}"
    );
    assert!(patient.received().iter().all(|r| r.verified));

    let dead = settled(&app, &broken_hook).await;
    assert_eq!(dead.state, i32::from(NotificationState::DeadLetter));
    assert_eq!(dead.attempts.len(), 3, "the last attempt was the third");
    assert!(dead.attempts.iter().all(|a| !a.ok && a.status_code == 500));
    assert_eq!(broken.received().len(), 3);
}

#[tokio::test]
async fn a_channel_test_sends_a_signed_sample_and_reports_how_it_went() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let smtp = SmtpSink::start().await;
    let app = app_with(
        &fake,
        AlertConfig {
            smtp_url: Some(Secret::new(smtp.url())),
            ..TestOptions::default().alerts
        },
    )
    .await;
    let receiver = WebhookReceiver::start().await;
    let hook = hook_channel(&app, "hook", &receiver).await;
    let mail = create_channel(&app, "mail", email(&["ops@example.com"]))
        .await
        .expect("an email channel")
        .name;
    let test = |name: &str, token: &str| {
        let mut client = app.alerts(Some(token));
        let name = name.to_owned();
        async move {
            client
                .test_notification_channel(TestNotificationChannelRequest { name })
                .await
                .map(|r| r.into_inner().notification.expect("the notification"))
        }
    };
    let editor = editor(&app);

    let sent = test(&hook, &editor).await.expect("a test");
    assert_eq!(sent.event_type, "alert.test");
    assert_eq!(sent.state, i32::from(NotificationState::Delivered));
    assert_eq!(sent.attempts.len(), 1);
    assert_eq!(sent.attempts[0].status_code, 204);
    let got = receiver.of_type("alert.test");
    assert_eq!(got.len(), 1);
    assert!(got[0].verified, "signed with the channel's secret");
    assert_eq!(got[0].body["data"]["channel"], hook);
    assert!(
        sent.name.ends_with(&got[0].id),
        "{} {}",
        sent.name,
        got[0].id
    );

    // A test that fails says why, and is not retried.
    receiver.answer(&[502]);
    let failed = test(&hook, &editor).await.expect("a test");
    assert_eq!(failed.state, i32::from(NotificationState::DeadLetter));
    assert_eq!(failed.attempts[0].error, "the endpoint answered 502");
    assert_eq!(notifications(&app, &hook).await.len(), 2, "both listed");

    let mailed = test(&mail, &editor).await.expect("a test");
    assert_eq!(mailed.state, i32::from(NotificationState::Delivered));
    assert_eq!(mailed.attempts[0].status_code, 250);
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].subject(), "[Patchbay] Test notification");
    assert_eq!(mails[0].to, ["ops@example.com"]);
    assert!(mails[0].from.starts_with("alerts@"), "{}", mails[0].from);

    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    assert_error(
        test(&hook, &viewer).await,
        Code::PermissionDenied,
        "ROLE_INSUFFICIENT",
    );
    let stranger = app.token("stranger", &[("other", Role::Owner)]);
    assert_error(
        test(&hook, &stranger).await,
        Code::PermissionDenied,
        "PROJECT_ACCESS_DENIED",
    );
}

#[tokio::test]
async fn an_email_channel_without_an_smtp_server_says_so() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = app_with(&fake, TestOptions::default().alerts).await;
    let mail = create_channel(&app, "mail", email(&["ops@example.com"]))
        .await
        .expect("an email channel")
        .name;
    let sent = app
        .alerts(Some(&editor(&app)))
        .test_notification_channel(TestNotificationChannelRequest { name: mail })
        .await
        .expect("a test")
        .into_inner()
        .notification
        .expect("the notification");
    assert_eq!(sent.state, i32::from(NotificationState::DeadLetter));
    assert_eq!(
        sent.attempts[0].error,
        "no SMTP server is configured (--smtp-url)"
    );
}

#[tokio::test]
async fn acknowledging_keeps_an_alert_firing_and_records_who_first() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = app_with(&fake, TestOptions::default().alerts).await;
    let alert = fire(&app, &fake).await;
    let ack = |token: &str, etag: &str| {
        let mut client = app.alerts(Some(token));
        let (name, etag) = (alert.name.clone(), etag.to_owned());
        async move {
            client
                .acknowledge_alert(AcknowledgeAlertRequest { name, etag })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    assert_error(
        ack(&viewer, "").await,
        Code::PermissionDenied,
        "ROLE_INSUFFICIENT",
    );
    assert_error(
        ack(&editor(&app), "stale").await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    let acked = ack(&editor(&app), "").await.expect("acknowledge");
    assert_eq!(acked.acknowledged_by, "editor");
    assert_eq!(state(&acked), AlertState::Firing, "still firing");
    let first = acked.acknowledge_time;
    assert!(first.is_some());
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let again = ack(&owner, "").await.expect("acknowledge again");
    assert_eq!(again.acknowledged_by, "editor", "the first one is kept");
    assert_eq!(again.acknowledge_time, first);
    let read = app
        .alerts(Some(&viewer))
        .get_alert(GetAlertRequest {
            name: alert.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(read.acknowledged_by, "editor");
    let stranger = app.token("stranger", &[("other", Role::Owner)]);
    assert_error(
        app.alerts(Some(&stranger))
            .get_alert(GetAlertRequest {
                name: alert.name.clone(),
            })
            .await,
        Code::PermissionDenied,
        "PROJECT_ACCESS_DENIED",
    );
    assert_error(
        app.alerts(Some(&viewer))
            .get_alert(GetAlertRequest {
                name: "projects/acme/alerts/nope".into(),
            })
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn deleting_a_rule_resolves_its_alerts_and_says_so() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = app_with(&fake, TestOptions::default().alerts).await;
    let receiver = WebhookReceiver::start().await;
    let hook = hook_channel(&app, "hook", &receiver).await;
    notify(&app, "consecutive-failures", &[&hook]).await;
    fire(&app, &fake).await;
    receiver.wait_for("alert.fired", 1).await;
    app.alerts(Some(&editor(&app)))
        .delete_alert_rule(DeleteAlertRuleRequest {
            name: "projects/acme/alertRules/consecutive-failures".into(),
            etag: String::new(),
        })
        .await
        .expect("delete the rule");
    let resolved = receiver.wait_for("alert.resolved", 1).await;
    assert_eq!(
        resolved[0].body["data"]["alert"]["resolveReason"],
        "RULE_DELETED"
    );
    let all = alerts(&app, "consecutive-failures").await;
    assert_eq!(all.len(), 1);
    assert_eq!(state(&all[0]), AlertState::Resolved);
    // The provider keeps failing; no rule watches it any more.
    fake.hit_again("/repos/acme/web", 5).await;
    assert_eq!(alerts(&app, "consecutive-failures").await.len(), 1);
}

#[tokio::test]
async fn a_quiet_period_resolves_an_alert_before_its_healthy_count() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = app_with(&fake, TestOptions::default().alerts).await;
    app.alerts(Some(&editor(&app)))
        .create_alert_rule(CreateAlertRuleRequest {
            parent: "projects/acme".into(),
            alert_rule_id: "patient".into(),
            alert_rule: Some(AlertRule {
                display_name: "Patient".into(),
                severity: AlertSeverity::Warning.into(),
                condition: Some(Condition::ConsecutiveFailures(
                    ConsecutiveFailuresCondition { more_than: 1 },
                )),
                resolution: Some(AlertResolution {
                    healthy_observations: 100,
                    quiet_period: Some(prost_types::Duration {
                        seconds: 1,
                        nanos: 0,
                    }),
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("a rule");
    fake.set("/repos/acme/web", Reply::status(503));
    wait_for_alerts(&app, "patient", "fired", |a| !a.is_empty()).await;
    fresh_repo(&fake, "acme", "web", 1);
    let resolved = wait_for_alerts(&app, "patient", "resolved", |a| {
        a.first().is_some_and(|a| state(a) == AlertState::Resolved)
    })
    .await;
    assert_eq!(resolved[0].resolve_reason, "QUIET_PERIOD");
    assert!(
        resolved[0].observations < 100,
        "resolved by time, not by count"
    );
}
