//! Automations as resources: drafts and published versions, replays that
//! choose their version explicitly, who may do what, and the refusals of
//! names and expressions that do not hold up.

use patchbay::{
    auth::Role,
    proto::v1::{
        Automation, AutomationEvent, CancelRunRequest, CreateAutomationRequest,
        DeleteAutomationRequest, GetAutomationRequest, GetRunRequest, PublishAutomationRequest,
        ReplayRunRequest, ReplayVersion, Run, RunAutomationRequest, RunState,
        UpdateAutomationRequest, automation_step::Kind,
    },
};
use prost_types::FieldMask;
use serde_json::json;
use tonic::Code;

use crate::{
    automations::{
        action, create_automation, deploy_on_push, editor, fleet, owner, publish, state, trigger,
        wait_runs,
    },
    helpers::{TestApp, assert_error, violations},
};

fn dispatched(fleet: &crate::automations::Fleet) -> Vec<String> {
    fleet
        .github
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/repos/acme/web/dispatches")
        .map(|s| {
            let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap_or_default();
            body["event_type"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

fn dispatch_spec(event_type: &str) -> patchbay::proto::v1::AutomationSpec {
    patchbay::proto::v1::AutomationSpec {
        trigger: trigger(&["push"], ""),
        steps: vec![action(
            "tell",
            "gh",
            "push",
            json!({"event_type": event_type}),
        )],
        ..Default::default()
    }
}

async fn run_by_hand(app: &TestApp, id: &str) -> Run {
    app.automations(Some(&editor(app)))
        .run_automation(RunAutomationRequest {
            name: format!("projects/acme/automations/{id}"),
            event: Some(AutomationEvent {
                event_type: "push".into(),
                payload: Some(patchbay::proto::json::json_to_value(
                    &json!({"ref": "main"}),
                )),
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .expect("run")
        .into_inner()
}

async fn finished(app: &TestApp, id: &str, name: &str) -> Run {
    let all = wait_runs(app, id, &format!("{name} finished"), |r| {
        r.iter()
            .any(|r| r.name == name && matches!(state(r), RunState::Succeeded | RunState::Failed))
    })
    .await;
    all.into_iter().find(|r| r.name == name).expect("the run")
}

async fn replay(app: &TestApp, name: &str, version: ReplayVersion) -> Result<Run, tonic::Status> {
    app.automations(Some(&editor(app)))
        .replay_run(ReplayRunRequest {
            name: name.into(),
            version: version.into(),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn versions_freeze_and_a_replay_runs_the_version_it_is_told() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let created = create_automation(app, "tell", dispatch_spec("v1")).await;
    assert_eq!(created.published_version, 0);
    assert!(created.published.is_none());
    let v1 = publish(app, "tell").await;
    assert_eq!(v1.published_version, 1);
    assert_eq!(v1.published_by, "owner");
    let first = run_by_hand(app, "tell").await;
    assert_eq!(first.version, 1);
    assert_eq!(first.trigger, "manual");
    let first = finished(app, "tell", &first.name).await;
    assert_eq!(state(&first), RunState::Succeeded);
    assert_eq!(dispatched(&fleet), ["v1"]);

    // Edits go to the draft; runs keep using version 1 until a publish.
    let edited = app
        .automations(Some(&editor(app)))
        .update_automation(UpdateAutomationRequest {
            automation: Some(Automation {
                name: "projects/acme/automations/tell".into(),
                draft: Some(dispatch_spec("v2")),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["draft.steps".into()],
            }),
        })
        .await
        .expect("edit")
        .into_inner();
    assert_eq!(edited.published_version, 1);
    let step_params =
        |a: &Automation, which: fn(&Automation) -> Option<&patchbay::proto::v1::AutomationSpec>| {
            match which(a).and_then(|s| s.steps[0].kind.clone()) {
                Some(Kind::Action(step)) => patchbay::proto::json::struct_to_json(
                    step.params.as_ref().expect("params"),
                )["event_type"]
                    .clone(),
                other => panic!("an action step: {other:?}"),
            }
        };
    assert_eq!(step_params(&edited, |a| a.draft.as_ref()), json!("v2"));
    assert_eq!(step_params(&edited, |a| a.published.as_ref()), json!("v1"));
    let still_v1 = run_by_hand(app, "tell").await;
    assert_eq!(still_v1.version, 1);
    finished(app, "tell", &still_v1.name).await;
    let v2 = publish(app, "tell").await;
    assert_eq!(v2.published_version, 2);

    // A replay never chooses for the caller.
    assert_error(
        replay(app, &first.name, ReplayVersion::Unspecified).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let again = replay(app, &first.name, ReplayVersion::Run)
        .await
        .expect("replay");
    assert_eq!(again.version, 1);
    assert_eq!(again.trigger, "replay");
    assert_eq!(again.replay_of, first.name);
    finished(app, "tell", &again.name).await;
    let current = replay(app, &first.name, ReplayVersion::Published)
        .await
        .expect("replay");
    assert_eq!(current.version, 2);
    finished(app, "tell", &current.name).await;
    assert_eq!(dispatched(&fleet), ["v1", "v1", "v1", "v2"]);
    // Each replay is a run of its own, with its own actions.
    let db = app.db().await;
    let actions: i64 = db
        .query_one("SELECT count(*) FROM actions", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(actions, 4);
    let read = app
        .automations(Some(&app.token("viewer", &[("acme", Role::Viewer)])))
        .get_run(GetRunRequest {
            name: current.name.clone(),
        })
        .await
        .expect("a viewer reads runs")
        .into_inner();
    assert_eq!(read.replay_of, first.name);
}

#[tokio::test]
async fn who_may_write_publish_run_and_cancel() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let stranger = app.token("stranger", &[("other", Role::Owner)]);
    let request = |id: &str| CreateAutomationRequest {
        parent: "projects/acme".into(),
        automation_id: id.into(),
        automation: Some(Automation {
            draft: Some(deploy_on_push()),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    assert_error(
        app.automations(Some(&viewer))
            .create_automation(request("mine"))
            .await,
        Code::PermissionDenied,
        "ROLE_INSUFFICIENT",
    );
    assert_error(
        app.automations(Some(&stranger))
            .create_automation(request("mine"))
            .await,
        Code::PermissionDenied,
        "PROJECT_ACCESS_DENIED",
    );
    create_automation(app, "deploy-on-push", deploy_on_push()).await;
    // A production deploy takes an admin: an editor may write the
    // automation but not publish it, or it would deploy on their behalf.
    let refused = app
        .automations(Some(&editor(app)))
        .publish_automation(PublishAutomationRequest {
            name: "projects/acme/automations/deploy-on-push".into(),
            etag: String::new(),
        })
        .await;
    let status = assert_error(refused, Code::PermissionDenied, "ROLE_INSUFFICIENT");
    let info = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .cloned()
        .expect("ErrorInfo");
    assert_eq!(
        info.metadata.get("required_role").map(String::as_str),
        Some("admin")
    );
    let unpublished = app
        .automations(Some(&editor(app)))
        .run_automation(RunAutomationRequest {
            name: "projects/acme/automations/deploy-on-push".into(),
            event: Some(AutomationEvent {
                event_type: "push".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await;
    assert_error(
        unpublished,
        Code::FailedPrecondition,
        "AUTOMATION_NOT_PUBLISHED",
    );
    let published = app
        .automations(Some(&owner(app)))
        .publish_automation(PublishAutomationRequest {
            name: "projects/acme/automations/deploy-on-push".into(),
            etag: "stale".into(),
        })
        .await;
    assert_error(published, Code::Aborted, "ETAG_MISMATCH");
    publish(app, "deploy-on-push").await;

    // A run by hand with a request id: a retry returns the same run.
    let run = |token: String, request_id: String| {
        let mut client = app.automations(Some(&token));
        async move {
            client
                .run_automation(RunAutomationRequest {
                    name: "projects/acme/automations/deploy-on-push".into(),
                    event: Some(AutomationEvent {
                        event_type: "push".into(),
                        payload: Some(patchbay::proto::json::json_to_value(&json!({
                            "ref": "refs/heads/main", "head_commit": {"id": "abc"}
                        }))),
                        ..Default::default()
                    }),
                    request_id,
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    assert_error(
        run(viewer.clone(), id.clone()).await,
        Code::PermissionDenied,
        "ROLE_INSUFFICIENT",
    );
    let first = run(editor(app), id.clone()).await.expect("run");
    let retried = run(editor(app), id).await.expect("the same run");
    assert_eq!(first.name, retried.name);
    wait_runs(app, "deploy-on-push", "done", |r| {
        r.len() == 1 && state(&r[0]) == RunState::Succeeded
    })
    .await;
    assert_error(
        app.automations(Some(&editor(app)))
            .cancel_run(CancelRunRequest {
                name: first.name.clone(),
            })
            .await,
        Code::FailedPrecondition,
        "RUN_FINISHED",
    );
    assert_error(
        app.automations(Some(&stranger))
            .get_run(GetRunRequest {
                name: first.name.clone(),
            })
            .await,
        Code::PermissionDenied,
        "PROJECT_ACCESS_DENIED",
    );
    // Deleting it takes its runs with it.
    app.automations(Some(&editor(app)))
        .delete_automation(DeleteAutomationRequest {
            name: "projects/acme/automations/deploy-on-push".into(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    assert_error(
        app.automations(Some(&viewer))
            .get_automation(GetAutomationRequest {
                name: "projects/acme/automations/deploy-on-push".into(),
            })
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert!(runs_gone(app).await);
}

async fn runs_gone(app: &TestApp) -> bool {
    let n: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM automation_runs", &[])
        .await
        .expect("count")
        .get(0);
    n == 0
}

#[tokio::test]
async fn names_that_do_not_exist_and_expressions_that_do_not_parse_are_refused() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let create = |spec: patchbay::proto::v1::AutomationSpec| {
        let mut client = app.automations(Some(&editor(app)));
        async move {
            client
                .create_automation(CreateAutomationRequest {
                    parent: "projects/acme".into(),
                    automation_id: "bad".into(),
                    automation: Some(Automation {
                        draft: Some(spec),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
        }
    };
    let mut spec = deploy_on_push();
    spec.trigger = trigger(&["push"], "payload.ref ==");
    let status = create(spec).await.expect_err("refused");
    assert_eq!(violations(&status), ["automation.draft.trigger.filter"]);
    assert!(
        status.message().contains("at byte 14"),
        "{}",
        status.message()
    );

    let mut spec = deploy_on_push();
    spec.steps = vec![action("gone", "nope", "deploy", json!({}))];
    let status = create(spec).await.expect_err("refused");
    assert_eq!(
        violations(&status),
        ["automation.draft.steps[0].action.connection"]
    );

    let mut spec = deploy_on_push();
    spec.steps = vec![action("odd", "vc", "launch", json!({}))];
    let status = create(spec).await.expect_err("refused");
    assert_eq!(
        violations(&status),
        ["automation.draft.steps[0].action.action"]
    );

    let mut spec = deploy_on_push();
    spec.steps = vec![action("other", "vc", "deploy", json!({}))];
    if let Some(Kind::Action(a)) = &mut spec.steps[0].kind {
        a.connection = "projects/other/connections/vc".into();
    }
    let status = create(spec).await.expect_err("refused");
    assert_eq!(
        violations(&status),
        ["automation.draft.steps[0].action.connection"]
    );

    let mut spec = deploy_on_push();
    spec.steps.clear();
    let status = create(spec).await.expect_err("refused");
    assert_eq!(violations(&status), ["automation.draft.steps"]);
}

#[tokio::test]
async fn cancelling_a_run_stops_the_action_it_waits_for() {
    let fleet = fleet().await;
    let app = &fleet.app;
    // Vercel takes its time: the run waits for its deploy.
    fleet.vercel.set(
        "/v13/deployments",
        crate::fakes::Reply::json(200, json!({"id": "dpl_slow"}))
            .delayed(std::time::Duration::from_secs(30)),
    );
    create_automation(app, "deploy-on-push", deploy_on_push()).await;
    publish(app, "deploy-on-push").await;
    let run = app
        .automations(Some(&editor(app)))
        .run_automation(RunAutomationRequest {
            name: "projects/acme/automations/deploy-on-push".into(),
            event: Some(AutomationEvent {
                event_type: "push".into(),
                payload: Some(patchbay::proto::json::json_to_value(&json!({
                    "ref": "refs/heads/main", "head_commit": {"id": "abc"}
                }))),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("run")
        .into_inner();
    let waiting = wait_runs(app, "deploy-on-push", "waiting for its deploy", |r| {
        r.first()
            .is_some_and(|r| state(r) == RunState::Waiting && !r.steps[0].action.is_empty())
    })
    .await;
    let action = waiting[0].steps[0].action.clone();
    let cancelled = app
        .automations(Some(&editor(app)))
        .cancel_run(CancelRunRequest {
            name: run.name.clone(),
        })
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(state(&cancelled), RunState::Cancelled);
    let db = app.db().await;
    let asked: bool = db
        .query_one(
            "SELECT cancel_requested OR state = 'cancelled' FROM actions WHERE id = $1",
            &[&action.rsplit('/').next().unwrap_or_default()],
        )
        .await
        .expect("the action")
        .get(0);
    assert!(asked, "its action was asked to stop");
}

#[tokio::test]
async fn runs_progress_on_the_projects_watch_stream() {
    use patchbay::proto::v1::status_update::Event;
    let fleet = fleet().await;
    let app = &fleet.app;
    create_automation(app, "tell", dispatch_spec("hello")).await;
    publish(app, "tell").await;
    let mut stream = crate::watch::watch(
        app,
        crate::watch::watch_request(None, std::time::Duration::from_secs(30)),
    )
    .await;
    let run = run_by_hand(app, "tell").await;
    let mut seen = Vec::new();
    while seen.last() != Some(&RunState::Succeeded) {
        if let Some(Event::Run(event)) = crate::watch::next_event(&mut stream).await.event
            && event.run == run.name
        {
            seen.push(RunState::try_from(event.state).unwrap_or(RunState::Unspecified));
        }
    }
    assert_eq!(
        seen,
        [RunState::Pending, RunState::Waiting, RunState::Succeeded],
        "created, waiting for its action, done"
    );
}
