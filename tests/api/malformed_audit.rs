//! Malformed requests on the audit log's RPCs (see `malformed_requests`).

use patchbay::proto::v1::{
    ExportAuditEventsRequest, ListAuditEventsRequest, VerifyAuditLogRequest,
};

use crate::{
    case,
    helpers::{TestApp, spawn_app},
    malformed_requests::{Case, assert_all_invalid, bad_projects, root},
};

fn audit_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let d = || app.diagnostics(Some(token));
    let mut cases = Vec::new();
    for parent in bad_projects().into_iter().chain(["projects/--".into()]) {
        cases.push(case!(
            "ListAuditEvents",
            parent,
            d(),
            list_audit_events,
            ListAuditEventsRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "ExportAuditEvents",
            parent,
            d(),
            export_audit_events,
            ExportAuditEventsRequest {
                parent: parent.clone(),
                filter: String::new()
            }
        ));
        cases.push(case!(
            "VerifyAuditLog",
            parent,
            d(),
            verify_audit_log,
            VerifyAuditLogRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
    }
    let list = |what: &str, edit: &dyn Fn(&mut ListAuditEventsRequest)| {
        let mut request = ListAuditEventsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        };
        edit(&mut request);
        case!("ListAuditEvents", what, d(), list_audit_events, request)
    };
    cases.push(list("negative page size", &|q| q.page_size = -1));
    cases.push(list("forged page token", &|q| q.page_token = "x".into()));
    cases.push(list("unknown key", &|q| q.filter = "secret = x".into()));
    cases.push(list("repeated key", &|q| {
        q.filter = "actor = a AND actor = b".into()
    }));
    cases.push(list("bad time", &|q| {
        q.filter = "time_after = monday".into()
    }));
    cases.push(list("huge filter", &|q| {
        q.filter = format!("actor = \"{}\"", "a".repeat(100_000))
    }));
    let verify = |what: &str, parent: &str, first: i64, last: i64| {
        case!(
            "VerifyAuditLog",
            what,
            d(),
            verify_audit_log,
            VerifyAuditLogRequest {
                parent: parent.into(),
                first_seq: first,
                last_seq: last
            }
        )
    };
    cases.push(verify("negative first", "projects/acme", -1, 0));
    cases.push(verify("negative last", "projects/acme", 0, i64::MIN));
    cases.push(verify("last before first", "projects/acme", 5, 4));
    cases.push(verify("a range over every chain", "projects/-", 1, 2));
    cases.push(case!(
        "ExportAuditEvents",
        "bad time",
        d(),
        export_audit_events,
        ExportAuditEventsRequest {
            parent: "projects/acme".into(),
            filter: "time_before = soon".into()
        }
    ));
    cases
}

#[tokio::test]
async fn malformed_audit_log_requests_are_invalid_argument() {
    let app = spawn_app().await;
    let token = root(&app);
    let cases = audit_cases(&app, &token);
    assert_all_invalid(&app, cases).await;
}
