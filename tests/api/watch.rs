//! WatchProjectStatus: snapshot, resume, expired resume, heartbeats, a slow
//! consumer that loses nothing, and events from another replica.

use std::time::Duration;

use patchbay::{
    app::StatusConfig,
    auth::Role,
    names::ProjectId,
    proto::v1::{
        StatusUpdate, WatchProjectStatusRequest, status_service_client::StatusServiceClient,
        status_update::Event,
    },
    status::events::EventPayload,
    store,
};
use tonic::{Code, Streaming};
use tonic_types::StatusExt as _;

use crate::{
    connections::create_github,
    helpers::{Authed, TestApp, TestOptions, reason, spawn_app_with},
    status::two_replicas,
};

pub fn watch_request(resume_from: Option<i64>, heartbeat: Duration) -> WatchProjectStatusRequest {
    WatchProjectStatusRequest {
        project: "projects/acme".into(),
        resume_from,
        heartbeat_interval: Some(prost_types::Duration {
            seconds: i64::try_from(heartbeat.as_secs()).unwrap_or(0),
            nanos: i32::try_from(heartbeat.subsec_nanos()).unwrap_or(0),
        }),
        include_types: vec![],
    }
}

pub async fn watch(app: &TestApp, request: WatchProjectStatusRequest) -> Streaming<StatusUpdate> {
    let token = app.token("watcher", &[("acme", Role::Viewer)]);
    let mut client: StatusServiceClient<Authed> = app.status(Some(&token));
    client
        .watch_project_status(request)
        .await
        .expect("watch")
        .into_inner()
}

pub async fn next(stream: &mut Streaming<StatusUpdate>) -> StatusUpdate {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an update within 10 s")
        .expect("a healthy stream")
        .expect("the stream is open")
}

/// The next update that is not a heartbeat.
pub async fn next_event(stream: &mut Streaming<StatusUpdate>) -> StatusUpdate {
    loop {
        let update = next(stream).await;
        if !matches!(update.event, Some(Event::Heartbeat(_))) {
            return update;
        }
    }
}

/// Logs `count` action_progress events for `project` straight into the log,
/// one transaction each.
async fn log_progress(app: &TestApp, project: &str, count: i32) {
    log_progress_in(app, project, count, 1).await;
}

/// Logs `count` events, `per_transaction` to a commit: a large batch is
/// published in one burst, far faster than any watcher drains it.
async fn log_progress_in(app: &TestApp, project: &str, count: i32, per_transaction: i32) {
    let pool = store::pool(app.database.clone(), 2).expect("pool");
    let mut client = pool.get().await.expect("client");
    let project = ProjectId::parse(project).expect("project id");
    let mut percent = 0;
    while percent < count {
        let tx = client.transaction().await.expect("tx");
        for _ in 0..per_transaction.min(count - percent) {
            store::status::append(
                &tx,
                &project,
                &EventPayload::ActionProgress {
                    action: "projects/acme/actions/a1".into(),
                    connection: "projects/acme/connections/web".into(),
                    state: patchbay::actions::model::ActionState::Running,
                    percent,
                    message: format!("step {percent}"),
                },
            )
            .await
            .expect("append");
            percent += 1;
        }
        tx.commit().await.expect("commit");
    }
}

/// A server whose event follower polls every 100 ms.
async fn watch_app() -> TestApp {
    spawn_app_with(TestOptions {
        status: fast(),
        ..Default::default()
    })
    .await
}

fn fast() -> StatusConfig {
    StatusConfig {
        event_backstop: Duration::from_millis(100),
        ..StatusConfig::default()
    }
}

#[tokio::test]
async fn a_watch_starts_with_a_snapshot_then_follows_and_resumes() {
    let app = watch_app().await;
    create_github(&app, "acme", "one").await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(60))).await;
    let snapshot = next(&mut stream).await;
    let Some(Event::Snapshot(envelope)) = &snapshot.event else {
        panic!("first comes the snapshot: {snapshot:?}")
    };
    assert_eq!(envelope.items.len(), 1);
    assert_eq!(envelope.seq, snapshot.seq);
    let end = next(&mut stream).await;
    assert!(matches!(end.event, Some(Event::SnapshotEnd(_))));
    assert_eq!(end.seq, snapshot.seq);

    create_github(&app, "acme", "two").await;
    let changed = next_event(&mut stream).await;
    let Some(Event::ItemChanged(item)) = &changed.event else {
        panic!("then live events: {changed:?}")
    };
    assert!(changed.seq > snapshot.seq);
    assert_eq!(
        item.item.as_ref().map(|i| i.connection.as_str()),
        Some("projects/acme/connections/two")
    );
    assert!(!item.hash.is_empty());
    drop(stream);

    // Resuming replays exactly what came after the position, then goes live.
    log_progress(&app, "acme", 3).await;
    let mut resumed = watch(
        &app,
        watch_request(Some(snapshot.seq), Duration::from_secs(60)),
    )
    .await;
    let first = next_event(&mut resumed).await;
    assert_eq!(
        first.seq, changed.seq,
        "no snapshot on resume; the next event"
    );
    let mut seqs = vec![first.seq];
    for _ in 0..3 {
        let update = next_event(&mut resumed).await;
        assert!(matches!(update.event, Some(Event::ActionProgress(_))));
        seqs.push(update.seq);
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    log_progress(&app, "acme", 1).await;
    let live = next_event(&mut resumed).await;
    assert!(live.seq > seqs[3]);
}

#[tokio::test]
async fn a_resume_position_older_than_the_log_is_out_of_range() {
    let app = watch_app().await;
    log_progress(&app, "acme", 5).await;
    // Retention removed the oldest events.
    let db = app.db().await;
    db.execute("DELETE FROM status_events WHERE seq <= 3", &[])
        .await
        .expect("purge");
    let token = app.token("watcher", &[("acme", Role::Viewer)]);
    let result = app
        .status(Some(&token))
        .watch_project_status(watch_request(Some(1), Duration::from_secs(60)))
        .await;
    let status = result.expect_err("expired");
    assert_eq!(status.code(), Code::OutOfRange);
    assert_eq!(reason(&status), "RESUME_POSITION_EXPIRED");
    let oldest = status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get("oldest_seq").cloned());
    assert_eq!(oldest.as_deref(), Some("4"));
    // A position just before the oldest retained event is still whole.
    let mut stream = watch(&app, watch_request(Some(3), Duration::from_secs(60))).await;
    assert_eq!(next_event(&mut stream).await.seq, 4);
}

#[tokio::test]
async fn heartbeats_carry_the_head() {
    let app = watch_app().await;
    let mut stream = watch(&app, watch_request(None, Duration::from_millis(200))).await;
    let snapshot = next(&mut stream).await;
    next(&mut stream).await;
    // Another project's event moves the head without an event for us.
    log_progress(&app, "elsewhere", 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let update = next(&mut stream).await;
        let Some(Event::Heartbeat(_)) = update.event else {
            panic!("only heartbeats on an idle project: {update:?}")
        };
        if update.seq > snapshot.seq {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the heartbeat never advanced"
        );
    }
}

#[tokio::test]
async fn a_slow_consumer_drains_everything_in_order_without_gaps() {
    let app = spawn_app_with(TestOptions {
        status: StatusConfig {
            watch_buffer: 16,
            ..fast()
        },
        ..Default::default()
    })
    .await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(60))).await;
    let snapshot = next(&mut stream).await;
    next(&mut stream).await;
    // Far more events than the live buffer holds, in one burst, while
    // nobody reads: the watcher's live feed overflows.
    log_progress_in(&app, "acme", 400, 400).await;
    // Overflowed for certain once this replica has read all 400: it has
    // offered each to the watcher's live feed.
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let envelope = app
            .status(Some(&owner))
            .get_project_status(patchbay::proto::v1::GetProjectStatusRequest {
                project: "projects/acme".into(),
                ..Default::default()
            })
            .await
            .expect("status")
            .into_inner();
        if envelope.seq >= snapshot.seq + 400 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the log was never read"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut percents = Vec::new();
    let mut last = snapshot.seq;
    while percents.len() < 400 {
        let update = next_event(&mut stream).await;
        assert_eq!(update.seq, last + 1, "no gap and no repeat");
        last = update.seq;
        let Some(Event::ActionProgress(progress)) = update.event else {
            panic!("{update:?}")
        };
        percents.push(progress.percent);
    }
    assert_eq!(percents, (0..400).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_event_made_on_one_replica_reaches_a_watcher_on_another() {
    let (a, b) = two_replicas(fast()).await;
    let mut stream = watch(&b, watch_request(None, Duration::from_secs(60))).await;
    next(&mut stream).await;
    next(&mut stream).await;
    create_github(&a, "acme", "made-on-a").await;
    let update = next_event(&mut stream).await;
    let Some(Event::ItemChanged(changed)) = update.event else {
        panic!("{update:?}")
    };
    assert_eq!(
        changed.item.map(|i| i.connection),
        Some("projects/acme/connections/made-on-a".to_owned())
    );
}

#[tokio::test]
async fn shutdown_ends_watches_with_unavailable() {
    let app = watch_app().await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(60))).await;
    next(&mut stream).await;
    next(&mut stream).await;
    let stopping = tokio::spawn(app.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the stream ends promptly");
    let status = ended.expect_err("ends with an error status");
    assert_eq!(status.code(), Code::Unavailable);
    stopping.await.expect("join").expect("clean stop");
}

#[tokio::test]
async fn retention_drops_the_oldest_events_and_keeps_the_head() {
    let app = watch_app().await;
    log_progress(&app, "acme", 5).await;
    let pool = store::pool(app.database.clone(), 1).expect("pool");
    let db = pool.get().await.expect("client");
    let retention = Duration::from_secs(24 * 3600);
    let age = |seqs: &'static str| {
        format!("UPDATE status_events SET created_at = now() - interval '2 days' WHERE seq {seqs}")
    };
    let remaining = async |db: &tokio_postgres::Client| -> Vec<i64> {
        db.query("SELECT seq FROM status_events ORDER BY seq", &[])
            .await
            .expect("events")
            .iter()
            .map(|row| row.get(0))
            .collect()
    };

    // Nothing is old yet.
    assert_eq!(
        store::status::purge(&db, retention).await.expect("purge"),
        0
    );
    // The three oldest are past retention; an old event after a young one
    // (committed late) waits for the next purge rather than leave a hole.
    db.execute(&age("<= 3 OR seq = 5"), &[]).await.expect("age");
    assert_eq!(
        store::status::purge(&db, retention).await.expect("purge"),
        3
    );
    assert_eq!(remaining(&db).await, vec![4, 5]);
    // Everything is old: the newest stays, so the head survives.
    db.execute(&age("> 0"), &[]).await.expect("age");
    assert_eq!(
        store::status::purge(&db, retention).await.expect("purge"),
        1
    );
    assert_eq!(remaining(&db).await, vec![5]);
}
