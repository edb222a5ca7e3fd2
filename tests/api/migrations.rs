use patchbay::store::{self, migrate};

use crate::{
    database::empty_database,
    helpers::{TestOptions, spawn_app_with},
};

async fn history_versions(config: &tokio_postgres::Config) -> Vec<i32> {
    let client = store::connect(config).await.expect("connect");
    client
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .expect("history")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn expected_versions() -> Vec<i32> {
    (1..=migrate::latest_version() as i32).collect()
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = empty_database().await;
    let mut client = store::connect(&db).await.expect("connect");
    assert_eq!(
        migrate::applied_version(&client).await.expect("version"),
        None
    );

    let first = migrate::run(&mut client).await.expect("first run");
    assert_eq!(first.len() as i64, migrate::latest_version());
    let second = migrate::run(&mut client).await.expect("second run");
    assert!(second.is_empty(), "nothing left to apply: {second:?}");
    assert_eq!(
        migrate::applied_version(&client).await.expect("version"),
        Some(migrate::latest_version())
    );
    assert_eq!(history_versions(&db).await, expected_versions());
}

#[tokio::test]
async fn concurrent_migrations_apply_each_migration_once() {
    let db = empty_database().await;
    let runs = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut client = store::connect(&db).await.expect("connect");
            migrate::run(&mut client).await.expect("migrate").len()
        })
    });
    let mut applied = 0;
    for run in runs.collect::<Vec<_>>() {
        applied += run.await.expect("task");
    }
    assert_eq!(applied as i64, migrate::latest_version());
    assert_eq!(history_versions(&db).await, expected_versions());
}

#[tokio::test]
async fn two_servers_starting_together_on_an_empty_database_both_serve() {
    let db = empty_database().await;
    let options = || TestOptions {
        database: Some(db.clone()),
        ..TestOptions::default()
    };
    let (a, b) = tokio::join!(spawn_app_with(options()), spawn_app_with(options()));
    assert_eq!(history_versions(&db).await, expected_versions());

    let client = store::connect(&db).await.expect("connect");
    let replicas: i64 = client
        .query_one("SELECT count(*) FROM replicas", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(replicas, 2, "each server registered itself");
    a.stop().await.expect("a stops cleanly");
    b.stop().await.expect("b stops cleanly");
    let replicas: i64 = client
        .query_one("SELECT count(*) FROM replicas", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(replicas, 0, "each server deregistered on shutdown");
}
