use std::time::Duration;

use patchbay::{app::SERVICE_NAMES, store::embedded};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::{
    database::private_postgres,
    helpers::{TestOptions, spawn_app, spawn_app_with},
};

#[tokio::test]
async fn every_service_reports_serving() {
    let app = spawn_app().await;
    assert_eq!(app.health_status("").await, Some(ServingStatus::Serving));
    for name in SERVICE_NAMES {
        app.wait_for_health(name, ServingStatus::Serving).await;
    }
}

#[tokio::test]
async fn health_follows_the_database_down_and_back_up() {
    // A PostgreSQL of its own, so stopping it disturbs no other test.
    let (_dir, mut pg) = private_postgres().await;
    let app = spawn_app_with(TestOptions {
        database: Some(pg.config(embedded::DATABASE)),
        health_interval: Duration::from_millis(100),
        ..TestOptions::default()
    })
    .await;
    let http = reqwest::Client::new();

    pg.stop().await.expect("stop PostgreSQL");
    app.wait_for_health("", ServingStatus::NotServing).await;
    for name in SERVICE_NAMES {
        app.wait_for_health(name, ServingStatus::NotServing).await;
    }
    let ready = http
        .get(app.http_url("/readyz"))
        .send()
        .await
        .expect("readyz answers while the database is down");
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let healthz = http
        .get(app.http_url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200, "the process itself is alive");

    pg.restart().await.expect("start PostgreSQL again");
    app.wait_for_health("", ServingStatus::Serving).await;
    for name in SERVICE_NAMES {
        app.wait_for_health(name, ServingStatus::Serving).await;
    }
    let ready = http
        .get(app.http_url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    app.stop().await.expect("clean shutdown");
}
