//! Group commit: concurrent deliveries stored in batches, duplicates
//! (across batches and within one) answered with the first delivery's id,
//! and delivery ids that rise in arrival order.

use crate::{
    helpers::spawn_app,
    webhook_signing::{Signed, hook_connection, secret_for},
    webhooks::{delivery_rows, post, post_to, sign_now},
};

#[tokio::test]
async fn concurrent_deliveries_are_group_committed_and_deduplicated() {
    let app = spawn_app().await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    let url = app.http_url(&format!("/webhooks/{}", connection.webhook_key));
    let http = reqwest::Client::new();

    // 100 distinct deliveries at once: every one acknowledged and stored.
    let distinct = (0..100).map(|i| {
        let signed = sign_now("standard", &secret, format!("{{\"n\":{i}}}").as_bytes());
        let (http, url) = (http.clone(), url.clone());
        async move { post_to(&http, &url, &signed).await.status }
    });
    let statuses = futures_util::future::join_all(distinct).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    assert_eq!(delivery_rows(&app).await, 100);

    // One delivery sent 20 times at once: stored once, every reply names it.
    let signed = sign_now("standard", &secret, b"{\"same\":true}");
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
        let signed = sign_now("standard", &secret, body.as_bytes());
        let reply = post(&app, &connection.webhook_key, &signed).await;
        assert_eq!(reply.status, 202);
        let name = reply.body["delivery_id"].as_str().unwrap_or_default();
        ids.push(name.rsplit('/').next().unwrap_or_default().to_owned());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}
