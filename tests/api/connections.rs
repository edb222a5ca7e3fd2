//! Connections: create (idempotent), read, list, settings validation, and
//! the request helpers other tests share. Updates, etags and deletes are in
//! `connection_updates`.

use patchbay::{
    auth::Role,
    proto::v1::{Connection, CreateConnectionRequest, ListConnectionsRequest},
};
use prost_types::{Struct, Value, value::Kind};
use tonic::Code;

use crate::helpers::{TestApp, assert_error, spawn_app, violations};

pub fn settings(pairs: &[(&str, Kind)]) -> Struct {
    Struct {
        fields: pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    Value {
                        kind: Some(v.clone()),
                    },
                )
            })
            .collect(),
    }
}

pub fn s(v: &str) -> Kind {
    Kind::StringValue(v.to_owned())
}

pub fn github_settings() -> Struct {
    settings(&[("owner", s("acme")), ("repo", s("web"))])
}

pub fn create_request(
    project: &str,
    id: &str,
    type_id: &str,
    settings: Struct,
) -> CreateConnectionRequest {
    CreateConnectionRequest {
        parent: format!("projects/{project}"),
        connection_id: id.into(),
        connection: Some(Connection {
            integration_type: format!("integrationTypes/{type_id}"),
            display_name: format!("{type_id} for {project}"),
            settings: Some(settings),
            ..Default::default()
        }),
        request_id: String::new(),
        webhook_secret: String::new(),
    }
}

/// Creates `projects/{project}/connections/{id}` of type github as an owner.
pub async fn create_github(app: &TestApp, project: &str, id: &str) -> Connection {
    let owner = app.token("owner", &[(project, Role::Owner)]);
    app.registry(Some(&owner))
        .create_connection(create_request(project, id, "github", github_settings()))
        .await
        .expect("create connection")
        .into_inner()
}

#[tokio::test]
async fn create_is_idempotent_on_request_id() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut request = create_request("acme", "", "github", github_settings());
    request.request_id = request_id.clone();

    let first = registry
        .create_connection(request.clone())
        .await
        .expect("first")
        .into_inner();
    assert!(
        first.name.starts_with("projects/acme/connections/github-"),
        "{}",
        first.name
    );
    let replay = registry
        .create_connection(request.clone())
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(
        replay.name, first.name,
        "the same request returns the same connection"
    );
    assert_eq!(replay.etag, first.etag);
    assert!(
        replay.webhook_secret.is_empty(),
        "the secret is not shown again"
    );
    let listed = registry
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.connections.len(), 1, "no second connection");

    let mut different = request;
    different.connection.as_mut().expect("set").display_name = "something else".into();
    let reused = registry.create_connection(different).await;
    assert_error(reused, Code::AlreadyExists, "REQUEST_ID_REUSED");

    let mut bad = create_request("acme", "x", "github", github_settings());
    bad.request_id = "not-a-uuid".into();
    let status = assert_error(
        registry.create_connection(bad).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violations(&status), ["request_id"]);

    // Without a request id, a taken name is ALREADY_EXISTS.
    let taken = create_request("acme", "dup", "github", github_settings());
    registry
        .create_connection(taken.clone())
        .await
        .expect("first");
    assert_error(
        registry.create_connection(taken).await,
        Code::AlreadyExists,
        "CONNECTION_EXISTS",
    );
}

#[tokio::test]
async fn settings_are_validated_with_one_violation_per_field() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    // owner missing, repo wrong type, an unknown field, a credential in settings.
    let bad = settings(&[
        ("repo", Kind::NumberValue(7.0)),
        ("colour", s("blue")),
        ("access_token", s("ghp_x")),
    ]);
    let result = registry
        .create_connection(create_request("acme", "gh", "github", bad))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violations(&status),
        [
            "connection.settings.access_token",
            "connection.settings.colour",
            "connection.settings.owner",
            "connection.settings.repo",
        ]
    );

    let http_bad = settings(&[
        ("health_url", s("not a url")),
        ("timeout_ms", Kind::NumberValue(1.5)),
    ]);
    let status = assert_error(
        registry
            .create_connection(create_request("acme", "web", "http", http_bad))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violations(&status),
        [
            "connection.settings.health_url",
            "connection.settings.timeout_ms"
        ]
    );

    // The request's own fields: every problem at once.
    let mut request = create_request("acme", "Bad_Id", "no such type!", Struct::default());
    request.parent = "acme".into();
    let status = assert_error(
        registry.create_connection(request).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violations(&status),
        ["connection.integration_type", "connection_id", "parent"]
    );

    let unknown_type = registry
        .create_connection(create_request("acme", "x", "nope", Struct::default()))
        .await;
    let status = assert_error(unknown_type, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violations(&status), ["connection.integration_type"]);

    // Nothing was written.
    let listed = registry
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.connections.is_empty());
}

#[tokio::test]
async fn list_pages_and_filters_connections() {
    let app = spawn_app().await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    for i in 0..5 {
        create_github(&app, "acme", &format!("gh-{i}")).await;
    }
    let http = settings(&[("health_url", s("http://127.0.0.1:9/health"))]);
    registry
        .create_connection(create_request("acme", "web", "http", http))
        .await
        .expect("create http");
    // Another project's connections never show.
    create_github(&app, "other", "gh-x").await;

    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = registry
            .list_connections(ListConnectionsRequest {
                parent: "projects/acme".into(),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.total_size, 6);
        names.extend(page.connections.into_iter().map(|c| c.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(names.len(), 6);
    assert_eq!(
        names.first().map(String::as_str),
        Some("projects/acme/connections/gh-0")
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("projects/acme/connections/web")
    );

    let list = |filter: &str| ListConnectionsRequest {
        parent: "projects/acme".into(),
        filter: filter.into(),
        ..Default::default()
    };
    let github = registry
        .list_connections(list(r#"type = "github""#))
        .await
        .expect("filter")
        .into_inner();
    assert_eq!(github.total_size, 5);
    // http needs no credentials, so it starts ACTIVE; github waits for them.
    let active = registry
        .list_connections(list("state = ACTIVE"))
        .await
        .expect("filter")
        .into_inner();
    assert_eq!(
        active
            .connections
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["projects/acme/connections/web"]
    );
    let both = registry
        .list_connections(list(
            "type = integrationTypes/github AND state = CONNECTION_STATE_PENDING",
        ))
        .await
        .expect("filter")
        .into_inner();
    assert_eq!(both.total_size, 5);

    for bad in [
        "colour = red",
        "state = SLEEPY",
        "type = github OR state = ACTIVE",
    ] {
        let status = assert_error(
            registry.list_connections(list(bad)).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(violations(&status), ["filter"], "{bad}");
    }
    let negative = registry
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            page_size: -5,
            ..Default::default()
        })
        .await;
    assert_error(negative, Code::InvalidArgument, "INVALID_ARGUMENT");
}
