//! ActionService: the queue and its workers, idempotency, roles, the rate
//! limit across replicas, cancel, retries, and real effects against fake
//! providers.

use std::time::Duration;

use patchbay::{
    actions::ActionConfig,
    app::StatusConfig,
    auth::Role,
    proto::v1::{
        Action, ActionState, GetActionRequest, ListActionsRequest, StartActionRequest,
        status_update::Event,
    },
};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::{
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, assert_error, spawn_app_with},
    status::{active_github, fast_status},
    watch::{next_event, watch, watch_request},
};

pub const DISPATCH: &str = "/repos/acme/web/dispatches";

pub fn fast_actions() -> ActionConfig {
    ActionConfig {
        lease: Duration::from_secs(2),
        retry_base: Duration::from_millis(50),
        poll: Duration::from_millis(50),
        rate_limit: 100,
        ..ActionConfig::default()
    }
}

/// Probes and effects of github, vercel and hubspot go to `fake`.
pub fn provider_status(fake: &FakeProvider) -> StatusConfig {
    let mut status = fast_status(fake);
    for ty in ["vercel", "hubspot", "sanity", "salesforce"] {
        status.prober.base_uris.insert(ty, fake.url());
    }
    status
}

pub async fn app_with(fake: &FakeProvider, actions: ActionConfig) -> TestApp {
    let app = spawn_app_with(TestOptions {
        status: provider_status(fake),
        actions,
        ..TestOptions::default()
    })
    .await;
    active_github(&app, "web").await;
    app
}

pub fn start_request(connection: &str, action: &str, params: Value) -> StartActionRequest {
    StartActionRequest {
        connection: format!("projects/acme/connections/{connection}"),
        action: action.into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        params: serde_json::from_value::<serde_json::Map<String, Value>>(params)
            .ok()
            .map(|m| patchbay::proto::json::json_to_struct(&m)),
    }
}

pub fn owner(app: &TestApp) -> String {
    app.token("owner", &[("acme", Role::Owner)])
}

pub fn state(action: &Action) -> ActionState {
    ActionState::try_from(action.state).unwrap_or(ActionState::Unspecified)
}

/// Polls the action until it reaches `wanted` (15 s at most).
pub async fn wait_state(app: &TestApp, name: &str, wanted: ActionState) -> Action {
    let token = owner(app);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let action = app
            .actions(Some(&token))
            .get_action(GetActionRequest { name: name.into() })
            .await
            .expect("get action")
            .into_inner();
        if state(&action) == wanted {
            return action;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never became {wanted:?}: {action:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_action_starts_pending_runs_once_and_reports_progress_on_the_watch() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(204));
    let app = app_with(&fake, fast_actions()).await;
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(60))).await;
    while !matches!(
        next_event(&mut stream).await.event,
        Some(Event::SnapshotEnd(_))
    ) {}

    let request = start_request("web", "push", json!({"client_payload": {"ref": "main"}}));
    let started = app
        .actions(Some(&owner(&app)))
        .start_action(request)
        .await
        .expect("start")
        .into_inner();
    assert_eq!(
        state(&started),
        ActionState::Pending,
        "returned at once, queued"
    );
    assert!(started.name.starts_with("projects/acme/actions/"));
    assert_eq!(started.requested_by, "owner");

    let done = wait_state(&app, &started.name, ActionState::Succeeded).await;
    assert_eq!(done.attempts, 1);
    assert_eq!(done.progress_percent, 100);
    let result = patchbay::proto::json::struct_to_json(done.result.as_ref().expect("result"));
    assert_eq!(result["event_type"], "patchbay.push");
    let dispatched = fake
        .seen()
        .into_iter()
        .find(|s| s.path == DISPATCH)
        .expect("dispatched");
    let body: Value = serde_json::from_slice(&dispatched.body).expect("json");
    // The payload carries the action's id, so a workflow can skip a repeat.
    let id = started.name.rsplit('/').next().expect("an id");
    assert_eq!(
        body,
        json!({"event_type": "patchbay.push", "client_payload": {"ref": "main", "patchbay_action_id": id}})
    );
    assert_eq!(
        dispatched
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer ghp_test")
    );

    // The same ActionState enum as Action.state.
    let mut states = Vec::new();
    while states.last() != Some(&ActionState::Succeeded) {
        if let Some(Event::ActionProgress(p)) = next_event(&mut stream).await.event {
            assert_eq!(p.action, started.name);
            states.push(p.state());
        }
    }
    assert_eq!(states.first(), Some(&ActionState::Pending));
    assert!(states.contains(&ActionState::Running), "{states:?}");

    // params.event_type names the dispatch instead.
    let named = app
        .actions(Some(&owner(&app)))
        .start_action(start_request(
            "web",
            "pull",
            json!({"event_type": "deploy.preview"}),
        ))
        .await
        .expect("start")
        .into_inner();
    let done = wait_state(&app, &named.name, ActionState::Succeeded).await;
    let result = patchbay::proto::json::struct_to_json(done.result.as_ref().expect("result"));
    assert_eq!(result["event_type"], "deploy.preview");
}

#[tokio::test]
async fn a_replayed_request_id_returns_the_same_action_and_a_changed_one_is_refused() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(204));
    let app = app_with(&fake, fast_actions()).await;
    let mut actions = app.actions(Some(&owner(&app)));
    let request = start_request("web", "push", json!({}));
    let first = actions
        .start_action(request.clone())
        .await
        .expect("first")
        .into_inner();
    wait_state(&app, &first.name, ActionState::Succeeded).await;
    let replay = actions
        .start_action(request.clone())
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replay.name, first.name);
    assert_eq!(
        state(&replay),
        ActionState::Succeeded,
        "the replay shows the first action"
    );
    // Effects run only from action rows: one row, finished, is one effect.
    let rows: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM actions", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 1, "the replay queued nothing");
    assert_eq!(fake.hits_on(DISPATCH), 1, "no second effect");

    let mut changed = request;
    changed.action = "pull".into();
    let refused = actions.start_action(changed).await;
    assert_error(refused, Code::AlreadyExists, "REQUEST_ID_REUSED");

    let mut missing = start_request("web", "push", json!({}));
    missing.request_id.clear();
    assert_error(
        actions.start_action(missing).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let mut unknown = start_request("web", "launch-rockets", json!({}));
    unknown.request_id = uuid::Uuid::new_v4().to_string();
    assert_error(
        actions.start_action(unknown).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn each_role_may_start_exactly_the_actions_its_role_allows() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(204));
    let app = app_with(&fake, fast_actions()).await;
    // push needs editor; disconnect needs admin.
    for (role, push_ok, disconnect_ok) in [
        (Role::Viewer, false, false),
        (Role::Editor, true, false),
        (Role::Admin, true, true),
        (Role::Owner, true, true),
    ] {
        let token = app.token(&format!("{role:?}"), &[("acme", role)]);
        let mut actions = app.actions(Some(&token));
        for (action, allowed, required) in [
            ("push", push_ok, "editor"),
            ("disconnect", disconnect_ok, "admin"),
        ] {
            // Validate the permission only: a fresh connection per admitted disconnect.
            let result = actions
                .start_action(start_request("web", action, json!({})))
                .await;
            if allowed {
                let started = result.unwrap_or_else(|e| panic!("{role:?} {action}: {e:?}"));
                let done = wait_state(&app, &started.get_ref().name, ActionState::Succeeded).await;
                assert_eq!(done.requested_by, format!("{role:?}"));
                if action == "disconnect" {
                    active_github_again(&app).await;
                }
            } else {
                let status = result.expect_err("denied");
                assert_eq!(status.code(), Code::PermissionDenied, "{role:?} {action}");
                let info = status
                    .get_error_details()
                    .error_info()
                    .cloned()
                    .expect("error info");
                assert_eq!(info.reason, "ROLE_INSUFFICIENT");
                assert_eq!(
                    info.metadata.get("required_role").map(String::as_str),
                    Some(required)
                );
            }
        }
    }
    let outsider = app.token("outsider", &[("other", Role::Owner)]);
    let denied = app
        .actions(Some(&outsider))
        .start_action(start_request("web", "push", json!({})))
        .await;
    assert_error(denied, Code::PermissionDenied, "PROJECT_ACCESS_DENIED");
    let listed = app
        .actions(Some(&outsider))
        .list_actions(ListActionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await;
    assert_error(listed, Code::PermissionDenied, "PROJECT_ACCESS_DENIED");
}

/// Disconnect revoked `web`: give it credentials again.
async fn active_github_again(app: &TestApp) {
    let token = owner(app);
    app.registry(Some(&token))
        .set_connection_credentials(patchbay::proto::v1::SetConnectionCredentialsRequest {
            name: "projects/acme/connections/web".into(),
            credentials: [("access_token".to_owned(), "ghp_test".to_owned())].into(),
            etag: String::new(),
        })
        .await
        .expect("credentials");
}

#[tokio::test]
async fn the_rate_limit_holds_across_replicas_skips_replays_and_resets() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(204));
    let actions = ActionConfig {
        rate_limit: 2,
        rate_window: Duration::from_secs(2),
        ..fast_actions()
    };
    let first = app_with(&fake, actions.clone()).await;
    let second = spawn_app_with(TestOptions {
        database: Some(first.database.clone()),
        keys: Some(first.keys.clone()),
        keyring: Some(first.keyring.clone()),
        status: provider_status(&fake),
        actions,
        ..TestOptions::default()
    })
    .await;
    let token = owner(&first);
    let request = start_request("web", "push", json!({}));
    first
        .actions(Some(&token))
        .start_action(request.clone())
        .await
        .expect("1st");
    second
        .actions(Some(&token))
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("2nd");
    // A replay is not counted, on either replica.
    second
        .actions(Some(&token))
        .start_action(request)
        .await
        .expect("replay");

    let limited = second
        .actions(Some(&token))
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect_err("3rd is over the limit");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    let details = limited.get_error_details();
    assert_eq!(
        details.error_info().map(|i| i.reason.as_str()),
        Some("RATE_LIMITED")
    );
    let retry = details
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(2),
        "{retry:?}"
    );
    let quota = details.quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations.len(), 1);
    assert!(quota.violations[0].subject.contains("owner"));

    // Another user has their own budget.
    let editor = first.token("editor", &[("acme", Role::Editor)]);
    first
        .actions(Some(&editor))
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("another user");

    tokio::time::sleep(retry + Duration::from_millis(100)).await;
    first
        .actions(Some(&token))
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("the window has passed");
}
