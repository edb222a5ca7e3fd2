//! The database stopping under a burst of deliveries: 503 with
//! Retry-After, nothing half-written, and the bridge accepting again; and
//! the database crashing right after a 202, which it survives.

use std::time::Duration;

use patchbay::store::embedded::{self, EmbeddedPostgres};

use crate::{
    database::private_postgres,
    helpers::{TestApp, TestOptions, spawn_app_with},
    webhook_signing::{hook_connection, secret_for},
    webhooks::{Reply, delivery_rows, post_to, sign_now},
};

/// A server on `pg` with one Standard Webhooks connection: the app, the
/// connection's webhook URL and its secret.
async fn bridge_on(pg: &EmbeddedPostgres) -> (TestApp, String, String) {
    let app = spawn_app_with(TestOptions {
        database: Some(pg.config(embedded::DATABASE)),
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("standard", 1);
    let connection = hook_connection(&app, "standard", "std", &secret).await;
    let url = app.http_url(&format!("/webhooks/{}", connection.webhook_key));
    (app, url, secret)
}

#[tokio::test]
async fn a_database_stopping_mid_burst_gives_503_and_loses_nothing() {
    let (_dir, mut pg) = private_postgres().await;
    let (app, url, secret) = bridge_on(&pg).await;
    let http = reqwest::Client::new();

    // A steady stream of deliveries from 8 clients while the database stops.
    let sender = |client: usize| {
        let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
        tokio::spawn(async move {
            let mut replies = Vec::new();
            for n in 0..40 {
                let body = format!("{{\"client\":{client},\"n\":{n}}}");
                let signed = sign_now("standard", &secret, body.as_bytes());
                replies.push(post_to(&http, &url, &signed).await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            replies
        })
    };
    let senders: Vec<_> = (0..8).map(sender).collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    pg.stop().await.expect("stop PostgreSQL");
    let mut replies = Vec::new();
    for sender in senders {
        replies.extend(sender.await.expect("sender"));
    }
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(accepted + refused.len(), replies.len(), "only 202 or 503");
    assert!(
        !refused.is_empty(),
        "some deliveries met the stopped database"
    );
    assert!(
        refused.iter().all(|r| r.retry_after.is_some()),
        "503 carries Retry-After"
    );

    pg.restart().await.expect("start PostgreSQL again");
    let stored = delivery_rows(&app).await;
    assert_eq!(stored, accepted as i64, "every 202 is stored, nothing else");
    // And the bridge accepts again.
    let signed = sign_now("standard", &secret, b"{}");
    let mut status = 0;
    for _ in 0..50 {
        status = post_to(&http, &url, &signed).await.status;
        if status == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202);
    app.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn every_202_survives_a_database_crash_right_after_it() {
    // A 202 means the delivery's commit is flushed. The crash below (an
    // immediate shutdown) keeps only WAL that was flushed (written out: the
    // test cluster skips fsync), so a commit that did not wait for its flush
    // loses the last deliveries; the WAL writer, which would write them out
    // on its own, is slowed to its 10 s maximum.
    let (_dir, mut pg) = private_postgres().await;
    let admin = patchbay::store::connect(&pg.config(embedded::DATABASE))
        .await
        .expect("connect");
    // One statement each: ALTER SYSTEM cannot run in a transaction block.
    for statement in [
        "ALTER SYSTEM SET wal_writer_delay = '10s'",
        "SELECT pg_reload_conf()",
    ] {
        admin
            .batch_execute(statement)
            .await
            .expect("slow the WAL writer");
    }
    drop(admin);
    let (app, url, secret) = bridge_on(&pg).await;
    let http = reqwest::Client::new();

    let mut accepted = 0;
    for n in 0..20 {
        let body = format!("{{\"n\":{n}}}");
        let signed = sign_now("standard", &secret, body.as_bytes());
        assert_eq!(post_to(&http, &url, &signed).await.status, 202);
        accepted += 1;
    }
    pg.stop().await.expect("crash PostgreSQL");
    pg.restart().await.expect("recover PostgreSQL");
    assert_eq!(delivery_rows(&app).await, accepted, "every 202 survived");
    app.stop().await.expect("clean shutdown");
}
