//! The webhook bridge over HTTP: every scheme, every reply of DESIGN's
//! table, replays, rotated secrets and rate limits; and the helpers the
//! other webhook tests share. Group commit is in `webhook_batches`, the
//! database going away in `webhook_outage`, processing in
//! `webhook_processing`.

use std::time::Duration;

use patchbay::{
    auth::Role, proto::v1::RotateWebhookSecretRequest, rate_limit::RateLimit,
    webhooks::WebhookConfig,
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

/// Signs `body` for `scheme` as the provider would now, with a fresh
/// delivery id.
pub fn sign_now(scheme: &str, secret: &str, body: &[u8]) -> Signed {
    sign(scheme, secret, body, now(), &new_id(), "")
}

/// Signs `body` as the provider would now, and posts it.
pub async fn deliver(app: &TestApp, key: &str, scheme: &str, secret: &str, body: &[u8]) -> Reply {
    post(app, key, &sign_now(scheme, secret, body)).await
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
        &sign_now("github", &old, b"{}"),
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

    let signed = sign_now("standard", &secret, b"{}");
    for unknown in ["wh_doesnotexist", "not-a-key!", &"k".repeat(200)] {
        assert_eq!(post(&app, unknown, &signed).await.status, 404, "{unknown}");
    }

    let big = vec![b' '; 1025];
    let reply = post(&app, key, &sign_now("standard", &secret, &big)).await;
    assert_eq!((reply.status, error_code(&reply)), (413, "BODY_TOO_LARGE"));
    let fits = vec![b' '; 1024];
    let reply = post(&app, key, &sign_now("standard", &secret, &fits)).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);

    let mut malformed = sign_now("standard", &secret, b"{}");
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
            &sign_now("github", &secret, b"{}"),
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
