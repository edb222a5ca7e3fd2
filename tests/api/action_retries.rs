//! Cancel, retries that succeed, retries that run out, and listing.

use std::time::Duration;

use patchbay::{
    actions::ActionConfig,
    auth::Role,
    proto::v1::{ActionState, CancelActionRequest, ListActionsRequest},
};
use serde_json::json;
use tonic::Code;

use crate::{
    actions::{DISPATCH, app_with, fast_actions, owner, start_request, state, wait_state},
    audit_reads::list_all,
    fakes::{FakeProvider, Reply},
    helpers::assert_error,
};

#[tokio::test]
async fn cancel_stops_pending_and_running_actions_and_refuses_finished_ones() {
    let fake = FakeProvider::start().await;
    fake.set(
        DISPATCH,
        Reply::status(204).delayed(Duration::from_secs(20)),
    );
    let app = app_with(
        &fake,
        ActionConfig {
            workers: 1,
            ..fast_actions()
        },
    )
    .await;
    let mut actions = app.actions(Some(&owner(&app)));
    let running = actions
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start")
        .into_inner();
    wait_state(&app, &running.name, ActionState::Running).await;
    // The only worker is busy: this one waits in the queue.
    let pending = actions
        .start_action(start_request("web", "pull", json!({})))
        .await
        .expect("start")
        .into_inner();

    let cancelled = actions
        .cancel_action(CancelActionRequest {
            name: pending.name.clone(),
        })
        .await
        .expect("cancel pending")
        .into_inner();
    assert_eq!(
        state(&cancelled),
        ActionState::Cancelled,
        "a pending action stops at once"
    );

    // The answer waits for the worker to stop the effect.
    let answered = actions
        .cancel_action(CancelActionRequest {
            name: running.name.clone(),
        })
        .await
        .expect("cancel running")
        .into_inner();
    assert_eq!(state(&answered), ActionState::Cancelled, "{answered:#?}");
    let stopped = wait_state(&app, &running.name, ActionState::Cancelled).await;
    assert!(stopped.end_time.is_some());

    let again = actions
        .cancel_action(CancelActionRequest {
            name: running.name.clone(),
        })
        .await;
    assert_error(again, Code::FailedPrecondition, "ACTION_FINISHED");
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let denied = app
        .actions(Some(&viewer))
        .cancel_action(CancelActionRequest {
            name: pending.name.clone(),
        })
        .await;
    assert_error(denied, Code::PermissionDenied, "ROLE_INSUFFICIENT");
    // The pulled-from-the-queue action never reached the provider.
    assert_eq!(fake.seen().iter().filter(|s| s.path == DISPATCH).count(), 1);

    // Two starts and two cancels are audited; the refused cancels are not.
    let admin = app.token("auditor", &[("acme", Role::Admin)]);
    let audited = list_all(&app, &admin, "projects/acme", "", 50).await;
    let actions_audited: Vec<(&str, &str)> = audited
        .iter()
        .filter(|e| e.method.starts_with("ActionService."))
        .map(|e| (e.method.as_str(), e.resource.as_str()))
        .collect();
    assert_eq!(
        actions_audited,
        [
            ("ActionService.CancelAction", running.name.as_str()),
            ("ActionService.CancelAction", pending.name.as_str()),
            ("ActionService.StartAction", pending.name.as_str()),
            ("ActionService.StartAction", running.name.as_str()),
        ]
    );
    let change = |i: usize, field: &str| {
        audited[i]
            .changes
            .iter()
            .find(|c| c.field == field)
            .map(|c| (c.before.clone(), c.after.clone()))
    };
    assert_eq!(
        change(1, "state"),
        Some(("pending".into(), "cancelled".into())),
        "the pending one stopped at once"
    );
    assert_eq!(
        change(0, "cancel_requested"),
        Some(("false".into(), "true".into())),
        "the running one was asked to stop"
    );
    assert_eq!(audited[3].request_id, running.request_id);
    assert_eq!(change(3, "action"), Some((String::new(), "push".into())));
}

#[tokio::test]
async fn a_running_cancel_stops_the_effect_promptly_and_a_late_one_is_refused() {
    let fake = FakeProvider::start().await;
    // Longer than the test waits, far shorter than a 30 s lease's heartbeat.
    fake.set(DISPATCH, Reply::status(204).delayed(Duration::from_secs(8)));
    let app = app_with(
        &fake,
        ActionConfig {
            lease: Duration::from_secs(30),
            ..fast_actions()
        },
    )
    .await;
    let mut actions = app.actions(Some(&owner(&app)));
    let running = actions
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start")
        .into_inner();
    wait_state(&app, &running.name, ActionState::Running).await;
    let asked = tokio::time::Instant::now();
    let answered = actions
        .cancel_action(CancelActionRequest {
            name: running.name.clone(),
        })
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(state(&answered), ActionState::Cancelled, "{answered:#?}");
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "stopped before the effect could finish"
    );

    // One that arrives after the effect completed is refused, saying so.
    fake.set(DISPATCH, Reply::status(204));
    let done = actions
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start")
        .into_inner();
    wait_state(&app, &done.name, ActionState::Succeeded).await;
    let late = assert_error(
        actions
            .cancel_action(CancelActionRequest { name: done.name })
            .await,
        Code::FailedPrecondition,
        "ACTION_FINISHED",
    );
    use tonic_types::StatusExt as _;
    assert_eq!(
        late.get_error_details()
            .error_info()
            .and_then(|i| i.metadata.get("state").cloned())
            .as_deref(),
        Some("SUCCEEDED")
    );
}

#[tokio::test]
async fn a_transient_failure_is_retried_until_it_succeeds() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(503));
    let app = app_with(&fake, fast_actions()).await;
    let started = app
        .actions(Some(&owner(&app)))
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start")
        .into_inner();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake.hits_on(DISPATCH) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "never retried");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.set(DISPATCH, Reply::status(204));
    let done = wait_state(&app, &started.name, ActionState::Succeeded).await;
    assert!(
        done.attempts >= 3,
        "two failures, then success: {}",
        done.attempts
    );
    assert_eq!(
        usize::try_from(done.attempts).ok(),
        Some(fake.hits_on(DISPATCH))
    );
    assert!(done.error.is_none());
}

#[tokio::test]
async fn retries_run_out_and_the_action_fails_with_a_status() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(503));
    let app = app_with(
        &fake,
        ActionConfig {
            max_attempts: 3,
            ..fast_actions()
        },
    )
    .await;
    let mut actions = app.actions(Some(&owner(&app)));
    let started = actions
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start")
        .into_inner();
    let failed = wait_state(&app, &started.name, ActionState::Failed).await;
    assert_eq!(failed.attempts, 3);
    assert_eq!(fake.hits_on(DISPATCH), 3);
    let error = failed.error.expect("a google.rpc.Status");
    assert_eq!(error.code, Code::Unavailable as i32);
    assert!(error.message.contains("503"), "{}", error.message);
    assert!(!error.details.is_empty(), "ErrorInfo travels with it");

    // A definitive answer fails at once.
    fake.set(DISPATCH, Reply::status(404));
    let started = actions
        .start_action(start_request("web", "pull", json!({})))
        .await
        .expect("start")
        .into_inner();
    let failed = wait_state(&app, &started.name, ActionState::Failed).await;
    assert_eq!(failed.attempts, 1);
    assert_eq!(
        failed.error.expect("status").code,
        Code::FailedPrecondition as i32
    );

    let listed = actions
        .list_actions(ListActionsRequest {
            parent: "projects/acme".into(),
            filter: "state = FAILED".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.actions.len(), 1);
    assert_eq!(listed.actions[0].name, started.name, "newest first");
    let next = actions
        .list_actions(ListActionsRequest {
            parent: "projects/acme".into(),
            filter: "state = FAILED".into(),
            page_size: 1,
            page_token: listed.next_page_token,
        })
        .await
        .expect("next page")
        .into_inner();
    assert_eq!(next.actions.len(), 1);
    assert!(next.next_page_token.is_empty());
}
