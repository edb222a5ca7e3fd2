//! Malformed requests on AutomationService (see `malformed_requests`).

use patchbay::proto::v1::{
    Automation, AutomationEvent, AutomationSpec, AutomationStep, CancelRunRequest, ConditionStep,
    CreateAutomationRequest, DelayStep, DeleteAutomationRequest, DryRunAutomationRequest,
    GetAutomationRequest, GetRunRequest, ListAutomationsRequest, ListRunsRequest,
    PublishAutomationRequest, ReplayRunRequest, RunAutomationRequest, UpdateAutomationRequest,
    automation_step::Kind,
};
use prost_types::FieldMask;
use serde_json::json;

use crate::{
    automations::{action, deploy_on_push, trigger},
    case,
    helpers::{TestApp, spawn_app},
    malformed_requests::{Case, assert_all_invalid, bad_names, bad_projects, root},
};

const AUTOMATION: &str = "projects/acme/automations/a";

fn create(a: &TestApp, token: &str, what: &str, spec: AutomationSpec) -> Case {
    let client = a.automations(Some(token));
    case!(
        "CreateAutomation",
        what,
        client,
        create_automation,
        CreateAutomationRequest {
            parent: "projects/acme".into(),
            automation_id: "a".into(),
            automation: Some(Automation {
                draft: Some(spec),
                ..Default::default()
            }),
            request_id: String::new(),
        }
    )
}

fn spec_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let with = |f: &dyn Fn(&mut AutomationSpec)| {
        let mut s = deploy_on_push();
        f(&mut s);
        s
    };
    let huge = "x == 1 or ".repeat(1000);
    for (what, spec) in [
        ("no trigger", with(&|s| s.trigger = None)),
        (
            "both sources",
            with(&|s| {
                if let Some(t) = &mut s.trigger {
                    t.integration_type = "integrationTypes/github".into();
                }
            }),
        ),
        (
            "an unparsable filter",
            with(&|s| s.trigger = trigger(&["push"], "a = 1")),
        ),
        (
            "a huge filter",
            with(&|s| s.trigger = trigger(&["push"], &huge)),
        ),
        (
            "a spaced event type",
            with(&|s| s.trigger = trigger(&["a b"], "")),
        ),
        ("no steps", with(&|s| s.steps.clear())),
        (
            "21 steps",
            with(&|s| {
                s.steps = (0..21)
                    .map(|i| action(&format!("s{i}"), "vc", "deploy", json!({})))
                    .collect()
            }),
        ),
        (
            "a step of no kind",
            with(&|s| s.steps = vec![AutomationStep::default()]),
        ),
        (
            "a step name twice",
            with(&|s| {
                s.steps = vec![
                    action("same", "vc", "deploy", json!({})),
                    action("same", "vc", "deploy", json!({})),
                ]
            }),
        ),
        (
            "an empty condition",
            with(&|s| {
                s.steps = vec![AutomationStep {
                    name: "c".into(),
                    kind: Some(Kind::Condition(ConditionStep {
                        expression: String::new(),
                    })),
                }]
            }),
        ),
        (
            "a zero delay",
            with(&|s| {
                s.steps = vec![AutomationStep {
                    name: "d".into(),
                    kind: Some(Kind::Delay(DelayStep {
                        duration: Some(prost_types::Duration {
                            seconds: 0,
                            nanos: 0,
                        }),
                    })),
                }]
            }),
        ),
        (
            "a two-day delay",
            with(&|s| {
                s.steps = vec![AutomationStep {
                    name: "d".into(),
                    kind: Some(Kind::Delay(DelayStep {
                        duration: Some(prost_types::Duration {
                            seconds: 2 * 86_400,
                            nanos: 0,
                        }),
                    })),
                }]
            }),
        ),
        (
            "an unknown overlap policy",
            with(&|s| s.overlap_policy = 99),
        ),
        (
            "negative runs per minute",
            with(&|s| s.max_runs_per_minute = -1),
        ),
        (
            "too many runs per minute",
            with(&|s| s.max_runs_per_minute = 10_001),
        ),
        (
            "a bad action id",
            with(&|s| s.steps = vec![action("x", "vc", "Deploy!", json!({}))]),
        ),
        (
            "a bad connection name",
            with(&|s| {
                if let Some(Kind::Action(a)) = &mut s.steps[0].kind {
                    a.connection = "connections/vc".into();
                }
            }),
        ),
    ] {
        cases.push(create(app, token, what, spec));
    }
    cases
}

fn request_cases(app: &TestApp, token: &str) -> Vec<Case> {
    let a = || app.automations(Some(token));
    let mut cases = Vec::new();
    for name in bad_names("automations") {
        cases.push(case!(
            "GetAutomation",
            name,
            a(),
            get_automation,
            GetAutomationRequest { name: name.clone() }
        ));
        cases.push(case!(
            "DeleteAutomation",
            name,
            a(),
            delete_automation,
            DeleteAutomationRequest {
                name: name.clone(),
                etag: String::new()
            }
        ));
        cases.push(case!(
            "PublishAutomation",
            name,
            a(),
            publish_automation,
            PublishAutomationRequest {
                name: name.clone(),
                etag: String::new()
            }
        ));
        cases.push(case!(
            "UpdateAutomation",
            name,
            a(),
            update_automation,
            UpdateAutomationRequest {
                automation: Some(Automation {
                    name: name.clone(),
                    ..Default::default()
                }),
                update_mask: None
            }
        ));
        cases.push(case!(
            "RunAutomation",
            name,
            a(),
            run_automation,
            RunAutomationRequest {
                name: name.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "DryRunAutomation",
            name,
            a(),
            dry_run_automation,
            DryRunAutomationRequest {
                name: name.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "ListRuns",
            name,
            a(),
            list_runs,
            ListRunsRequest {
                parent: name.clone(),
                ..Default::default()
            }
        ));
        let run = format!("{name}/runs/r");
        cases.push(case!(
            "GetRun",
            run,
            a(),
            get_run,
            GetRunRequest { name: run.clone() }
        ));
        cases.push(case!(
            "CancelRun",
            run,
            a(),
            cancel_run,
            CancelRunRequest { name: run.clone() }
        ));
        cases.push(case!(
            "ReplayRun",
            run,
            a(),
            replay_run,
            ReplayRunRequest {
                name: run.clone(),
                version: 1,
                request_id: String::new()
            }
        ));
    }
    for parent in bad_projects() {
        cases.push(case!(
            "ListAutomations",
            parent,
            a(),
            list_automations,
            ListAutomationsRequest {
                parent: parent.clone(),
                ..Default::default()
            }
        ));
        cases.push(case!(
            "CreateAutomation",
            parent,
            a(),
            create_automation,
            CreateAutomationRequest {
                parent: parent.clone(),
                automation: Some(Automation {
                    draft: Some(deploy_on_push()),
                    ..Default::default()
                }),
                ..Default::default()
            }
        ));
    }
    let run = format!("{AUTOMATION}/runs/r");
    cases.push(case!(
        "ReplayRun",
        "no version",
        a(),
        replay_run,
        ReplayRunRequest {
            name: run.clone(),
            version: 0,
            request_id: String::new()
        }
    ));
    cases.push(case!(
        "ReplayRun",
        "a bad request id",
        a(),
        replay_run,
        ReplayRunRequest {
            name: run,
            version: 1,
            request_id: "not-a-uuid".into()
        }
    ));
    cases.push(case!(
        "ListRuns",
        "negative page size",
        a(),
        list_runs,
        ListRunsRequest {
            parent: AUTOMATION.into(),
            page_size: -1,
            ..Default::default()
        }
    ));
    cases.push(case!(
        "ListRuns",
        "an unknown state",
        a(),
        list_runs,
        ListRunsRequest {
            parent: AUTOMATION.into(),
            state: 99,
            ..Default::default()
        }
    ));
    cases.push(case!(
        "ListAutomations",
        "a forged page token",
        a(),
        list_automations,
        ListAutomationsRequest {
            parent: "projects/acme".into(),
            page_token: "bm90IGEgdG9rZW4".into(),
            ..Default::default()
        }
    ));
    cases.push(case!(
        "UpdateAutomation",
        "an unknown mask path",
        a(),
        update_automation,
        UpdateAutomationRequest {
            automation: Some(Automation {
                name: AUTOMATION.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["published_version".into()],
            }),
        }
    ));
    for (what, event) in [
        ("no event", None),
        (
            "an empty event type",
            Some(AutomationEvent {
                connection: "projects/acme/connections/gh".into(),
                ..Default::default()
            }),
        ),
        (
            "another project's connection",
            Some(AutomationEvent {
                connection: "projects/other/connections/gh".into(),
                event_type: "push".into(),
                ..Default::default()
            }),
        ),
    ] {
        cases.push(case!(
            "RunAutomation",
            what,
            a(),
            run_automation,
            RunAutomationRequest {
                name: AUTOMATION.into(),
                event: event.clone(),
                request_id: String::new(),
            }
        ));
        cases.push(case!(
            "DryRunAutomation",
            what,
            a(),
            dry_run_automation,
            DryRunAutomationRequest {
                name: AUTOMATION.into(),
                event,
                version: 0,
            }
        ));
    }
    cases.push(case!(
        "DryRunAutomation",
        "an unknown version",
        a(),
        dry_run_automation,
        DryRunAutomationRequest {
            name: AUTOMATION.into(),
            event: Some(AutomationEvent {
                connection: "projects/acme/connections/gh".into(),
                event_type: "push".into(),
                ..Default::default()
            }),
            version: 9,
        }
    ));
    cases
}

#[tokio::test]
async fn malformed_automation_requests_are_invalid_argument() {
    let app = spawn_app().await;
    let token = root(&app);
    let mut cases = spec_cases(&app, &token);
    cases.extend(request_cases(&app, &token));
    assert_all_invalid(&app, cases).await;
}
