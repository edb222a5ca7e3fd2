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
            history: Duration::from_secs(3600),
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
        Some(serde_json::json!({
            "audit_entries": 0, "audit_chains": 0,
            "health_samples": 0, "alerts": 0, "notifications": 0, "runs": 0,
        }))
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
    // Health history: three samples older than the replicas' hour, one not.
    tamper(
        &app,
        "INSERT INTO health_samples (project, connection, time, source, ok) \
         SELECT 'acme', 'gh', now() - n * interval '2 hours', 'probe', true \
         FROM generate_series(0, 3) AS n",
    )
    .await;
    // Alerts: resolved two hours ago (goes), resolved now, and firing since
    // two hours ago (both stay). Notifications: delivered two hours ago
    // (goes), pending as long (stays: it is still to be sent), delivered now.
    tamper(
        &app,
        "INSERT INTO alerts (project, id, rule_id, connection, severity, state, summary, \
           fire_time, resolve_time, resolve_reason, etag) VALUES \
         ('other', 'old', 'r', 'gh', 'info', 'resolved', 's', now() - interval '3 hours', \
           now() - interval '2 hours', 'QUIET_PERIOD', 'e'), \
         ('other', 'new', 'r', 'gh', 'info', 'resolved', 's', now() - interval '3 hours', \
           now(), 'QUIET_PERIOD', 'e'), \
         ('other', 'firing', 'r', 'gh', 'info', 'firing', 's', now() - interval '2 hours', \
           NULL, NULL, 'e'); \
         INSERT INTO notification_channels (project, id, display_name, kind, recipients, etag) \
         VALUES ('other', 'mail', 'Mail', 'email', '{ops@example.com}', 'e'); \
         INSERT INTO alert_notifications (project, id, channel, event_type, payload, state, \
           create_time) VALUES \
         ('other', 'old', 'mail', 'alert.test', '{}', 'delivered', now() - interval '2 hours'), \
         ('other', 'waiting', 'mail', 'alert.test', '{}', 'pending', now() - interval '2 hours'), \
         ('other', 'new', 'mail', 'alert.test', '{}', 'delivered', now()); \
         INSERT INTO automations (project, id, draft, etag) VALUES ('other', 'auto', '{}', 'e'); \
         INSERT INTO automation_runs (project, automation, id, version, trigger, event, state, \
           end_time) VALUES \
         ('other', 'auto', 'old', 1, 'manual', '{}', 'succeeded', now() - interval '2 hours'), \
         ('other', 'auto', 'waiting', 1, 'manual', '{}', 'waiting', NULL), \
         ('other', 'auto', 'new', 1, 'manual', '{}', 'failed', now())",
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
        Some(serde_json::json!({
            "audit_entries": 3, "audit_chains": 1,
            "health_samples": 3, "alerts": 1, "notifications": 1, "runs": 1,
        }))
    );
    let db = app.db().await;
    let ids = |table: &'static str| {
        let db = &db;
        async move {
            let rows = db
                .query(
                    &format!("SELECT id FROM {table} WHERE project = 'other' ORDER BY id"),
                    &[],
                )
                .await
                .expect("ids");
            rows.iter().map(|r| r.get(0)).collect::<Vec<String>>()
        }
    };
    assert_eq!(ids("alerts").await, ["firing", "new"]);
    assert_eq!(ids("alert_notifications").await, ["new", "waiting"]);
    assert_eq!(ids("automation_runs").await, ["new", "waiting"]);
    let left: i64 = app
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM health_samples WHERE project = 'acme'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 1, "the young sample stays");
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

#[tokio::test]
async fn a_lease_is_held_by_one_owner_and_lost_once_it_expires() {
    let app = spawn_app().await;
    wait_for_runs(&app, 1).await;
    // Stopped, so its own cleanup loop cannot claim the job meanwhile.
    let database = app.database.clone();
    app.stop().await.expect("clean stop");
    let pool = store::pool(database, 1).expect("pool");
    let client = pool.get().await.expect("a connection");
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let lease = Duration::from_secs(300);
    let job = "retention";
    let due = "UPDATE maintenance_jobs SET next_run_at = now() WHERE name = 'retention'";
    client.execute(due, &[]).await.expect("due now");
    assert!(
        maintenance::claim(&client, job, a, lease)
            .await
            .expect("claim")
    );
    assert!(
        !maintenance::claim(&client, job, b, lease)
            .await
            .expect("claim"),
        "held by a"
    );
    assert!(
        maintenance::renew(&client, job, a, lease)
            .await
            .expect("renew")
    );
    assert!(
        !maintenance::renew(&client, job, b, lease)
            .await
            .expect("renew"),
        "not b's"
    );

    // a goes quiet past its lease: b takes over, and a finds out.
    client
        .execute(
            "UPDATE maintenance_jobs SET lease_expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .expect("expire");
    assert!(
        maintenance::claim(&client, job, b, lease)
            .await
            .expect("claim")
    );
    assert!(
        !maintenance::renew(&client, job, a, lease)
            .await
            .expect("renew"),
        "lost"
    );
    let result = serde_json::json!({});
    let every = Duration::from_secs(3600);
    assert!(
        !maintenance::finish(&client, job, a, every, &result)
            .await
            .expect("finish"),
        "a's late finish does not count"
    );
    let before = job_record(&client).await.runs;
    assert!(
        maintenance::finish(&client, job, b, every, &result)
            .await
            .expect("finish")
    );
    let after = job_record(&client).await;
    assert_eq!(after.runs, before + 1);
    assert!(after.next_run_at > chrono::Utc::now() + chrono::Duration::minutes(59));
    assert!(
        !maintenance::claim(&client, job, a, lease)
            .await
            .expect("claim"),
        "not due again before its interval"
    );

    // Released unfinished, it is due again at once.
    client.execute(due, &[]).await.expect("due now");
    assert!(
        maintenance::claim(&client, job, a, lease)
            .await
            .expect("claim")
    );
    maintenance::release(&client, job, a)
        .await
        .expect("release");
    assert!(
        maintenance::claim(&client, job, b, lease)
            .await
            .expect("claim")
    );
}

async fn job_record(client: &deadpool_postgres::Client) -> maintenance::JobRecord {
    maintenance::record(client, "retention")
        .await
        .expect("read")
        .expect("the job")
}
