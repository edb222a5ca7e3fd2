//! The webhook bridge: every scheme over HTTP, every reply of DESIGN's
//! table, dedupe and replays, group commit, a database that goes away
//! mid-burst, and asynchronous processing with retries and dead letters.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::RotateWebhookSecretRequest,
    webhooks::{RateLimit, WebhookConfig},
};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, TestOptions, spawn_app, spawn_app_with},
    webhook_signing::{
        SCHEMES, Signed, has_timestamp, hook_connection, secret_for, sign, signature_header,
    },
};

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

pub async fn post(app: &TestApp, key: &str, signed: &Signed) -> Reply {
    post_to(
        &reqwest::Client::new(),
        &app.http_url(&format!("/webhooks/{key}")),
        signed,
    )
    .await
}

pub async fn post_to(http: &reqwest::Client, url: &str, signed: &Signed) -> Reply {
    let mut request = http.post(url).body(signed.body.clone());
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("the bridge answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        retry_after,
    }
}

fn error_code(reply: &Reply) -> &str {
    reply.body["error"]["code"].as_str().unwrap_or_default()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

pub async fn delivery_rows(app: &TestApp) -> i64 {
    app.db()
        .await
        .query_one("SELECT count(*) FROM webhook_deliveries", &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn every_scheme_accepts_valid_deliveries_and_refuses_the_rest() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    for (i, scheme) in SCHEMES.iter().enumerate() {
        let secret = secret_for(scheme, 1);
        let connection = hook_connection(&app, scheme, &format!("hook-{i}"), &secret).await;
        let key = &connection.webhook_key;
        let url = app.http_url(&format!("/webhooks/{key}"));
        let body =
            serde_json::to_vec(&json!({"type": "test.event", "scheme": scheme})).expect("json");
        let signed = sign(scheme, &secret, &body, now(), &new_id(), &url);

        let first = post(&app, key, &signed).await;
        assert_eq!(first.status, 202, "{scheme}: {:?}", first.body);
        assert_eq!(first.body["duplicate"], false, "{scheme}");
        let delivery_id = first.body["delivery_id"]
            .as_str()
            .expect("an id")
            .to_owned();

        let again = post(&app, key, &signed).await;
        assert_eq!(again.status, 200, "{scheme}: a replay is a duplicate");
        assert_eq!(again.body["duplicate"], true, "{scheme}");
        assert_eq!(again.body["delivery_id"], delivery_id.as_str(), "{scheme}");

        // Shared-header signs nothing: its tampering is a wrong secret.
        let mut tampered = sign(scheme, &secret, &body, now(), &new_id(), &url);
        if *scheme == "shared-header" {
            tampered.headers = vec![("x-webhook-token".into(), format!("{secret}x"))];
        } else {
            tampered.body.extend_from_slice(b" ");
        }
        let reply = post(&app, key, &tampered).await;
        assert_eq!(
            (reply.status, error_code(&reply)),
            (401, "SIGNATURE_MISMATCH"),
            "{scheme}"
        );

        let mut missing = sign(scheme, &secret, &body, now(), &new_id(), &url);
        missing
            .headers
            .retain(|(name, _)| name != signature_header(scheme));
        let reply = post(&app, key, &missing).await;
        assert_eq!(
            (reply.status, error_code(&reply)),
            (401, "SIGNATURE_MISSING"),
            "{scheme}"
        );

        if has_timestamp(scheme) {
            for skew in [-600, 600] {
                let skewed = sign(scheme, &secret, &body, now() + skew, &new_id(), &url);
                let reply = post(&app, key, &skewed).await;
                assert_eq!(
                    (reply.status, error_code(&reply)),
                    (401, "TIMESTAMP_OUT_OF_WINDOW"),
                    "{scheme} at {skew} s"
                );
            }
        }

        // Rotation: the previous secret keeps working through its grace.
        let rotated = secret_for(scheme, 2);
        app.registry(Some(&owner))
            .rotate_webhook_secret(RotateWebhookSecretRequest {
                name: connection.name.clone(),
                webhook_secret: rotated.clone(),
            })
            .await
            .expect("rotate");
        for (label, secret, wanted) in [
            ("previous", &secret, 202),
            ("rotated", &rotated, 202),
            ("unknown", &secret_for(scheme, 3), 401),
        ] {
            let body =
                serde_json::to_vec(&json!({"type": "test.event", "secret": label})).expect("json");
            let reply = post(
                &app,
                key,
                &sign(scheme, secret, &body, now(), &new_id(), &url),
            )
            .await;
            assert_eq!(
                reply.status, wanted,
                "{scheme} with the {label} secret: {:?}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn a_rotated_secret_stops_working_after_its_grace() {
    let app = spawn_app_with(TestOptions {
        webhook_secret_grace: Duration::from_millis(300),
        ..TestOptions::default()
    })
    .await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let old = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &old).await;
    app.registry(Some(&owner))
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: connection.name.clone(),
            webhook_secret: secret_for("github", 2),
        })
        .await
        .expect("rotate");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reply = post(
        &app,
        &connection.webhook_key,
        &sign("github", &old, b"{}", now(), &new_id(), ""),
    )
    .await;
    assert_eq!(
        (reply.status, error_code(&reply)),
        (401, "SIGNATURE_MISMATCH")
    );
}

#[tokio::test]
async fn unknown_keys_oversized_bodies_and_malformed_signatures() {
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            body_limit: 1024,
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    let key = &connection.webhook_key;

    let signed = sign("standard", &secret, b"{}", now(), &new_id(), "");
    for unknown in ["wh_doesnotexist", "not-a-key!", &"k".repeat(200)] {
        assert_eq!(post(&app, unknown, &signed).await.status, 404, "{unknown}");
    }

    let big = vec![b' '; 1025];
    let reply = post(
        &app,
        key,
        &sign("standard", &secret, &big, now(), &new_id(), ""),
    )
    .await;
    assert_eq!((reply.status, error_code(&reply)), (413, "BODY_TOO_LARGE"));
    let fits = vec![b' '; 1024];
    let reply = post(
        &app,
        key,
        &sign("standard", &secret, &fits, now(), &new_id(), ""),
    )
    .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);

    let mut malformed = sign("standard", &secret, b"{}", now(), &new_id(), "");
    for (name, value) in &mut malformed.headers {
        if name == "webhook-timestamp" {
            *value = "yesterday".into();
        }
    }
    let reply = post(&app, key, &malformed).await;
    assert_eq!(
        (reply.status, error_code(&reply)),
        (401, "SIGNATURE_MALFORMED")
    );
    assert_eq!(
        delivery_rows(&app).await,
        1,
        "only the accepted delivery is stored"
    );
}

#[tokio::test]
async fn deliveries_over_the_rate_limit_get_429_with_retry_after() {
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            per_key: Some(RateLimit {
                per_second: 1,
                burst: 3,
            }),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let reply = post(
            &app,
            &connection.webhook_key,
            &sign("github", &secret, b"{}", now(), &new_id(), ""),
        )
        .await;
        statuses.push(reply.status);
        if reply.status == 429 {
            limited = Some(reply);
        }
    }
    // The burst passes; at 1/s, what follows at once is refused.
    assert_eq!(statuses[..3], [202, 202, 202], "{statuses:?}");
    assert!(
        statuses[3..].iter().all(|s| [202, 429].contains(s)),
        "{statuses:?}"
    );
    let limited = limited.expect("a 429");
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    assert!(
        limited
            .retry_after
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1))
    );
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert_eq!(
        delivery_rows(&app).await,
        i64::try_from(accepted).unwrap_or(0),
        "refused deliveries are not stored"
    );
}

#[tokio::test]
async fn concurrent_deliveries_are_group_committed_and_deduplicated() {
    let app = spawn_app().await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    let url = app.http_url(&format!("/webhooks/{}", connection.webhook_key));
    let http = reqwest::Client::new();

    // 100 distinct deliveries at once: every one acknowledged and stored.
    let distinct = (0..100).map(|i| {
        let signed = sign(
            "standard",
            &secret,
            format!("{{\"n\":{i}}}").as_bytes(),
            now(),
            &new_id(),
            "",
        );
        let (http, url) = (http.clone(), url.clone());
        async move { post_to(&http, &url, &signed).await.status }
    });
    let statuses = futures_util::future::join_all(distinct).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    assert_eq!(delivery_rows(&app).await, 100);

    // One delivery sent 20 times at once: stored once, every reply names it.
    let signed = sign(
        "standard",
        &secret,
        b"{\"same\":true}",
        now(),
        &new_id(),
        "",
    );
    let same = (0..20).map(|_| {
        let (http, url) = (http.clone(), url.clone());
        let signed = Signed {
            headers: signed.headers.clone(),
            body: signed.body.clone(),
        };
        async move { post_to(&http, &url, &signed).await }
    });
    let replies = futures_util::future::join_all(same).await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    assert_eq!(accepted, 1, "exactly one is accepted");
    let ids: std::collections::HashSet<&str> = replies
        .iter()
        .map(|r| r.body["delivery_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), 1, "duplicates carry the first delivery's id");
    assert_eq!(delivery_rows(&app).await, 101);
}

#[tokio::test]
async fn a_batch_holding_a_duplicate_still_stores_the_rest() {
    // A batch is first stored with a plain insert, which a duplicate fails
    // as a whole; the batch then goes again, and only the duplicate is
    // refused.
    use patchbay::store::deliveries::{NewDelivery, Stored, insert_batch};
    let app = spawn_app().await;
    let connection = hook_connection(&app, "standard", "std", &secret_for("standard", 1)).await;
    let name = patchbay::names::ConnectionName::parse(&connection.name).expect("name");
    let delivery = |id: &str, key: &str| NewDelivery {
        id: id.into(),
        connection: name.clone(),
        dedupe_key: key.into(),
        event_type: String::new(),
        body: bytes::Bytes::from_static(b"{}"),
    };
    let stored = |id: &str, duplicate| Stored {
        id: id.into(),
        duplicate,
    };
    let pool = patchbay::store::pool(app.database.clone(), 1).expect("pool");
    let client = pool.get().await.expect("client");

    let first = insert_batch(&client, &[delivery("first", "k1")])
        .await
        .expect("first batch");
    assert_eq!(first, [stored("first", false)]);
    let mixed = insert_batch(
        &client,
        &[
            delivery("fresh-a", "k2"),
            delivery("again", "k1"),
            delivery("fresh-b", "k3"),
            delivery("again-in-batch", "k3"),
        ],
    )
    .await
    .expect("mixed batch");
    assert_eq!(
        mixed,
        [
            stored("fresh-a", false),
            stored("first", true),
            stored("fresh-b", false),
            stored("fresh-b", true),
        ]
    );
    assert_eq!(delivery_rows(&app).await, 3);
}

#[tokio::test]
async fn delivery_ids_rise_in_arrival_order() {
    // Time-ordered ids keep the deliveries' primary key an append at its
    // right edge, not a random page per insert.
    let app = spawn_app().await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = format!("{{\"n\":{i}}}");
        let signed = sign("standard", &secret, body.as_bytes(), now(), &new_id(), "");
        let reply = post(&app, &connection.webhook_key, &signed).await;
        assert_eq!(reply.status, 202);
        let name = reply.body["delivery_id"].as_str().unwrap_or_default();
        ids.push(name.rsplit('/').next().unwrap_or_default().to_owned());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}
