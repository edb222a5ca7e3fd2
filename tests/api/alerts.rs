//! Alerts end to end: fake providers fail and recover, rules fire and
//! resolve once each, and notifications reach a webhook receiver that
//! verifies them with the Standard Webhooks library and an SMTP sink.

use std::time::Duration;

use patchbay::{
    alerts::delivery::AlertConfig,
    app::StatusConfig,
    auth::Role,
    proto::v1::{
        Alert, AlertRule, AlertSeverity, AlertState, CreateAlertRuleRequest, ErrorRateCondition,
        ListAlertsRequest, ListNotificationsRequest, Notification, NotificationState,
        UpdateAlertRuleRequest, alert_rule::Condition, notification_channel::Kind,
        status_update::Event,
    },
    secret::Secret,
    status::{circuit::ProbePolicy, prober::ProberConfig},
};
use prost_types::FieldMask;
use serde_json::json;

use crate::{
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, spawn_app_with},
    notification_channels::{create_channel, email, webhook},
    receivers::{SmtpSink, WebhookReceiver},
    status::{active_github, fast_status, fresh_repo, level, wait_for},
    watch::{next_event, watch, watch_request},
};

/// Probes every 80-120 ms with no circuit breaker in the way, so failures
/// reach the rules one probe at a time.
pub fn unbroken_status(fake: &FakeProvider) -> StatusConfig {
    let fast = fast_status(fake);
    StatusConfig {
        prober: ProberConfig {
            policy: ProbePolicy {
                failure_threshold: 1000,
                ..fast.prober.policy
            },
            ..fast.prober
        },
        ..fast
    }
}

pub async fn alerting_app(fake: &FakeProvider, smtp: Option<&SmtpSink>) -> TestApp {
    spawn_app_with(TestOptions {
        status: unbroken_status(fake),
        alerts: AlertConfig {
            smtp_url: smtp.map(|s| Secret::new(s.url())),
            ..TestOptions::default().alerts
        },
        ..TestOptions::default()
    })
    .await
}

fn editor(app: &TestApp) -> String {
    app.token("editor", &[("acme", Role::Editor)])
}

/// A webhook channel `id` aimed at `receiver`, which is told its secret.
pub async fn hook_channel(app: &TestApp, id: &str, receiver: &WebhookReceiver) -> String {
    let created = create_channel(app, id, webhook(&receiver.url()))
        .await
        .expect("a webhook channel");
    match &created.kind {
        Some(Kind::Webhook(w)) => receiver.trust(&w.signing_secret),
        other => panic!("a webhook channel: {other:?}"),
    }
    created.name
}

/// Points rule `id` of acme at `channels`.
pub async fn notify(app: &TestApp, id: &str, channels: &[&str]) -> AlertRule {
    app.alerts(Some(&editor(app)))
        .update_alert_rule(UpdateAlertRuleRequest {
            alert_rule: Some(AlertRule {
                name: format!("projects/acme/alertRules/{id}"),
                channels: channels.iter().map(|c| (*c).to_owned()).collect(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["channels".into()],
            }),
        })
        .await
        .expect("point the rule at the channels")
        .into_inner()
}

pub async fn alerts(app: &TestApp, rule: &str) -> Vec<Alert> {
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let mut found = app
        .alerts(Some(&viewer))
        .list_alerts(ListAlertsRequest {
            parent: "projects/acme".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("list alerts")
        .into_inner()
        .alerts;
    found.retain(|a| a.rule == format!("projects/acme/alertRules/{rule}"));
    found
}

/// Waits (20 s at most) for rule `rule`'s alerts to satisfy `done`.
pub async fn wait_for_alerts(
    app: &TestApp,
    rule: &str,
    what: &str,
    done: impl Fn(&[Alert]) -> bool,
) -> Vec<Alert> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = alerts(app, rule).await;
        if done(&found) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{rule}: never {what}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn state(alert: &Alert) -> AlertState {
    AlertState::try_from(alert.state).unwrap_or(AlertState::Unspecified)
}

pub async fn notifications(app: &TestApp, channel: &str) -> Vec<Notification> {
    app.alerts(Some(&editor(app)))
        .list_notifications(ListNotificationsRequest {
            parent: channel.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("list notifications")
        .into_inner()
        .notifications
}

fn failing(n: usize) -> Vec<Reply> {
    vec![Reply::status(503); n]
}

fn healthy_repo(n: usize) -> Vec<Reply> {
    let when = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let repo = json!({"default_branch": "main", "private": true, "pushed_at": when});
    vec![Reply::json(200, repo); n]
}

/// Waits until `fake` has answered its whole script for `path`, then
/// `more` requests past it: every scripted outcome has been observed.
async fn script_played(fake: &FakeProvider, path: &str, more: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.scripted(path) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path}: {} scripted replies left",
            fake.scripted(path)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.hit_again(path, more).await;
}

#[tokio::test]
async fn a_failing_provider_fires_one_alert_and_resolves_it_once_on_every_channel() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let (receiver, smtp) = (WebhookReceiver::start().await, SmtpSink::start().await);
    let app = alerting_app(&fake, Some(&smtp)).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == patchbay::proto::v1::StatusLevel::Connected
    })
    .await;
    let hook = hook_channel(&app, "hook", &receiver).await;
    let mail = create_channel(&app, "mail", email(&["oncall@example.com"]))
        .await
        .expect("an email channel")
        .name;
    // The default critical rule: more than 3 failures in a row.
    notify(&app, "consecutive-failures", &[&hook, &mail]).await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(30))).await;

    fake.set("/repos/acme/web", Reply::status(503));
    let fired = receiver.wait_for("alert.fired", 1).await;
    let alert = &fired[0].body["data"]["alert"];
    assert!(fired[0].verified, "signed with Standard Webhooks");
    assert_eq!(alert["severity"], "CRITICAL");
    assert_eq!(alert["state"], "FIRING");
    assert_eq!(alert["connection"], "projects/acme/connections/web");
    assert_eq!(alert["summary"], "4 failures in a row", "fired on the 4th");
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["oncall@example.com"]);
    assert!(
        mails[0]
            .data
            .contains("Firing: More than 3 failures in a row"),
        "{}",
        mails[0].data
    );

    fresh_repo(&fake, "acme", "web", 1);
    let resolved = receiver.wait_for("alert.resolved", 1).await;
    assert!(resolved[0].verified);
    assert_eq!(
        resolved[0].body["data"]["alert"]["resolveReason"],
        "HEALTHY_OBSERVATIONS"
    );
    let mails = smtp.wait_for(2).await;
    assert!(
        mails[1]
            .data
            .contains("Resolved: More than 3 failures in a row")
    );

    // Five more healthy probes, each evaluated against the rule: nothing
    // more is queued, and everything queued was delivered.
    fake.hit_again("/repos/acme/web", 5).await;
    for channel in [&hook, &mail] {
        let sent = notifications(&app, channel).await;
        let kinds: Vec<&str> = sent.iter().map(|n| n.event_type.as_str()).collect();
        assert_eq!(kinds, ["alert.resolved", "alert.fired"], "{channel}");
        for n in &sent {
            assert_eq!(n.state, i32::from(NotificationState::Delivered));
            assert_eq!(n.attempts.len(), 1);
        }
    }
    assert_eq!(receiver.received().len(), 2, "one fired, one resolved");
    assert!(receiver.received().iter().all(|r| r.verified));
    assert_eq!(smtp.mails().len(), 2);
    let ids: Vec<String> = notifications(&app, &hook)
        .await
        .iter()
        .map(|n| n.name.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, [resolved[0].id.clone(), fired[0].id.clone()]);

    let all = alerts(&app, "consecutive-failures").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(state(&all[0]), AlertState::Resolved);
    assert_eq!(all[0].dedupe_key, "consecutive-failures/web");

    // The watch saw the alert fire and resolve, as its own events.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let Some(Event::Alert(event)) = next_event(&mut stream).await.event {
            let alert = event.alert.expect("the alert");
            if alert.rule.ends_with("/consecutive-failures") {
                seen.push(state(&alert));
            }
        }
    }
    assert_eq!(seen, [AlertState::Firing, AlertState::Resolved]);
}

#[tokio::test]
async fn a_flapping_provider_fires_one_alert() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let receiver = WebhookReceiver::start().await;
    let app = alerting_app(&fake, None).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == patchbay::proto::v1::StatusLevel::Connected
    })
    .await;
    let hook = hook_channel(&app, "hook", &receiver).await;
    notify(&app, "consecutive-failures", &[&hook]).await;

    // Fails past the threshold, then flaps: twice past it again, and never
    // three healthy probes in a row, until it settles.
    let path = "/repos/acme/web";
    let mut script = failing(4);
    for _ in 0..2 {
        script.extend(healthy_repo(2));
        script.extend(failing(5));
    }
    for _ in 0..4 {
        script.extend(healthy_repo(1));
        script.extend(failing(1));
    }
    fake.script(path, script);
    let fired = receiver.wait_for("alert.fired", 1).await;
    script_played(&fake, path, 0).await;
    let still = alerts(&app, "consecutive-failures").await;
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(
        state(&still[0]),
        AlertState::Firing,
        "flapping is not healthy"
    );

    receiver.wait_for("alert.resolved", 1).await;
    fake.hit_again(path, 5).await;
    let sent = notifications(&app, &hook).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(receiver.of_type("alert.fired").len(), 1);
    assert_eq!(receiver.of_type("alert.resolved").len(), 1);
    assert_eq!(
        fired[0].body["data"]["alert"]["summary"],
        "4 failures in a row"
    );
    let all = alerts(&app, "consecutive-failures").await;
    assert_eq!(all.len(), 1, "one alert for the whole episode: {all:?}");
    assert!(
        all[0].observations >= 20,
        "every flap was one more observation of the same alert: {}",
        all[0].observations
    );
}

#[tokio::test]
async fn the_error_rate_rule_waits_for_its_minimum_sample() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    // The connection's first two probes fail, every later one succeeds.
    fake.script("/repos/acme/web", failing(2));
    let app = alerting_app(&fake, None).await;
    app.alerts(Some(&editor(&app)))
        .create_alert_rule(CreateAlertRuleRequest {
            parent: "projects/acme".into(),
            alert_rule_id: "errors".into(),
            alert_rule: Some(AlertRule {
                display_name: "Errors".into(),
                severity: AlertSeverity::Warning.into(),
                condition: Some(Condition::ErrorRate(ErrorRateCondition {
                    above_percent: 5.0,
                    window: Some(prost_types::Duration {
                        seconds: 60,
                        nanos: 0,
                    }),
                    min_samples: 10,
                })),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("an error-rate rule");
    active_github(&app, "web").await;

    // 2 of 2 failed, then 2 of 3, ... 2 of 9: far above 5%, but below the
    // minimum sample, so nothing fires until the 10th call.
    let fired = wait_for_alerts(&app, "errors", "fired", |a| !a.is_empty()).await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].summary, "20.0% of 10 calls failed in the last 1m");
    assert_eq!(fired[0].severity, i32::from(AlertSeverity::Warning));
    let db = app.db().await;
    let samples: i64 = db
        .query_one(
            "SELECT count(*) FROM health_samples WHERE connection = 'web' AND ok = false",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(samples, 2, "exactly the two scripted failures");
}

#[tokio::test]
async fn the_rate_limit_rule_fires_from_the_providers_headers_and_resolves() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = alerting_app(&fake, None).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == patchbay::proto::v1::StatusLevel::Connected
    })
    .await;
    let branch = |left: &str| {
        let when = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
        Reply::json(
            200,
            json!({"commit": {"commit": {"committer": {"date": when}}}}),
        )
        .header("x-ratelimit-remaining", left)
        .header("x-ratelimit-limit", "5000")
    };
    fake.set("/repos/acme/web/branches/main", branch("4999"));
    fake.hit_again("/repos/acme/web/branches/main", 2).await;
    assert!(alerts(&app, "rate-limit").await.is_empty(), "plenty left");

    // GitHub says 42 requests are left: the default info rule fires.
    fake.set("/repos/acme/web/branches/main", branch("42"));
    let fired = wait_for_alerts(&app, "rate-limit", "fired", |a| !a.is_empty()).await;
    assert_eq!(
        fired[0].summary,
        "the provider reports 42 requests left of its rate limit"
    );
    assert_eq!(fired[0].severity, i32::from(AlertSeverity::Info));
    assert_eq!(state(&fired[0]), AlertState::Firing);

    // The limit resets: three healthy observations resolve it.
    fake.set("/repos/acme/web/branches/main", branch("5000"));
    let resolved = wait_for_alerts(&app, "rate-limit", "resolved", |a| {
        a.first().is_some_and(|a| state(a) == AlertState::Resolved)
    })
    .await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].resolve_reason, "HEALTHY_OBSERVATIONS");
    // A rate-limit warning is not a failure: the connection never failed.
    assert!(alerts(&app, "consecutive-failures").await.is_empty());
}

#[tokio::test]
async fn rules_fire_without_waiting_for_the_event_log() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = alerting_app(&fake, None).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == patchbay::proto::v1::StatusLevel::Connected
    })
    .await;
    app.alerts(Some(&editor(&app)))
        .create_alert_rule(CreateAlertRuleRequest {
            parent: "projects/acme".into(),
            alert_rule_id: "many".into(),
            alert_rule: Some(AlertRule {
                display_name: "Many failures".into(),
                severity: AlertSeverity::Critical.into(),
                condition: Some(Condition::ConsecutiveFailures(
                    patchbay::proto::v1::ConsecutiveFailuresCondition { more_than: 30 },
                )),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("a rule");
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(30))).await;
    fake.set("/repos/acme/web", Reply::status(503));
    wait_for(&app, "web", "stale", |i| i.stale).await;

    // Another transaction holds the event log's lock (as a long webhook
    // batch or a state change would). Probes that change nothing keep
    // failing, and the rule still fires: evaluating it never waits for the
    // log, which is what kept it from deadlocking against event writers
    // that lock the connection's rows.
    let db = app.db().await;
    db.batch_execute(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({})",
        patchbay::store::status::EVENT_LOCK
    ))
    .await
    .expect("hold the event log's lock");
    assert!(
        alerts(&app, "many").await.is_empty(),
        "the rule had not fired when the lock was taken"
    );
    let fired = wait_for_alerts(&app, "many", "fired while the log is locked", |a| {
        !a.is_empty()
    })
    .await;
    assert_eq!(fired[0].summary, "31 failures in a row");
    db.batch_execute("COMMIT").await.expect("release the lock");

    // Released, the queued change reaches the watch stream.
    loop {
        if let Some(Event::Alert(event)) = next_event(&mut stream).await.event {
            let alert = event.alert.expect("the alert");
            if alert.rule.ends_with("/many") {
                assert_eq!(alert.name, fired[0].name);
                break;
            }
        }
    }
}
