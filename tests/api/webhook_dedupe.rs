//! Dedupe for schemes without a delivery id (DESIGN section 4): on a hash
//! of the signature header and the body, so a resend signed anew (a new
//! timestamp) is a new delivery and an exact replay is a duplicate.

use serde_json::json;

use crate::{
    helpers::spawn_app,
    webhook_signing::{hook_connection, secret_for, sign},
    webhooks::{now, post},
};

#[tokio::test]
async fn a_resend_signed_anew_is_a_new_delivery_and_a_replay_is_not() {
    let app = spawn_app().await;
    // Timestamped schemes with no delivery id (Sanity's idempotency-key
    // left out below).
    for (i, scheme) in ["stripe", "hubspot", "slack", "sanity"].iter().enumerate() {
        let secret = secret_for(scheme, 1);
        let connection = hook_connection(&app, scheme, &format!("dedupe-{i}"), &secret).await;
        let key = &connection.webhook_key;
        let url = app.http_url(&format!("/webhooks/{key}"));
        let body = serde_json::to_vec(&json!({"type": "invoice.paid", "n": i})).expect("json");
        let signed_at = |ts: i64| {
            let mut signed = sign(scheme, &secret, &body, ts, "", &url);
            signed.headers.retain(|(name, _)| name != "idempotency-key");
            signed
        };
        let t = now();
        let first = post(&app, key, &signed_at(t)).await;
        assert_eq!(first.status, 202, "{scheme}: {:?}", first.body);
        let resent = post(&app, key, &signed_at(t - 1)).await;
        assert_eq!(
            resent.status, 202,
            "{scheme}: a new signature is a new delivery"
        );
        assert_ne!(
            resent.body["delivery_id"], first.body["delivery_id"],
            "{scheme}"
        );
        let replayed = post(&app, key, &signed_at(t)).await;
        assert_eq!(replayed.status, 200, "{scheme}: the same bytes again");
        assert_eq!(replayed.body["duplicate"], true, "{scheme}");
        assert_eq!(
            replayed.body["delivery_id"], first.body["delivery_id"],
            "{scheme}"
        );
    }
}

#[tokio::test]
async fn an_empty_delivery_id_dedupes_on_the_content_not_on_the_id() {
    let app = spawn_app().await;
    for (i, scheme) in ["standard", "github"].iter().enumerate() {
        let secret = secret_for(scheme, 1);
        let connection = hook_connection(&app, scheme, &format!("empty-id-{i}"), &secret).await;
        let key = &connection.webhook_key;
        let url = app.http_url(&format!("/webhooks/{key}"));
        let deliver = |n: i32| {
            let body = serde_json::to_vec(&json!({"type": "x", "n": n})).expect("json");
            sign(scheme, &secret, &body, now(), "", &url)
        };
        let first = post(&app, key, &deliver(1)).await;
        let second = post(&app, key, &deliver(2)).await;
        assert_eq!(first.status, 202, "{scheme}: {:?}", first.body);
        assert_eq!(
            second.status, 202,
            "{scheme}: another body with an empty id is not a duplicate"
        );
        let replay = post(&app, key, &deliver(2)).await;
        assert_eq!(
            replay.body["duplicate"], true,
            "{scheme}: an exact replay is"
        );
    }
}
