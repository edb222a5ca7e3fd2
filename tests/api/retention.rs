//! Retention cleanup: with two replicas on one database and a short audit
//! retention, one of them purges the old entries, once, in batches, and
//! every chain still verifies.

use std::time::Duration;

use patchbay::{
    proto::v1::AuditEvent,
    retention::RetentionConfig,
    store::{self, maintenance},
};

use crate::{
    audit_log::{five_changes, intact, tamper, verdict},
    audit_reads::list_all,
    connections::create_github,
    helpers::{TestApp, TestOptions, spawn_app, spawn_app_with},
};

/// The retention job's completed runs and last result.
async fn job(app: &TestApp) -> maintenance::JobRecord {
    let pool = store::pool(app.database.clone(), 1).expect("pool");
    let client = pool.get().await.expect("a connection");
    maintenance::record(&client, "retention")
        .await
        .expect("read the job")
        .expect("the job exists")
}

async fn wait_for_runs(app: &TestApp, runs: i64) -> maintenance::JobRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let record = job(app).await;
        if record.runs >= runs {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cleanup never ran: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn replica(first: &TestApp) -> TestApp {
    spawn_app_with(TestOptions {
        database: Some(first.database.clone()),
        keys: Some(first.keys.clone()),
        keyring: Some(first.keyring.clone()),
        retention: RetentionConfig {
            audit: Duration::from_secs(3600),
            check: Duration::from_millis(20),
            batch: 2,
            ..RetentionConfig::default()
        },
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn one_of_two_replicas_purges_old_entries_once_and_the_chain_still_verifies() {
    let app = spawn_app().await;
    // Its own start-up run, with the default retention, purges nothing.
    let first = wait_for_runs(&app, 1).await;
    assert_eq!(
        first.last_result,
        Some(serde_json::json!({"audit_entries": 0, "audit_chains": 0}))
    );
    five_changes(&app).await;
    create_github(&app, "other", "gh").await;
    // Three of acme's entries are older than the replicas' hour.
    tamper(
        &app,
        "UPDATE audit_events SET time = time - interval '2 hours' \
         WHERE project = 'acme' AND seq <= 3",
    )
    .await;
    app.db()
        .await
        .execute(
            "UPDATE maintenance_jobs SET next_run_at = now() WHERE name = 'retention'",
            &[],
        )
        .await
        .expect("due now");

    let (a, b) = tokio::join!(replica(&app), replica(&app));
    let record = wait_for_runs(&app, 2).await;
    assert_eq!(
        record.last_result,
        Some(serde_json::json!({"audit_entries": 3, "audit_chains": 1}))
    );
    assert!(record.next_run_at > chrono::Utc::now() + chrono::Duration::hours(23));

    let root = app.admin_token("root");
    let kept: Vec<AuditEvent> = list_all(&a, &root, "projects/acme", "", 50).await;
    let names: Vec<(&str, &str)> = kept
        .iter()
        .map(|e| (e.name.as_str(), e.method.as_str()))
        .collect();
    // Two batches of two: seq 1-2, then 3 (4 is young), each recorded.
    assert_eq!(
        names,
        [
            ("projects/acme/auditEvents/7", "maintenance.retention"),
            ("projects/acme/auditEvents/6", "maintenance.retention"),
            (
                "projects/acme/auditEvents/5",
                "IntegrationRegistry.DeleteConnection"
            ),
            (
                "projects/acme/auditEvents/4",
                "IntegrationRegistry.RotateWebhookSecret"
            ),
        ]
    );
    let purged: Vec<(String, String)> = kept[..2]
        .iter()
        .map(|e| {
            let field = |name: &str| {
                e.changes
                    .iter()
                    .find(|c| c.field == name)
                    .map(|c| c.after.clone())
                    .unwrap_or_default()
            };
            (field("purged_through_seq"), field("purged_entries"))
        })
        .collect();
    assert_eq!(purged, [("3".into(), "1".into()), ("2".into(), "2".into())]);
    assert_eq!(kept[0].actor, "patchbay retention");
    assert_eq!(verdict(&b, "projects/acme").await, intact(4));
    assert_eq!(verdict(&b, "projects/other").await, intact(1));
    assert_eq!(verdict(&b, "projects/-").await, intact(5));
    assert_eq!(
        job(&app).await.runs,
        2,
        "the other replica did not run it again"
    );
}
