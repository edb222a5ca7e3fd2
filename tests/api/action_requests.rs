//! Bad StartAction, GetAction, CancelAction and ListActions calls: the
//! malformed, the oversized, the unauthenticated, the unknown and the
//! cross-project.

use patchbay::{
    auth::Role,
    proto::v1::{ActionState, CancelActionRequest, GetActionRequest, ListActionsRequest},
};
use serde_json::json;
use tonic::Code;

use crate::{
    actions::{DISPATCH, app_with, fast_actions, owner, start_request, state},
    fakes::{FakeProvider, Reply},
    helpers::assert_error,
};

#[tokio::test]
async fn malformed_oversized_unauthenticated_and_cross_project_calls_are_refused() {
    let fake = FakeProvider::start().await;
    fake.set(DISPATCH, Reply::status(204));
    let app = app_with(&fake, fast_actions()).await;
    let token = owner(&app);
    let mut actions = app.actions(Some(&token));

    assert_error(
        app.actions(None)
            .start_action(start_request("web", "push", json!({})))
            .await,
        Code::Unauthenticated,
        "TOKEN_MISSING",
    );
    let mut bad_name = start_request("web", "push", json!({}));
    bad_name.connection = "connections/web".into();
    assert_error(
        actions.start_action(bad_name).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let mut bad_id = start_request("web", "push", json!({}));
    bad_id.request_id = "not-a-uuid".into();
    assert_error(
        actions.start_action(bad_id).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let huge = start_request("web", "push", json!({"blob": "x".repeat(70 * 1024)}));
    assert_error(
        actions.start_action(huge).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_error(
        actions
            .start_action(start_request("missing", "push", json!({})))
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );

    let started = actions
        .start_action(start_request("web", "push", json!({})))
        .await
        .expect("start")
        .into_inner();
    // Another project's owner sees nothing of acme's actions.
    let stranger = app.token("stranger", &[("other", Role::Owner)]);
    let mut theirs = app.actions(Some(&stranger));
    assert_error(
        theirs
            .get_action(GetActionRequest {
                name: started.name.clone(),
            })
            .await,
        Code::PermissionDenied,
        "PROJECT_ACCESS_DENIED",
    );
    assert_error(
        theirs
            .cancel_action(CancelActionRequest {
                name: started.name.clone(),
            })
            .await,
        Code::PermissionDenied,
        "PROJECT_ACCESS_DENIED",
    );
    assert_error(
        actions
            .get_action(GetActionRequest {
                name: "projects/acme/actions/act-nope0000".into(),
            })
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_error(
        actions
            .list_actions(ListActionsRequest {
                parent: "projects/acme".into(),
                filter: r#"connection = "projects/other/connections/web""#.into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_error(
        actions
            .list_actions(ListActionsRequest {
                parent: "projects/acme".into(),
                page_size: -1,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let listed = actions
        .list_actions(ListActionsRequest {
            parent: "projects/acme".into(),
            filter: r#"connection = "projects/acme/connections/web" AND state = PENDING"#.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed
            .actions
            .iter()
            .all(|a| state(a) == ActionState::Pending)
    );
}
