//! GetRegistryStats counts only the connections of the caller's projects;
//! a platform admin's count covers every project.

use patchbay::{auth::Role, proto::v1::GetRegistryStatsRequest};

use crate::{
    connections::create_github,
    helpers::{TestApp, spawn_app},
};

async fn total_connections(app: &TestApp, token: &str) -> i32 {
    app.registry(Some(token))
        .get_registry_stats(GetRegistryStatsRequest {})
        .await
        .expect("stats")
        .into_inner()
        .total_connections
}

#[tokio::test]
async fn stats_count_the_callers_projects_and_every_project_for_admins() {
    let app = spawn_app().await;
    create_github(&app, "acme", "a").await;
    create_github(&app, "acme", "b").await;
    create_github(&app, "other", "c").await;
    let acme = app.token("viewer", &[("acme", Role::Viewer)]);
    let both = app.token("both", &[("acme", Role::Viewer), ("other", Role::Viewer)]);
    let nowhere = app.token("nowhere", &[("elsewhere", Role::Owner)]);
    assert_eq!(total_connections(&app, &acme).await, 2);
    assert_eq!(total_connections(&app, &both).await, 3);
    assert_eq!(total_connections(&app, &nowhere).await, 0);
    assert_eq!(total_connections(&app, &app.admin_token("root")).await, 3);
}
