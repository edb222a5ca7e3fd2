//! VerifyWebhook: each failing step, each detected mistake, for several
//! schemes; nothing stored, and the detail only for editors and up.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{
        RotateWebhookSecretRequest, SetConnectionCredentialsRequest, VerificationStep,
        VerifyWebhookRequest, VerifyWebhookResponse, WebhookVerdict,
    },
};
use tonic::Code;

use crate::{
    helpers::{TestApp, spawn_app},
    webhook_signing::{Signed, hook_connection, secret_for, sign},
    webhooks::{delivery_rows, new_id, now, post, sign_now},
};

async fn verify(app: &TestApp, connection: &str, signed: &Signed) -> VerifyWebhookResponse {
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.diagnostics(Some(&editor))
        .verify_webhook(VerifyWebhookRequest {
            connection: format!("projects/acme/connections/{connection}"),
            method: "POST".into(),
            path: "/webhooks/captured".into(),
            headers: signed.headers.iter().cloned().collect::<HashMap<_, _>>(),
            body: signed.body.clone(),
        })
        .await
        .expect("verify")
        .into_inner()
}

fn step(r: &VerifyWebhookResponse) -> VerificationStep {
    VerificationStep::try_from(r.failed_step).unwrap_or(VerificationStep::Unspecified)
}

fn verdict(r: &VerifyWebhookResponse) -> WebhookVerdict {
    WebhookVerdict::try_from(r.verdict).unwrap_or(WebhookVerdict::Unspecified)
}

/// The value `signed` carries in `name`.
fn header(signed: &Signed, name: &str) -> String {
    signed
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .expect("signed")
}

fn without(mut signed: Signed, header: &str) -> Signed {
    signed.headers.retain(|(k, _)| k != header);
    signed
}

fn replace(mut signed: Signed, header: &str, value: String) -> Signed {
    for (k, v) in &mut signed.headers {
        if k == header {
            *v = value.clone();
        }
    }
    signed
}

#[tokio::test]
async fn each_step_that_fails_is_named_with_why() {
    let app = spawn_app().await;
    let body = br#"{"type":"ping"}"#;
    for scheme in ["standard", "github", "stripe", "slack"] {
        let secret = secret_for(scheme, 1);
        hook_connection(&app, scheme, scheme, &secret).await;
        let good = sign_now(scheme, &secret, body);
        let valid = verify(&app, scheme, &good).await;
        assert_eq!(
            verdict(&valid),
            WebhookVerdict::Valid,
            "{scheme}: {valid:?}"
        );
        assert!(valid.detail.contains("current secret"), "{valid:?}");

        let header = crate::webhook_signing::signature_header(scheme);
        let missing = verify(&app, scheme, &without(good, header)).await;
        assert_eq!(
            (verdict(&missing), step(&missing), missing.reason.as_str()),
            (
                WebhookVerdict::Invalid,
                VerificationStep::Headers,
                "SIGNATURE_MISSING"
            ),
            "{scheme}"
        );
        assert!(missing.detail.contains(header), "{missing:?}");

        let forged = sign(scheme, &secret_for(scheme, 2), body, now(), &new_id(), "");
        let mismatch = verify(&app, scheme, &forged).await;
        assert_eq!(
            (step(&mismatch), mismatch.reason.as_str()),
            (VerificationStep::Signature, "SIGNATURE_MISMATCH"),
            "{scheme}"
        );
        assert!(mismatch.detail.contains("tried current ("), "{mismatch:?}");
        assert!(
            !format!("{mismatch:?}").contains(&secret),
            "no secret shown"
        );
    }

    // Clock skew, with the skew measured and the window.
    let stripe = sign(
        "stripe",
        &secret_for("stripe", 1),
        body,
        now() - 400,
        "",
        "",
    );
    let late = verify(&app, "stripe", &stripe).await;
    assert_eq!(
        (step(&late), late.reason.as_str()),
        (VerificationStep::Timestamp, "TIMESTAMP_OUT_OF_WINDOW")
    );
    assert!(late.detail.contains("behind"), "{late:?}");
    assert!(late.detail.contains("±300 s"), "{late:?}");

    // Malformed: a signature that is not hex.
    let github = sign_now("github", &secret_for("github", 1), body);
    let garbled = verify(
        &app,
        "github",
        &replace(github, "x-hub-signature-256", "sha256=zz".into()),
    )
    .await;
    assert_eq!(
        (step(&garbled), garbled.reason.as_str()),
        (VerificationStep::Headers, "SIGNATURE_MALFORMED")
    );

    // After a rotation both versions are tried, by fingerprint.
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    app.registry(Some(&owner))
        .rotate_webhook_secret(RotateWebhookSecretRequest {
            name: "projects/acme/connections/github".into(),
            webhook_secret: secret_for("github", 3),
        })
        .await
        .expect("rotate");
    let forged = sign_now("github", &secret_for("github", 9), body);
    let both = verify(&app, "github", &forged).await;
    assert!(
        both.detail.contains("current (") && both.detail.contains("previous ("),
        "{both:?}"
    );
    let old = sign_now("github", &secret_for("github", 1), body);
    let grace = verify(&app, "github", &old).await;
    assert_eq!(verdict(&grace), WebhookVerdict::Valid);
    assert!(grace.detail.contains("previous secret"), "{grace:?}");
    assert_eq!(delivery_rows(&app).await, 0, "a dry run stores nothing");
}

#[tokio::test]
async fn a_delivery_already_received_is_a_duplicate() {
    let app = spawn_app().await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "site", &secret).await;
    let signed = sign_now("standard", &secret, br#"{"n":1}"#);
    assert_eq!(
        post(&app, &connection.webhook_key, &signed).await.status,
        202
    );
    let again = verify(&app, "site", &signed).await;
    assert_eq!(
        (verdict(&again), step(&again), again.reason.as_str()),
        (
            WebhookVerdict::Duplicate,
            VerificationStep::Dedupe,
            "DUPLICATE"
        )
    );
    assert!(again.detail.contains("/deliveries/"), "{again:?}");

    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let refused = app
        .diagnostics(Some(&viewer))
        .verify_webhook(VerifyWebhookRequest {
            connection: connection.name.clone(),
            path: "/webhooks/x".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        refused.expect_err("editors and up").code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn the_mistakes_people_make_are_detected() {
    let app = spawn_app().await;
    let body = br#"{"type":"order.created","id":7}"#;
    let cause = |r: &VerifyWebhookResponse| r.likely_cause.clone();

    // whsec_ dropped (Stripe keys with the whole string).
    let stripe = secret_for("stripe", 1);
    hook_connection(&app, "stripe", "stripe", &stripe).await;
    let dropped = sign(
        "stripe",
        stripe.trim_start_matches("whsec_"),
        body,
        now(),
        "",
        "",
    );
    assert_eq!(
        cause(&verify(&app, "stripe", &dropped).await),
        "WHSEC_PREFIX_DROPPED"
    );

    // whsec_ added where the scheme takes the secret as it is.
    let github = secret_for("github", 1);
    hook_connection(&app, "github", "github", &github).await;
    let added = sign_now("github", &format!("whsec_{github}"), body);
    assert_eq!(
        cause(&verify(&app, "github", &added).await),
        "WHSEC_PREFIX_ADDED"
    );

    // The sha256= prefix left out.
    let good = sign_now("github", &github, body);
    let value = header(&good, "x-hub-signature-256");
    let bare = replace(
        good,
        "x-hub-signature-256",
        value.trim_start_matches("sha256=").to_owned(),
    );
    let prefixless = verify(&app, "github", &bare).await;
    assert_eq!(prefixless.reason, "SIGNATURE_MALFORMED");
    assert_eq!(cause(&prefixless), "SIGNATURE_PREFIX_MISSING");

    // The v1, prefix left out (Standard Webhooks).
    let standard = secret_for("standard", 1);
    hook_connection(&app, "standard", "site", &standard).await;
    let good = sign_now("standard", &standard, body);
    let value = header(&good, "webhook-signature");
    let bare = replace(
        good,
        "webhook-signature",
        value.trim_start_matches("v1,").to_owned(),
    );
    assert_eq!(
        cause(&verify(&app, "site", &bare).await),
        "SIGNATURE_PREFIX_MISSING"
    );

    // Hex where base64 belongs (Shopify).
    let shopify = secret_for("shopify", 1);
    hook_connection(&app, "shopify", "shopify", &shopify).await;
    let signed = sign_now("shopify", &shopify, body);
    let b64 = header(&signed, "x-shopify-hmac-sha256");
    let hex: String = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let hexed = replace(signed, "x-shopify-hmac-sha256", hex);
    assert_eq!(
        cause(&verify(&app, "shopify", &hexed).await),
        "HEX_NOT_BASE64"
    );

    // A body re-serialized on its way: signed compact, captured pretty.
    let compact = sign_now("github", &github, body);
    let pretty = Signed {
        headers: compact.headers.clone(),
        body: b"{\n  \"type\": \"order.created\",\n  \"id\": 7\n}".to_vec(),
    };
    assert_eq!(
        cause(&verify(&app, "github", &pretty).await),
        "BODY_RESERIALIZED"
    );

    // A credential used where the webhook secret belongs.
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    app.registry(Some(&owner))
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: "projects/acme/connections/github".into(),
            credentials: HashMap::from([("bearer_token".into(), "a-client-secret-value".into())]),
            etag: String::new(),
        })
        .await
        .expect("credentials");
    let wrong = sign_now("github", "a-client-secret-value", body);
    let found = verify(&app, "github", &wrong).await;
    assert_eq!(cause(&found), "WRONG_SECRET");
    assert!(found.detail.contains("bearer_token"), "{found:?}");
    assert!(
        !found.detail.contains("a-client-secret-value"),
        "no value shown"
    );
}
