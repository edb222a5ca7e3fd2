//! Malformed requests on every connection RPC of IntegrationRegistry (see
//! `malformed_requests`).

use std::collections::HashMap;

use patchbay::proto::v1::{
    Connection, CreateConnectionRequest, DeleteConnectionRequest, GetConnectionRequest,
    ListConnectionsRequest, RotateWebhookSecretRequest, SetConnectionCredentialsRequest,
    UpdateConnectionRequest,
};

use crate::{
    case,
    connections::{create_github, github_settings},
    helpers::{TestApp, spawn_app},
    malformed_registry::mask,
    malformed_requests::{Case, assert_all_invalid, bad_names, bad_projects, root},
};

const HUGE: usize = 100_000;

fn connection_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let r = || app.registry(Some(token));
    let mut cases = Vec::new();
    for name in bad_names("connections") {
        let n = name.clone();
        cases.push(case!(
            "GetConnection",
            n,
            r(),
            get_connection,
            GetConnectionRequest { name }
        ));
        let name = n.clone();
        cases.push(case!(
            "DeleteConnection",
            name,
            r(),
            delete_connection,
            DeleteConnectionRequest {
                name: name.clone(),
                etag: String::new()
            }
        ));
        let name = n.clone();
        cases.push(case!(
            "SetConnectionCredentials",
            name,
            r(),
            set_connection_credentials,
            SetConnectionCredentialsRequest {
                name: name.clone(),
                credentials: HashMap::from([("access_token".into(), "ghp_malformed_case".into())]),
                etag: String::new()
            }
        ));
        let name = n.clone();
        cases.push(case!(
            "RotateWebhookSecret",
            name,
            r(),
            rotate_webhook_secret,
            RotateWebhookSecretRequest {
                name: name.clone(),
                webhook_secret: String::new()
            }
        ));
        let name = n.clone();
        let connection = Connection {
            name: name.clone(),
            display_name: "x".into(),
            ..Default::default()
        };
        cases.push(case!(
            "UpdateConnection",
            name,
            r(),
            update_connection,
            UpdateConnectionRequest {
                connection: Some(connection),
                update_mask: mask(&["display_name"])
            }
        ));
    }
    for parent in bad_projects() {
        let p = parent.clone();
        cases.push(case!(
            "ListConnections",
            p,
            r(),
            list_connections,
            ListConnectionsRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
        let p = parent.clone();
        let create = CreateConnectionRequest {
            parent: p.clone(),
            connection_id: "gh2".into(),
            connection: Some(github("")),
            ..Default::default()
        };
        cases.push(case!(
            "CreateConnection",
            parent,
            r(),
            create_connection,
            create
        ));
    }
    let create = |what: &str, edit: &dyn Fn(&mut CreateConnectionRequest)| {
        let mut request = CreateConnectionRequest {
            parent: "projects/acme".into(),
            connection_id: "gh2".into(),
            connection: Some(github("")),
            ..Default::default()
        };
        edit(&mut request);
        case!("CreateConnection", what, r(), create_connection, request)
    };
    cases.push(create("huge display name", &|q| {
        q.connection.as_mut().unwrap().display_name = "d".repeat(HUGE)
    }));
    cases.push(create("huge connection id", &|q| {
        q.connection_id = "a".repeat(HUGE)
    }));
    cases.push(create("bad connection id", &|q| {
        q.connection_id = "Not An Id".into()
    }));
    cases.push(create("bad request id", &|q| {
        q.request_id = "not-a-uuid".into()
    }));
    cases.push(create("huge webhook secret", &|q| {
        q.webhook_secret = "s".repeat(HUGE)
    }));
    cases.push(create("bad type name", &|q| {
        q.connection.as_mut().unwrap().integration_type = "github".into()
    }));
    cases.push(create("no connection", &|q| q.connection = None));
    let list = |what: &str, edit: &dyn Fn(&mut ListConnectionsRequest)| {
        let mut request = ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        };
        edit(&mut request);
        case!("ListConnections", what, r(), list_connections, request)
    };
    cases.push(list("negative page size", &|q| q.page_size = -1));
    cases.push(list("most negative page size", &|q| q.page_size = i32::MIN));
    cases.push(list("forged page token", &|q| {
        q.page_token = "eyJrIjoiYSJ9".into()
    }));
    cases.push(list("huge page token", &|q| {
        q.page_token = "A".repeat(HUGE)
    }));
    cases.push(list("unparsable filter", &|q| {
        q.filter = "state = = ".into()
    }));
    cases.push(list("unknown filter key", &|q| {
        q.filter = "colour = \"red\"".into()
    }));
    cases.push(list("huge filter", &|q| {
        q.filter = format!("type = \"{}\"", "a".repeat(HUGE))
    }));
    let update = |what: &str, paths: &[&str], display_name: String| {
        let connection = Connection {
            name: "projects/acme/connections/gh".into(),
            display_name,
            ..Default::default()
        };
        case!(
            "UpdateConnection",
            what,
            r(),
            update_connection,
            UpdateConnectionRequest {
                connection: Some(connection),
                update_mask: mask(paths)
            }
        )
    };
    cases.push(update("unknown mask path", &["colour"], "x".into()));
    cases.push(update(
        "immutable mask path",
        &["integration_type"],
        "x".into(),
    ));
    cases.push(update(
        "huge display name",
        &["display_name"],
        "d".repeat(HUGE),
    ));
    let credentials = HashMap::from([("access_token".to_owned(), "t".repeat(HUGE))]);
    cases.push(case!(
        "SetConnectionCredentials",
        "huge credential",
        r(),
        set_connection_credentials,
        SetConnectionCredentialsRequest {
            name: "projects/acme/connections/gh".into(),
            credentials,
            etag: String::new()
        }
    ));
    cases.push(case!(
        "RotateWebhookSecret",
        "huge secret",
        r(),
        rotate_webhook_secret,
        RotateWebhookSecretRequest {
            name: "projects/acme/connections/gh".into(),
            webhook_secret: "s".repeat(HUGE)
        }
    ));
    cases
}

fn github(name: &str) -> Connection {
    Connection {
        name: name.into(),
        integration_type: "integrationTypes/github".into(),
        display_name: "GitHub".into(),
        settings: Some(github_settings()),
        ..Default::default()
    }
}

#[tokio::test]
async fn malformed_requests_on_connections_are_invalid_argument() {
    let app = spawn_app().await;
    create_github(&app, "acme", "gh").await;
    let token = root(&app);
    assert_all_invalid(&app, connection_cases(&app, &token)).await;
}
