//! Status reads while the database is down: still answered from memory,
//! and marked stale until the replica follows the event log again; service
//! health says the database is the cause.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{GetConnectionStatusRequest, GetProjectStatusRequest, StatusEnvelope},
    store::embedded,
};

use crate::{
    connections::create_github,
    database::private_postgres,
    helpers::{TestApp, TestOptions, spawn_app_with},
};

async fn project_status(app: &TestApp, token: &str) -> StatusEnvelope {
    app.status(Some(token))
        .get_project_status(GetProjectStatusRequest {
            project: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("answered from memory")
        .into_inner()
}

/// Polls until `stale` is `wanted` and the project's one item is there.
async fn wait_until_stale(app: &TestApp, token: &str, wanted: bool) -> StatusEnvelope {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let envelope = project_status(app, token).await;
        if envelope.stale == wanted && envelope.items.len() == 1 {
            return envelope;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stale stayed {}",
            envelope.stale
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reads_during_an_outage_come_from_memory_marked_stale() {
    let (_dir, mut pg) = private_postgres().await;
    let app = spawn_app_with(TestOptions {
        database: Some(pg.config(embedded::DATABASE)),
        ..TestOptions::default()
    })
    .await;
    create_github(&app, "acme", "web").await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let before = wait_until_stale(&app, &owner, false).await;

    pg.stop().await.expect("stop PostgreSQL");
    // The items are still served.
    let during = wait_until_stale(&app, &owner, true).await;
    assert_eq!(during.hash, before.hash, "stale is not content");
    let item = app
        .status(Some(&owner))
        .get_connection_status(GetConnectionStatusRequest {
            name: "projects/acme/connections/web".into(),
        })
        .await
        .expect("answered from memory")
        .into_inner();
    assert!(item.stale, "one connection's status says so too");
    // Service health says why.
    let health = app
        .diagnostics(Some(&owner))
        .get_service_health(patchbay::proto::v1::GetServiceHealthRequest {})
        .await
        .expect("health is answered without the database")
        .into_inner();
    let unhealthy = i32::from(patchbay::proto::v1::HealthState::Unhealthy);
    assert_eq!(health.overall, unhealthy, "{health:#?}");
    for name in ["database", "event_log", "webhook_backlog"] {
        let component = health.components.iter().find(|c| c.name == name);
        assert_eq!(
            component.map(|c| c.state),
            Some(unhealthy),
            "{name}: {health:#?}"
        );
    }

    pg.restart().await.expect("start PostgreSQL again");
    wait_until_stale(&app, &owner, false).await;
    app.stop().await.expect("clean shutdown");
}
