//! Accepted deliveries, processed: published on the watch stream, applied
//! to the status, retried and dead-lettered.

use std::time::Duration;

use patchbay::{auth::Role, proto::v1::status_update::Event, webhooks::WebhookConfig};
use serde_json::json;

use crate::{
    helpers::{TestOptions, spawn_app, spawn_app_with},
    watch::{next_event, watch, watch_request},
    webhook_signing::{hook_connection, secret_for, sign},
    webhooks::{deliver, now, post, sign_now},
};

#[tokio::test]
async fn processed_deliveries_reach_the_watch_stream_and_the_status() {
    let app = spawn_app().await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(60))).await;
    loop {
        if matches!(
            next_event(&mut stream).await.event,
            Some(Event::SnapshotEnd(_))
        ) {
            break;
        }
    }
    // The built-in vercel type: a failed production deployment shows as ERROR.
    let secret = "vercel-webhook-secret";
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut request = crate::connections::create_request(
        "acme",
        "site",
        "vercel",
        crate::connections::settings(&[("project_id", crate::connections::s("prj_1"))]),
    );
    request.webhook_secret = secret.into();
    let connection = app
        .registry(Some(&owner))
        .create_connection(request)
        .await
        .expect("create")
        .into_inner();
    let body = serde_json::to_vec(&json!({
        "type": "deployment.error",
        "id": "evt_1",
        "payload": {"target": "production", "deployment": {"id": "dpl_1", "url": "site-abc.vercel.app"}}
    }))
    .expect("json");
    let reply = post(
        &app,
        &connection.webhook_key,
        &sign("vercel", secret, &body, now(), "", ""),
    )
    .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let delivery_id = reply.body["delivery_id"].as_str().expect("id").to_owned();

    let (mut received, mut failed) = (None, None);
    while received.is_none() || failed.is_none() {
        match next_event(&mut stream).await.event {
            Some(Event::WebhookReceived(w)) => received = Some(w),
            Some(Event::ItemChanged(item))
                if item.item.as_ref().is_some_and(|i| {
                    i.summary.contains("deployment failed") || i.summary == "A deployment failed"
                }) =>
            {
                failed = item.item
            }
            _ => {}
        }
    }
    let received = received.expect("webhook_received");
    assert_eq!(received.connection, connection.name);
    assert_eq!(received.event_type, "deployment.error");
    assert!(
        received.delivery.ends_with(&delivery_id),
        "{}",
        received.delivery
    );
    let failed = failed.expect("item_changed");
    assert_eq!(
        patchbay::proto::v1::StatusLevel::try_from(failed.status),
        Ok(patchbay::proto::v1::StatusLevel::Error)
    );
    let row = app
        .db()
        .await
        .query_one(
            "SELECT d.state, d.attempts, d.event_type \
             FROM webhook_delivery_states d JOIN connections c ON c.project = d.project AND c.id = d.connection_id",
            &[],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), "processed");
    assert_eq!(row.get::<_, i32>(1), 1);
    assert_eq!(
        row.get::<_, String>(2),
        "deployment.error",
        "the view names the event as the watch does"
    );
    // The connection notes its last webhook, and shows it.
    let shown = app
        .registry(Some(&owner))
        .get_connection(patchbay::proto::v1::GetConnectionRequest {
            name: connection.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    let last = shown
        .last_webhook_time
        .expect("the last webhook is visible on the connection");
    assert!(last.seconds >= now() - 60, "{last:?}");
}

#[tokio::test]
async fn failing_deliveries_are_retried_then_dead_lettered() {
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            max_attempts: 3,
            retry_base: Duration::from_millis(20),
            poll: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    let reply = post(
        &app,
        &connection.webhook_key,
        &sign_now("github", &secret, br#"{"truncated": "#),
    )
    .await;
    assert_eq!(reply.status, 202, "accepted: the signature is valid");
    let db = app.db().await;
    let mut seen_retrying = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = db
            .query_one(
                "SELECT state, attempts, last_error FROM webhook_delivery_states",
                &[],
            )
            .await
            .expect("row");
        let (state, attempts, error): (String, i32, String) = (row.get(0), row.get(1), row.get(2));
        seen_retrying |= state == "retrying";
        if state == "dead_letter" {
            assert_eq!(attempts, 3);
            assert!(error.contains("not valid JSON"), "{error}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered: {state} after {attempts}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_retrying, "it was retried before being dead-lettered");
}

/// Waits until `sql` (one bigint) returns `want`.
async fn wait_for_count(db: &tokio_postgres::Client, sql: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let n: i64 = db.query_one(sql, &[]).await.expect("count").get(0);
        if n == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {n}, never {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn deliveries_committed_by_concurrent_writers_are_each_processed_once() {
    // Processing follows a cursor in commit order while two replicas' writers
    // commit batches at once: a delivery committed behind the cursor would
    // be skipped, one processed twice would publish two events.
    let options = |database: Option<_>, keys: Option<_>, keyring: Option<_>| TestOptions {
        database,
        keys,
        keyring,
        webhooks: WebhookConfig {
            poll: Duration::from_millis(5),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    };
    let app = spawn_app_with(options(None, None, None)).await;
    let replica = spawn_app_with(options(
        Some(app.database.clone()),
        Some(app.keys.clone()),
        Some(app.keyring.clone()),
    ))
    .await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    let path = format!("/webhooks/{}", connection.webhook_key);
    let urls = [app.http_url(&path), replica.http_url(&path)];
    let http = reqwest::Client::new();
    let mut ids = std::collections::HashSet::new();
    for wave in 0..4 {
        let posts = (0..100).map(|i| {
            let signed = sign_now(
                "standard",
                &secret,
                format!("{{\"type\":\"ping\",\"n\":{}}}", wave * 100 + i).as_bytes(),
            );
            let (http, url) = (http.clone(), urls[i % 2].clone());
            async move { crate::webhooks::post_to(&http, &url, &signed).await }
        });
        for reply in futures_util::future::join_all(posts).await {
            assert_eq!(reply.status, 202, "{:?}", reply.body);
            ids.insert(reply.body["delivery_id"].as_str().expect("id").to_owned());
        }
    }
    assert_eq!(ids.len(), 400);
    let db = app.db().await;
    wait_for_count(
        &db,
        "SELECT count(*) FROM webhook_delivery_states WHERE state = 'processed'",
        400,
    )
    .await;
    let events = db
        .query(
            "SELECT payload->>'delivery' FROM status_events WHERE kind = 'webhook_received'",
            &[],
        )
        .await
        .expect("events");
    let delivered: Vec<String> = events.iter().map(|row| row.get(0)).collect();
    assert_eq!(delivered.len(), 400, "one event per delivery");
    let named: std::collections::HashSet<&str> = delivered
        .iter()
        .filter_map(|d| d.rsplit('/').next())
        .collect();
    assert_eq!(named.len(), 400, "no delivery published twice");
    assert!(named.iter().all(|id| ids.contains(*id)));
}

#[tokio::test]
async fn a_delivery_put_back_for_a_retry_is_processed_again() {
    // As a redrive does: a processed delivery set to retrying is processed
    // once more when due, and its row says so.
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            poll: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    assert_eq!(
        deliver(
            &app,
            &connection.webhook_key,
            "standard",
            &secret,
            br#"{"type":"ping"}"#
        )
        .await
        .status,
        202
    );
    let db = app.db().await;
    let received = "SELECT count(*) FROM status_events WHERE kind = 'webhook_received'";
    wait_for_count(&db, received, 1).await;
    db.execute(
        "UPDATE webhook_deliveries SET state = 'retrying', next_attempt_at = now()",
        &[],
    )
    .await
    .expect("put back");
    wait_for_count(&db, received, 2).await;
    let row = db
        .query_one("SELECT state, attempts FROM webhook_deliveries", &[])
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), "processed");
    assert_eq!(row.get::<_, i32>(1), 1);
}

#[tokio::test]
async fn a_delivery_committed_late_is_not_skipped_by_the_cursor() {
    // A batch that has drawn its place in the order but not committed holds
    // back the batches behind it, so the cursor cannot pass it while it is
    // invisible: written without that, the bridge's delivery below commits
    // first, is processed, and the held one is never processed.
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            poll: Duration::from_millis(5),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    let pool = patchbay::store::pool(app.database.clone(), 1).expect("pool");
    let mut client = pool.get().await.expect("client");
    let held = client.transaction().await.expect("begin");
    let name = patchbay::names::ConnectionName::parse(&connection.name).expect("name");
    patchbay::store::deliveries::insert_batch(
        &held,
        &[patchbay::store::deliveries::NewDelivery {
            id: "held".into(),
            connection: name,
            dedupe_key: "held".into(),
            event_type: String::new(),
            body: bytes::Bytes::from_static(br#"{"type":"held"}"#),
        }],
    )
    .await
    .expect("insert");

    let signed = sign_now("standard", &secret, br#"{"type":"late"}"#);
    let url = app.http_url(&format!("/webhooks/{}", connection.webhook_key));
    let mut sent = tokio::spawn(async move {
        crate::webhooks::post_to(&reqwest::Client::new(), &url, &signed).await
    });
    // Give the bridge's delivery every chance to commit; if it does (it
    // must not), let it be processed before the held batch commits.
    let db = app.db().await;
    let received = "SELECT count(*) FROM status_events WHERE kind = 'webhook_received'";
    let early = tokio::time::timeout(Duration::from_millis(500), &mut sent).await;
    if early.is_ok() {
        wait_for_count(&db, received, 1).await;
    }
    held.commit().await.expect("commit");
    let reply = match early {
        Ok(reply) => reply,
        Err(_) => sent.await,
    }
    .expect("post");
    assert_eq!(reply.status, 202, "{:?}", reply.body);

    wait_for_count(&db, received, 2).await;
}
