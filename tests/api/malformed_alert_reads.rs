//! Malformed requests on AlertService's alerts and notifications (see
//! `malformed_requests`).

use patchbay::proto::v1::{
    AcknowledgeAlertRequest, GetAlertRequest, ListAlertsRequest, ListNotificationsRequest,
    TestNotificationChannelRequest,
};

use crate::{
    case,
    helpers::{TestApp, spawn_app},
    malformed_requests::{Case, assert_all_invalid, bad_names, bad_projects, root},
};

fn cases(app: &TestApp, token: &str) -> Vec<Case> {
    let a = || app.alerts(Some(token));
    let mut cases = Vec::new();
    for name in bad_names("alerts") {
        cases.push(case!(
            "GetAlert",
            name,
            a(),
            get_alert,
            GetAlertRequest { name: name.clone() }
        ));
        cases.push(case!(
            "AcknowledgeAlert",
            name,
            a(),
            acknowledge_alert,
            AcknowledgeAlertRequest {
                name: name.clone(),
                etag: String::new()
            }
        ));
    }
    for name in bad_names("notificationChannels") {
        cases.push(case!(
            "TestNotificationChannel",
            name,
            a(),
            test_notification_channel,
            TestNotificationChannelRequest { name: name.clone() }
        ));
        cases.push(case!(
            "ListNotifications",
            name,
            a(),
            list_notifications,
            ListNotificationsRequest {
                parent: name.clone(),
                ..Default::default()
            }
        ));
    }
    for parent in bad_projects() {
        cases.push(case!(
            "ListAlerts",
            parent,
            a(),
            list_alerts,
            ListAlertsRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
    }
    let alerts = |what: &str, request: ListAlertsRequest| {
        case!("ListAlerts", what, a(), list_alerts, request)
    };
    let acme = || ListAlertsRequest {
        parent: "projects/acme".into(),
        ..Default::default()
    };
    cases.push(alerts(
        "negative page size",
        ListAlertsRequest {
            page_size: -1,
            ..acme()
        },
    ));
    cases.push(alerts(
        "i32::MIN page size",
        ListAlertsRequest {
            page_size: i32::MIN,
            ..acme()
        },
    ));
    cases.push(alerts(
        "a forged page token",
        ListAlertsRequest {
            page_token: "bm90IGEgdG9rZW4".into(),
            ..acme()
        },
    ));
    cases.push(alerts(
        "a huge page token",
        ListAlertsRequest {
            page_token: "t".repeat(100_000),
            ..acme()
        },
    ));
    cases.push(alerts(
        "an unknown state",
        ListAlertsRequest {
            state: 99,
            ..acme()
        },
    ));
    let channel = "projects/acme/notificationChannels/c";
    cases.push(case!(
        "ListNotifications",
        "negative page size",
        a(),
        list_notifications,
        ListNotificationsRequest {
            parent: channel.into(),
            page_size: -1,
            ..Default::default()
        }
    ));
    cases.push(case!(
        "ListNotifications",
        "a forged page token",
        a(),
        list_notifications,
        ListNotificationsRequest {
            parent: channel.into(),
            page_token: "bm90IGEgdG9rZW4".into(),
            ..Default::default()
        }
    ));
    cases
}

#[tokio::test]
async fn malformed_alert_and_notification_requests_are_invalid_argument() {
    let app = spawn_app().await;
    let token = root(&app);
    let cases = cases(&app, &token);
    assert_all_invalid(&app, cases).await;
}
