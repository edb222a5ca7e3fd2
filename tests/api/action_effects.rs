//! What actions do upstream: a Vercel deployment, a HubSpot sync through
//! the default mapping template, a probe, disconnect and reconnect; and a
//! worker killed mid-action whose lease another replica takes over.

use std::collections::HashMap;

use patchbay::{
    auth::Role,
    proto::v1::{ActionState, GetConnectionRequest, SetConnectionCredentialsRequest},
};
use serde_json::{Value, json};

use crate::{
    actions::{fast_actions, provider_status, start_request, wait_state},
    connections::{create_request, s, settings},
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, spawn_app_with},
    probe_actions::error_reason,
    status::{active_github, fresh_repo},
};

pub async fn app(fake: &FakeProvider) -> TestApp {
    spawn_app_with(TestOptions {
        status: provider_status(fake),
        actions: fast_actions(),
        ..TestOptions::default()
    })
    .await
}

pub async fn connect(
    app: &TestApp,
    id: &str,
    ty: &str,
    settings: prost_types::Struct,
    token: &str,
) {
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    registry
        .create_connection(create_request("acme", id, ty, settings))
        .await
        .expect("create");
    registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: format!("projects/acme/connections/{id}"),
            credentials: HashMap::from([(credential_field(ty).into(), token.into())]),
            etag: String::new(),
        })
        .await
        .expect("credentials");
}

/// The credential holding each type's API token.
fn credential_field(ty: &str) -> &'static str {
    if ty == "sanity" {
        "token"
    } else {
        "access_token"
    }
}

pub async fn run(
    app: &TestApp,
    role: Role,
    connection: &str,
    action: &str,
    params: Value,
) -> patchbay::proto::v1::Action {
    let token = app.token("runner", &[("acme", role)]);
    let started = app
        .actions(Some(&token))
        .start_action(start_request(connection, action, params))
        .await
        .expect("start")
        .into_inner();
    wait_state(app, &started.name, ActionState::Succeeded).await
}

pub fn result(action: &patchbay::proto::v1::Action) -> Value {
    Value::Object(patchbay::proto::json::struct_to_json(
        action.result.as_ref().expect("a result"),
    ))
}

fn bodies(fake: &FakeProvider, path: &str) -> Vec<Value> {
    fake.seen()
        .into_iter()
        .filter(|s| s.path == path)
        .map(|s| serde_json::from_slice(&s.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn deploy_creates_a_vercel_deployment() {
    let fake = FakeProvider::start().await;
    fake.set(
        "/v6/deployments",
        Reply::json(
            200,
            json!({"deployments": [{"uid": "dpl_old", "readyState": "READY"}]}),
        ),
    );
    fake.set(
        "/v13/deployments",
        Reply::json(
            200,
            json!({"id": "dpl_new", "url": "site-new.vercel.app", "readyState": "QUEUED"}),
        ),
    );
    let app = app(&fake).await;
    connect(
        &app,
        "site",
        "vercel",
        settings(&[("project_id", s("prj_1"))]),
        "vc_test_token",
    )
    .await;

    let done = run(&app, Role::Admin, "site", "deploy", json!({})).await;
    assert_eq!(
        result(&done),
        json!({"deployment_id": "dpl_new", "url": "site-new.vercel.app", "state": "QUEUED", "target": "production"})
    );
    let created = bodies(&fake, "/v13/deployments");
    // Tagged with the action's id, for a retry to find it.
    let id = done.name.rsplit('/').next().expect("an id");
    assert_eq!(
        created,
        [
            json!({"name": "prj_1", "project": "prj_1", "target": "production", "deploymentId": "dpl_old", "meta": {"patchbayActionId": id}})
        ]
    );
    let sent = fake
        .seen()
        .into_iter()
        .find(|s| s.path == "/v13/deployments")
        .expect("a deployment request");
    assert_eq!(
        sent.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer vc_test_token"),
        "the connection's own token"
    );

    let preview = run(
        &app,
        Role::Editor,
        "site",
        "deploy-preview",
        json!({"git_source": {"type": "github", "ref": "feature"}}),
    )
    .await;
    assert_eq!(result(&preview)["target"], "preview");
    let created = bodies(&fake, "/v13/deployments");
    let id = preview.name.rsplit('/').next().expect("an id");
    assert_eq!(
        created[1],
        json!({"name": "prj_1", "project": "prj_1", "gitSource": {"type": "github", "ref": "feature"}, "meta": {"patchbayActionId": id}})
    );
}

#[tokio::test]
async fn an_action_without_credentials_fails_without_calling_the_provider() {
    let fake = FakeProvider::start().await;
    let app = app(&fake).await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    app.registry(Some(&owner))
        .create_connection(create_request(
            "acme",
            "site",
            "vercel",
            settings(&[("project_id", s("prj_1"))]),
        ))
        .await
        .expect("create");
    let started = app
        .actions(Some(&owner))
        .start_action(start_request("site", "deploy", json!({})))
        .await
        .expect("start")
        .into_inner();
    let failed = wait_state(&app, &started.name, ActionState::Failed).await;
    assert_eq!(error_reason(&failed), "CREDENTIALS_MISSING");
    assert_eq!(fake.hits_on("/v13/deployments"), 0);
}

#[tokio::test]
async fn test_connection_probes_and_disconnect_then_reconnect_change_the_state() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = app(&fake).await;
    active_github(&app, "web").await;

    let probed = run(&app, Role::Editor, "web", "test-connection", json!({})).await;
    assert_eq!(
        result(&probed)["status"],
        "CONNECTED",
        "{:?}",
        result(&probed)
    );

    let disconnected = run(&app, Role::Admin, "web", "disconnect", json!({})).await;
    assert_eq!(result(&disconnected)["state"], "REVOKED");
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let connection = app
        .registry(Some(&owner))
        .get_connection(GetConnectionRequest {
            name: "projects/acme/connections/web".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        patchbay::proto::v1::ConnectionState::try_from(connection.state),
        Ok(patchbay::proto::v1::ConnectionState::Revoked)
    );
    assert!(!connection.has_credentials, "the token is gone");

    // Nothing to reconnect with: a permanent failure, at once.
    let token = app.token("admin", &[("acme", Role::Admin)]);
    let started = app
        .actions(Some(&token))
        .start_action(start_request("web", "reconnect", json!({})))
        .await
        .expect("start")
        .into_inner();
    let failed = wait_state(&app, &started.name, ActionState::Failed).await;
    assert_eq!(failed.attempts, 1);
    assert_eq!(
        failed.error.expect("status").code,
        tonic::Code::FailedPrecondition as i32
    );
}

#[tokio::test]
async fn a_full_github_payload_is_sent_as_given_without_the_action_id() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    fake.set("/repos/acme/web/dispatches", Reply::status(204));
    let app = app(&fake).await;
    active_github(&app, "web").await;
    // GitHub takes at most 10 top-level keys: an eleventh would be refused.
    let full: serde_json::Map<String, Value> =
        (0..10).map(|n| (format!("k{n}"), json!(n))).collect();
    let roomy: serde_json::Map<String, Value> =
        (0..9).map(|n| (format!("k{n}"), json!(n))).collect();
    let (full, roomy) = (Value::Object(full), Value::Object(roomy));
    run(
        &app,
        Role::Admin,
        "web",
        "push",
        json!({"client_payload": full}),
    )
    .await;
    let done = run(
        &app,
        Role::Admin,
        "web",
        "push",
        json!({"client_payload": roomy}),
    )
    .await;
    let sent = bodies(&fake, "/repos/acme/web/dispatches");
    assert_eq!(sent[0]["client_payload"], full, "ten keys: as given");
    let id = done.name.rsplit('/').next().expect("an id");
    assert_eq!(sent[1]["client_payload"]["patchbay_action_id"], id);
    assert_eq!(
        sent[1]["client_payload"]
            .as_object()
            .map(serde_json::Map::len),
        Some(10),
        "nine keys and the id"
    );
}
