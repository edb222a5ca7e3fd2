//! Malformed requests on every StatusService, ActionService and
//! Diagnostics RPC (see `malformed_requests`).

use std::{collections::HashMap, time::Duration};

use patchbay::proto::v1::{
    CancelActionRequest, CompareDeploymentsRequest, DiagnoseConnectionRequest,
    DiagnoseProjectRequest, GetActionRequest, GetConnectionStatusRequest, GetProjectStatusRequest,
    ListActionsRequest, ListWebhookDeliveriesRequest, RedriveDeliveriesRequest,
    RefreshStatusRequest, SendTestWebhookRequest, StartActionRequest, VerifyWebhookRequest,
    WatchProjectStatusRequest,
};

use crate::{
    case,
    connections::create_github,
    helpers::{TestApp, spawn_app},
    malformed_requests::{Case, assert_all_invalid, bad_names, bad_projects, root},
};

const HUGE: usize = 100_000;
const GH: &str = "projects/acme/connections/gh";

fn status_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let s = || app.status(Some(token));
    let mut cases = Vec::new();
    for project in bad_projects() {
        let p = project.clone();
        cases.push(case!(
            "GetProjectStatus",
            p,
            s(),
            get_project_status,
            GetProjectStatusRequest {
                project: project.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "WatchProjectStatus",
            p,
            s(),
            watch_project_status,
            WatchProjectStatusRequest {
                project,
                ..Default::default()
            }
        ));
    }
    for name in bad_names("connections") {
        cases.push(case!(
            "GetConnectionStatus",
            name,
            s(),
            get_connection_status,
            GetConnectionStatusRequest { name: name.clone() }
        ));
        // RefreshStatus takes a project too.
        if name != "projects/acme" {
            cases.push(case!(
                "RefreshStatus",
                name,
                s(),
                refresh_status,
                RefreshStatusRequest { name: name.clone() }
            ));
        }
    }
    let acme = || "projects/acme".to_owned();
    cases.push(case!(
        "GetProjectStatus",
        "bad include type",
        s(),
        get_project_status,
        GetProjectStatusRequest {
            project: acme(),
            include_types: vec!["Not A Type!".into()],
            ..Default::default()
        }
    ));
    cases.push(case!(
        "GetProjectStatus",
        "huge include type",
        s(),
        get_project_status,
        GetProjectStatusRequest {
            project: acme(),
            include_types: vec!["a".repeat(HUGE)],
            ..Default::default()
        }
    ));
    let watch = |what: &str, edit: &dyn Fn(&mut WatchProjectStatusRequest)| {
        let mut request = WatchProjectStatusRequest {
            project: acme(),
            ..Default::default()
        };
        edit(&mut request);
        case!(
            "WatchProjectStatus",
            what,
            s(),
            watch_project_status,
            request
        )
    };
    cases.push(watch("negative resume_from", &|q| q.resume_from = Some(-1)));
    cases.push(watch("negative heartbeat", &|q| {
        q.heartbeat_interval = Some(prost_types::Duration {
            seconds: -5,
            nanos: 0,
        })
    }));
    cases.push(watch("invalid heartbeat nanos", &|q| {
        q.heartbeat_interval = Some(prost_types::Duration {
            seconds: 1,
            nanos: 2_000_000_000,
        })
    }));
    cases.push(watch("bad include type", &|q| {
        q.include_types = vec!["Not A Type!".into()]
    }));
    cases
}

fn action_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let a = || app.actions(Some(token));
    let mut cases = Vec::new();
    for name in bad_names("actions") {
        cases.push(case!(
            "GetAction",
            name,
            a(),
            get_action,
            GetActionRequest { name: name.clone() }
        ));
        cases.push(case!(
            "CancelAction",
            name,
            a(),
            cancel_action,
            CancelActionRequest { name: name.clone() }
        ));
    }
    for name in bad_names("connections") {
        cases.push(case!(
            "StartAction",
            name,
            a(),
            start_action,
            start(&name, "push", &uuid())
        ));
    }
    for parent in bad_projects() {
        cases.push(case!(
            "ListActions",
            parent,
            a(),
            list_actions,
            ListActionsRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
    }
    cases.push(case!(
        "StartAction",
        "bad request id",
        a(),
        start_action,
        start(GH, "push", "not-a-uuid")
    ));
    cases.push(case!(
        "StartAction",
        "no request id",
        a(),
        start_action,
        start(GH, "push", "")
    ));
    cases.push(case!(
        "StartAction",
        "unknown action",
        a(),
        start_action,
        start(GH, "launch-rockets", &uuid())
    ));
    cases.push(case!(
        "StartAction",
        "huge action",
        a(),
        start_action,
        start(GH, &"a".repeat(HUGE), &uuid())
    ));
    let list = |what: &str, edit: &dyn Fn(&mut ListActionsRequest)| {
        let mut request = ListActionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        };
        edit(&mut request);
        case!("ListActions", what, a(), list_actions, request)
    };
    cases.push(list("negative page size", &|q| q.page_size = i32::MIN));
    cases.push(list("forged page token", &|q| {
        q.page_token = "bm90LWEtdG9rZW4".into()
    }));
    cases.push(list("unparsable filter", &|q| q.filter = "state ==".into()));
    cases.push(list("unknown state", &|q| {
        q.filter = "state = \"EXPLODED\"".into()
    }));
    cases
}

fn start(connection: &str, action: &str, request_id: &str) -> StartActionRequest {
    StartActionRequest {
        connection: connection.into(),
        action: action.into(),
        request_id: request_id.into(),
        params: None,
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn diagnostics_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let d = || app.diagnostics(Some(token));
    let mut cases = Vec::new();
    for name in bad_names("connections") {
        cases.push(case!(
            "DiagnoseConnection",
            name,
            d(),
            diagnose_connection,
            DiagnoseConnectionRequest { name: name.clone() }
        ));
        cases.push(case!(
            "SendTestWebhook",
            name,
            d(),
            send_test_webhook,
            SendTestWebhookRequest {
                connection: name.clone()
            }
        ));
        cases.push(case!(
            "VerifyWebhook",
            name,
            d(),
            verify_webhook,
            VerifyWebhookRequest {
                connection: name.clone(),
                method: "POST".into(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "ListWebhookDeliveries",
            name,
            d(),
            list_webhook_deliveries,
            ListWebhookDeliveriesRequest {
                parent: name.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "RedriveDeliveries",
            name,
            d(),
            redrive_deliveries,
            RedriveDeliveriesRequest {
                parent: name.clone(),
                filter: "state = \"DEAD_LETTER\"".into(),
                ..Default::default()
            }
        ));
    }
    for project in bad_projects() {
        cases.push(case!(
            "DiagnoseProject",
            project,
            d(),
            diagnose_project,
            DiagnoseProjectRequest {
                project: project.clone()
            }
        ));
    }
    let verify = |what: &str, edit: &dyn Fn(&mut VerifyWebhookRequest)| {
        let mut request = VerifyWebhookRequest {
            connection: GH.into(),
            method: "POST".into(),
            ..Default::default()
        };
        edit(&mut request);
        case!("VerifyWebhook", what, d(), verify_webhook, request)
    };
    cases.push(verify("bad method", &|q| q.method = "TELEPORT".into()));
    cases.push(verify("bad header name", &|q| {
        q.headers = HashMap::from([("bad header\n".into(), "v".into())])
    }));
    cases.push(verify("huge header value", &|q| {
        q.headers = HashMap::from([("x-a".into(), "v".repeat(HUGE))])
    }));
    cases.push(verify("huge path", &|q| {
        q.path = format!("/{}", "p".repeat(HUGE))
    }));
    let list = |what: &str, edit: &dyn Fn(&mut ListWebhookDeliveriesRequest)| {
        let mut request = ListWebhookDeliveriesRequest {
            parent: GH.into(),
            ..Default::default()
        };
        edit(&mut request);
        case!(
            "ListWebhookDeliveries",
            what,
            d(),
            list_webhook_deliveries,
            request
        )
    };
    cases.push(list("negative page size", &|q| q.page_size = -1));
    cases.push(list("forged page token", &|q| q.page_token = "x".into()));
    cases.push(list("unknown state", &|q| {
        q.filter = "state = \"MELTED\"".into()
    }));
    let redrive = |what: &str, edit: &dyn Fn(&mut RedriveDeliveriesRequest)| {
        let mut request = RedriveDeliveriesRequest {
            parent: GH.into(),
            ..Default::default()
        };
        edit(&mut request);
        case!("RedriveDeliveries", what, d(), redrive_deliveries, request)
    };
    cases.push(redrive("bad delivery names", &|q| {
        q.names = vec!["deliveries/x".into()]
    }));
    cases.push(redrive("another connection's delivery", &|q| {
        q.names = vec!["projects/acme/connections/other/deliveries/d1".into()]
    }));
    cases.push(redrive("unparsable filter", &|q| {
        q.filter = "state = = ".into()
    }));
    let huge = format!("{}:50051", "h".repeat(HUGE));
    for target in [
        "",
        "not a target",
        "http://",
        "127.0.0.1:notaport",
        "host:0",
        "[::1]x:1",
        &huge,
    ] {
        cases.push(case!(
            "CompareDeployments",
            target,
            d(),
            compare_deployments,
            CompareDeploymentsRequest {
                target: target.into(),
                bearer_token: String::new()
            }
        ));
    }
    cases
}

#[tokio::test]
async fn malformed_requests_to_status_actions_and_diagnostics_are_invalid_argument() {
    let app = spawn_app().await;
    create_github(&app, "acme", "gh").await;
    let token = root(&app);
    let mut cases = status_cases(&app, &token);
    cases.extend(action_cases(&app, &token));
    cases.extend(diagnostics_cases(&app, &token));
    assert_all_invalid(&app, cases).await;
}

#[tokio::test]
async fn a_huge_page_size_is_coerced_to_the_maximum() {
    let app = spawn_app().await;
    let token = root(&app);
    let listed = tokio::time::timeout(
        Duration::from_secs(10),
        app.actions(Some(&token)).list_actions(ListActionsRequest {
            parent: "projects/acme".into(),
            page_size: i32::MAX,
            ..Default::default()
        }),
    )
    .await
    .expect("answered promptly");
    assert!(listed.is_ok(), "{listed:?}");
}
