//! Notification channels: a webhook channel's secret shown once, endpoints
//! on private addresses refused unless allowed, email recipients checked,
//! and a channel in use kept from deletion.

use patchbay::{
    alerts::delivery::AlertConfig,
    auth::Role,
    proto::v1::{
        CreateNotificationChannelRequest, DeleteNotificationChannelRequest, EmailChannel,
        GetNotificationChannelRequest, ListNotificationChannelsRequest, NotificationChannel,
        UpdateAlertRuleRequest, UpdateNotificationChannelRequest, WebhookChannel,
        notification_channel::Kind,
    },
};
use prost_types::FieldMask;
use tonic::Code;

use crate::{
    audit_reads::list_all,
    helpers::{TestApp, TestOptions, assert_error, reason, spawn_app, spawn_app_with, violations},
};

pub fn webhook(uri: &str) -> NotificationChannel {
    NotificationChannel {
        display_name: "On-call hook".into(),
        kind: Some(Kind::Webhook(WebhookChannel {
            uri: uri.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

pub fn email(to: &[&str]) -> NotificationChannel {
    NotificationChannel {
        display_name: "On-call mail".into(),
        kind: Some(Kind::Email(EmailChannel {
            to: to.iter().map(|a| (*a).to_owned()).collect(),
        })),
        ..Default::default()
    }
}

/// Creates `id` in acme as an editor.
pub async fn create_channel(
    app: &TestApp,
    id: &str,
    channel: NotificationChannel,
) -> Result<NotificationChannel, tonic::Status> {
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.alerts(Some(&editor))
        .create_notification_channel(CreateNotificationChannelRequest {
            parent: "projects/acme".into(),
            notification_channel_id: id.into(),
            notification_channel: Some(channel),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

fn secret_of(c: &NotificationChannel) -> (&str, &str) {
    match &c.kind {
        Some(Kind::Webhook(w)) => (
            w.signing_secret.as_str(),
            w.signing_secret_fingerprint.as_str(),
        ),
        other => panic!("a webhook channel: {other:?}"),
    }
}

#[tokio::test]
async fn a_webhook_channels_secret_is_shown_once_and_never_logged_or_audited() {
    let app = spawn_app().await;
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let mut alerts = app.alerts(Some(&editor));
    let request = CreateNotificationChannelRequest {
        parent: "projects/acme".into(),
        notification_channel_id: "hook".into(),
        notification_channel: Some(webhook("http://127.0.0.1:9/hook")),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let created = alerts
        .create_notification_channel(request.clone())
        .await
        .expect("create")
        .into_inner();
    let (secret, fingerprint) = secret_of(&created);
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(fingerprint.len(), 16);
    let replayed = alerts
        .create_notification_channel(request)
        .await
        .expect("a replay")
        .into_inner();
    assert_eq!(
        secret_of(&replayed),
        ("", fingerprint),
        "a replay shows no secret"
    );
    let read = alerts
        .get_notification_channel(GetNotificationChannelRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(secret_of(&read), ("", fingerprint));
    let listed = alerts
        .list_notification_channels(ListNotificationChannelsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.notification_channels, std::slice::from_ref(&read));

    // The endpoint moves; the kind may not change.
    let moved = alerts
        .update_notification_channel(UpdateNotificationChannelRequest {
            notification_channel: Some(NotificationChannel {
                name: created.name.clone(),
                ..webhook("http://127.0.0.1:10/new")
            }),
            update_mask: Some(FieldMask {
                paths: vec!["webhook.uri".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert!(matches!(&moved.kind, Some(Kind::Webhook(w)) if w.uri == "http://127.0.0.1:10/new"));
    assert_eq!(moved.display_name, "On-call hook");
    let to_email = alerts
        .update_notification_channel(UpdateNotificationChannelRequest {
            notification_channel: Some(NotificationChannel {
                name: created.name.clone(),
                ..email(&["ops@example.com"])
            }),
            update_mask: None,
        })
        .await;
    assert_error(to_email, Code::InvalidArgument, "INVALID_ARGUMENT");

    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let denied = app
        .alerts(Some(&viewer))
        .delete_notification_channel(DeleteNotificationChannelRequest {
            name: created.name.clone(),
            etag: String::new(),
        })
        .await;
    assert_error(denied, Code::PermissionDenied, "ROLE_INSUFFICIENT");

    let admin = app.token("admin", &[("acme", Role::Admin)]);
    let audited = list_all(&app, &admin, "projects/acme", "", 50).await;
    let methods: Vec<&str> = audited.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "AlertService.UpdateNotificationChannel",
            "AlertService.CreateNotificationChannel",
        ]
    );
    assert!(
        audited[1]
            .changes
            .iter()
            .any(|c| c.field == "signing_secret_fingerprint" && c.after == fingerprint)
    );
    let whole: String = app
        .db()
        .await
        .query_one(
            "SELECT string_agg(row_to_json(a)::text, ' ') FROM audit_events a",
            &[],
        )
        .await
        .expect("the log as text")
        .get(0);
    assert!(
        !whole.contains(secret),
        "the signing secret reached the audit log"
    );
    let stored: String = app
        .db()
        .await
        .query_one(
            "SELECT row_to_json(c)::text FROM notification_channels c",
            &[],
        )
        .await
        .expect("the row")
        .get(0);
    assert!(
        !stored.contains(&secret[6..]),
        "stored sealed, never in the clear"
    );
}

#[tokio::test]
async fn endpoints_on_private_addresses_are_refused_unless_the_server_allows_them() {
    let app = spawn_app_with(TestOptions {
        alerts: AlertConfig {
            allow_private_outbound: false,
            ..TestOptions::default().alerts
        },
        ..TestOptions::default()
    })
    .await;
    for uri in [
        "http://127.0.0.1:8080/hook",
        "https://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://localhost/",
        "http://2130706433/",
    ] {
        let refused = create_channel(&app, "hook", webhook(uri)).await;
        let status = refused.expect_err(uri);
        assert_eq!(status.code(), Code::InvalidArgument, "{uri}");
        assert_eq!(
            violations(&status),
            ["notification_channel.webhook.uri"],
            "{uri}"
        );
    }
    let public = create_channel(&app, "hook", webhook("https://hooks.example.com/p"))
        .await
        .expect("a public endpoint");
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let inward = app
        .alerts(Some(&editor))
        .update_notification_channel(UpdateNotificationChannelRequest {
            notification_channel: Some(NotificationChannel {
                name: public.name,
                ..webhook("http://192.168.0.10/")
            }),
            update_mask: Some(FieldMask {
                paths: vec!["webhook.uri".into()],
            }),
        })
        .await;
    assert_error(inward, Code::InvalidArgument, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn email_channels_take_one_to_ten_distinct_addresses() {
    let app = spawn_app().await;
    let created = create_channel(&app, "mail", email(&["ops@example.com", "Dev@Example.org"]))
        .await
        .expect("create");
    assert!(matches!(&created.kind, Some(Kind::Email(e)) if e.to.len() == 2));
    let eleven: Vec<String> = (0..11).map(|i| format!("a{i}@example.com")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    for to in [
        vec![],
        vec!["not-an-address"],
        vec!["a@b"],
        vec!["@example.com"],
        vec!["a@@example.com"],
        vec!["a b@example.com"],
        vec!["ops@example.com", "OPS@example.com"],
        vec!["ops@example.com\r\nBcc: x@evil.com"],
        eleven,
    ] {
        let refused = create_channel(&app, "other", email(&to)).await;
        assert!(refused.is_err(), "{to:?}");
    }
}

#[tokio::test]
async fn a_channel_a_rule_names_cannot_be_deleted_until_the_rule_lets_go() {
    let app = spawn_app().await;
    let channel = create_channel(&app, "oncall", email(&["ops@example.com"]))
        .await
        .expect("create");
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let mut alerts = app.alerts(Some(&editor));
    let rule = crate::alert_rules::create_rule(&app, "paged", &[&channel.name]).await;
    let missing = crate::alert_rules::try_create_rule(
        &app,
        "dangling",
        &["projects/acme/notificationChannels/nope"],
    )
    .await;
    assert_eq!(
        missing.map(|_| ()).map_err(|s| violations(&s)),
        Err(vec!["alert_rule.channels[0]".to_owned()])
    );
    let delete = || DeleteNotificationChannelRequest {
        name: channel.name.clone(),
        etag: String::new(),
    };
    let in_use = alerts.delete_notification_channel(delete()).await;
    let status = in_use.expect_err("in use");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "CHANNEL_IN_USE");
    alerts
        .update_alert_rule(UpdateAlertRuleRequest {
            alert_rule: Some(patchbay::proto::v1::AlertRule {
                name: rule.name,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["channels".into()],
            }),
        })
        .await
        .expect("the rule lets go");
    alerts
        .delete_notification_channel(delete())
        .await
        .expect("now it goes");
}
