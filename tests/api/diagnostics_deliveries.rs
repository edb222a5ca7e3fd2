//! ListWebhookDeliveries with its filters and paging, and RedriveDeliveries:
//! estimate, run, and run again with nothing left to move.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{
        DeliveryState, ListWebhookDeliveriesRequest, ListWebhookDeliveriesResponse,
        RedriveDeliveriesRequest,
    },
    webhooks::WebhookConfig,
};
use tonic::Code;

use crate::{
    audit_reads::list_all,
    helpers::{TestApp, TestOptions, assert_error, spawn_app_with},
    webhook_signing::{hook_connection, secret_for},
    webhooks::{post, sign_now},
};

const PARENT: &str = "projects/acme/connections/gh";

async fn app() -> TestApp {
    spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            max_attempts: 1,
            poll: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await
}

async fn list(
    app: &TestApp,
    token: &str,
    filter: &str,
    size: i32,
    page: &str,
) -> ListWebhookDeliveriesResponse {
    app.diagnostics(Some(token))
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            parent: PARENT.into(),
            filter: filter.into(),
            page_size: size,
            page_token: page.into(),
        })
        .await
        .expect("list")
        .into_inner()
}

fn states(page: &ListWebhookDeliveriesResponse) -> Vec<DeliveryState> {
    page.deliveries
        .iter()
        .map(|d| DeliveryState::try_from(d.state).unwrap_or(DeliveryState::Unspecified))
        .collect()
}

/// Polls until `filter` lists `want` deliveries.
async fn wait_listed(app: &TestApp, token: &str, filter: &str, want: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = list(app, token, filter, 100, "").await;
        if page.deliveries.len() == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{filter}: {} listed, never {want}",
            page.deliveries.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn redrive(
    app: &TestApp,
    token: &str,
    names: &[String],
    filter: &str,
    validate_only: bool,
) -> i32 {
    app.diagnostics(Some(token))
        .redrive_deliveries(RedriveDeliveriesRequest {
            parent: PARENT.into(),
            names: names.to_vec(),
            filter: filter.into(),
            validate_only,
        })
        .await
        .expect("redrive")
        .into_inner()
        .redriven_count
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_with_filters_and_pages() {
    let app = app().await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    let good = sign_now("github", &secret, br#"{"ref":"main"}"#);
    assert_eq!(post(&app, &connection.webhook_key, &good).await.status, 202);
    let between = chrono::Utc::now();
    for body in [&br#"{"ref":"dev"}"#[..], br#"{"truncated": "#] {
        let signed = sign_now("github", &secret, body);
        assert_eq!(
            post(&app, &connection.webhook_key, &signed).await.status,
            202
        );
    }
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    wait_listed(&app, &viewer, "state = DEAD_LETTER", 1).await;

    let all = list(&app, &viewer, "", 0, "").await;
    assert_eq!(all.deliveries.len(), 3);
    assert_eq!(
        states(&all),
        [
            DeliveryState::DeadLetter,
            DeliveryState::Processed,
            DeliveryState::Processed
        ],
        "newest first"
    );
    let dead = &all.deliveries[0];
    assert!(
        dead.name.starts_with(&format!("{PARENT}/deliveries/")),
        "{}",
        dead.name
    );
    assert!(
        dead.last_error.contains("not valid JSON"),
        "{}",
        dead.last_error
    );
    assert_eq!(dead.event_type, "push");
    assert_eq!(dead.body_size, br#"{"truncated": "#.len() as i64);

    let after = format!("received_after = \"{}\"", between.to_rfc3339());
    assert_eq!(list(&app, &viewer, &after, 0, "").await.deliveries.len(), 2);
    let before = format!("received_before = \"{}\"", between.to_rfc3339());
    assert_eq!(
        list(&app, &viewer, &before, 0, "").await.deliveries.len(),
        1
    );
    assert_eq!(
        list(
            &app,
            &viewer,
            "event_type = \"push\" AND state = PROCESSED",
            0,
            ""
        )
        .await
        .deliveries
        .len(),
        2
    );

    let first = list(&app, &viewer, "", 2, "").await;
    assert_eq!(first.deliveries.len(), 2);
    let second = list(&app, &viewer, "", 2, &first.next_page_token).await;
    assert_eq!(second.deliveries.len(), 1);
    assert!(second.next_page_token.is_empty());
    assert_eq!(second.deliveries[0].name, all.deliveries[2].name);

    let mut diagnostics = app.diagnostics(Some(&viewer));
    let bad = diagnostics
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            parent: PARENT.into(),
            filter: "state = LOST".into(),
            ..Default::default()
        })
        .await;
    assert_error(bad, Code::InvalidArgument, "INVALID_ARGUMENT");
    let stranger = app.token("stranger", &[("other", Role::Owner)]);
    let foreign = app
        .diagnostics(Some(&stranger))
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            parent: PARENT.into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        foreign.expect_err("another project").code(),
        Code::PermissionDenied
    );
    let missing = diagnostics
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            parent: "projects/acme/connections/none".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        missing.expect_err("no such connection").code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn dead_letters_are_redriven_once_by_filter_and_by_name() {
    let app = app().await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    for n in 0..3 {
        let body = format!("{{\"n\":{n}}}");
        let signed = sign_now("github", &secret, body.as_bytes());
        assert_eq!(
            post(&app, &connection.webhook_key, &signed).await.status,
            202
        );
    }
    let admin = app.token("admin", &[("acme", Role::Admin)]);
    wait_listed(&app, &admin, "state = PROCESSED", 3).await;
    // As if an earlier release had failed to process them.
    app.db()
        .await
        .execute(
            "UPDATE webhook_deliveries SET state = 'dead_letter', attempts = 5, \
             last_error = 'processing failed' WHERE connection_id = 'gh'",
            &[],
        )
        .await
        .expect("dead-letter them");
    let dead = list(&app, &admin, "state = DEAD_LETTER", 0, "").await;
    assert_eq!(dead.deliveries.len(), 3);

    // One by name.
    let one = vec![dead.deliveries[0].name.clone()];
    assert_eq!(redrive(&app, &admin, &one, "", false).await, 1);
    assert_eq!(
        redrive(&app, &admin, &one, "", false).await,
        0,
        "moved once"
    );

    // The rest by filter: an estimate first, which moves nothing.
    assert_eq!(redrive(&app, &admin, &[], "", true).await, 2);
    assert_eq!(
        list(&app, &admin, "state = DEAD_LETTER", 0, "")
            .await
            .deliveries
            .len(),
        2,
        "validate_only moved nothing"
    );
    assert_eq!(
        redrive(&app, &admin, &[], "event_type = \"push\"", false).await,
        2
    );
    wait_listed(&app, &admin, "state = PROCESSED", 3).await;
    let processed = list(&app, &admin, "", 0, "").await;
    let mut names: Vec<&str> = processed
        .deliveries
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    let mut before: Vec<&str> = dead.deliveries.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    before.sort_unstable();
    assert_eq!(names, before, "each kept its id");
    assert!(
        processed
            .deliveries
            .iter()
            .all(|d| d.process_time.is_some())
    );
    assert_eq!(
        redrive(&app, &admin, &[], "", false).await,
        0,
        "nothing left to move"
    );

    // The two redrives that moved something are audited, nothing else.
    let audited = list_all(
        &app,
        &admin,
        "projects/acme",
        "method = \"Diagnostics.RedriveDeliveries\"",
        50,
    )
    .await;
    let changes: Vec<Vec<(&str, &str)>> = audited
        .iter()
        .map(|e| {
            e.changes
                .iter()
                .map(|c| (c.field.as_str(), c.after.as_str()))
                .collect()
        })
        .collect();
    let id = one[0].rsplit('/').next().unwrap_or_default();
    assert_eq!(
        changes,
        [
            vec![("redriven_count", "2"), ("filter.event_type", "push")],
            vec![("redriven_count", "1"), ("deliveries", id)],
        ]
    );
    assert!(
        audited
            .iter()
            .all(|e| e.resource == PARENT && e.actor == "admin")
    );

    let mut diagnostics = app.diagnostics(Some(&admin));
    let both = diagnostics
        .redrive_deliveries(RedriveDeliveriesRequest {
            parent: PARENT.into(),
            names: one.clone(),
            filter: "event_type = \"push\"".into(),
            validate_only: false,
        })
        .await;
    assert_error(both, Code::InvalidArgument, "INVALID_ARGUMENT");
    let elsewhere = diagnostics
        .redrive_deliveries(RedriveDeliveriesRequest {
            parent: PARENT.into(),
            names: vec![format!(
                "projects/acme/connections/other/deliveries/{}",
                "0".repeat(32)
            )],
            ..Default::default()
        })
        .await;
    assert_error(elsewhere, Code::InvalidArgument, "INVALID_ARGUMENT");
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    let refused = app
        .diagnostics(Some(&editor))
        .redrive_deliveries(RedriveDeliveriesRequest {
            parent: PARENT.into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        refused.expect_err("admins only").code(),
        Code::PermissionDenied
    );
}
