//! Automations end to end: a signed GitHub push through the bridge starts a
//! Vercel deploy against the fake Vercel, once, however often the delivery
//! arrives; an event the filter refuses starts nothing and a dry run says
//! why; dry runs call no provider and write nothing.

use std::{collections::HashMap, time::Duration};

use hmac::{Hmac, KeyInit as _, Mac as _};
use patchbay::{
    auth::Role,
    proto::v1::{
        ActionStep, Automation, AutomationEvent, AutomationSpec, AutomationStep, AutomationTrigger,
        CreateAutomationRequest, DryRunAutomationRequest, DryRunOutcome, DryRunVersion,
        FieldMapping, FieldType, ListRunsRequest, PublishAutomationRequest, Run, RunState,
        SetConnectionCredentialsRequest, automation_step::Kind,
    },
    status::{circuit::ProbePolicy, prober::ProberConfig},
};
use serde_json::json;
use sha2::Sha256;

use crate::{
    connections::{create_request, github_settings, s, settings},
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, spawn_app_with},
    webhook_signing::Signed,
    webhooks::{Reply as BridgeReply, post},
};

pub const GH_SECRET: &str = "github-automation-secret-1";

/// A project with a GitHub connection `gh` (acme/web, signed webhooks) and
/// a Vercel one `vc` (project prj_web), both against fakes that count
/// every request; probes run once, at setup.
pub struct Fleet {
    pub app: TestApp,
    pub github: FakeProvider,
    pub vercel: FakeProvider,
    pub gh_key: String,
}

pub async fn fleet() -> Fleet {
    fleet_with(TestOptions::default()).await
}

pub async fn fleet_with(options: TestOptions) -> Fleet {
    let (github, vercel) = (FakeProvider::start().await, FakeProvider::start().await);
    crate::status::fresh_repo(&github, "acme", "web", 1);
    github.set("/repos/acme/web/dispatches", Reply::status(204));
    vercel.set(
        "/v6/deployments",
        Reply::json(200, json!({"deployments": []})),
    );
    vercel.set(
        "/v13/deployments",
        Reply::json(
            200,
            json!({"id": "dpl_new", "url": "web-new.vercel.app", "readyState": "QUEUED"}),
        ),
    );
    let app = spawn_app_with(TestOptions {
        status: patchbay::app::StatusConfig {
            prober: ProberConfig {
                policy: ProbePolicy {
                    ttl: (Duration::from_secs(3600), Duration::from_secs(7200)),
                    ..ProbePolicy::default()
                },
                tick: Duration::from_millis(50),
                base_uris: [
                    ("github".to_owned(), github.url()),
                    ("vercel".to_owned(), vercel.url()),
                ]
                .into_iter()
                .collect(),
                ..ProberConfig::default()
            },
            ..patchbay::app::StatusConfig::default()
        },
        ..options
    })
    .await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut registry = app.registry(Some(&owner));
    let mut gh = create_request("acme", "gh", "github", github_settings());
    gh.webhook_secret = GH_SECRET.into();
    let gh = registry
        .create_connection(gh)
        .await
        .expect("gh")
        .into_inner();
    registry
        .create_connection(create_request(
            "acme",
            "vc",
            "vercel",
            settings(&[("project_id", s("prj_web"))]),
        ))
        .await
        .expect("vc");
    for (id, token) in [
        ("gh", "ghp_automation_token_1"),
        ("vc", "vercel_automation_token_1"),
    ] {
        registry
            .set_connection_credentials(SetConnectionCredentialsRequest {
                name: format!("projects/acme/connections/{id}"),
                credentials: HashMap::from([("access_token".into(), token.into())]),
                etag: String::new(),
            })
            .await
            .expect("credentials");
    }
    // The probes that creating and credentials start, done before anything
    // is counted: none is due or running for the next hour.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let busy: i64 = app
            .db()
            .await
            .query_one(
                "SELECT count(*) FROM connection_status \
                 WHERE next_probe_at < now() + interval '30 minutes' OR lease_id IS NOT NULL",
                &[],
            )
            .await
            .expect("probe schedule")
            .get(0);
        if busy == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first probes never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Fleet {
        app,
        github,
        vercel,
        gh_key: gh.webhook_key,
    }
}

pub fn editor(app: &TestApp) -> String {
    app.token("editor", &[("acme", Role::Editor)])
}

pub fn owner(app: &TestApp) -> String {
    app.token("owner", &[("acme", Role::Owner)])
}

pub fn trigger(event_types: &[&str], filter: &str) -> Option<AutomationTrigger> {
    Some(AutomationTrigger {
        connection: "projects/acme/connections/gh".into(),
        event_types: event_types.iter().map(|e| (*e).to_owned()).collect(),
        filter: filter.into(),
        ..Default::default()
    })
}

pub fn action(
    name: &str,
    connection: &str,
    action: &str,
    params: serde_json::Value,
) -> AutomationStep {
    AutomationStep {
        name: name.into(),
        kind: Some(Kind::Action(ActionStep {
            connection: format!("projects/acme/connections/{connection}"),
            action: action.into(),
            params: Some(patchbay::proto::json::json_to_struct(
                params.as_object().expect("an object"),
            )),
            param_mappings: Vec::new(),
        })),
    }
}

/// Deploy on Vercel when main is pushed, with the commit's id mapped in.
pub fn deploy_on_push() -> AutomationSpec {
    let mut deploy = action(
        "deploy",
        "vc",
        "deploy",
        json!({"git_source": {"type": "github", "org": "acme", "repo": "web", "ref": "main"}}),
    );
    if let Some(Kind::Action(a)) = &mut deploy.kind {
        a.param_mappings.push(FieldMapping {
            source_path: "payload.head_commit.id".into(),
            target_field: "sha".into(),
            field_type: FieldType::String.into(),
            required: true,
            ..Default::default()
        });
    }
    AutomationSpec {
        trigger: trigger(&["push"], "payload.ref == \"refs/heads/main\""),
        steps: vec![deploy],
        ..Default::default()
    }
}

pub async fn create_automation(app: &TestApp, id: &str, spec: AutomationSpec) -> Automation {
    app.automations(Some(&editor(app)))
        .create_automation(CreateAutomationRequest {
            parent: "projects/acme".into(),
            automation_id: id.into(),
            automation: Some(Automation {
                display_name: id.into(),
                draft: Some(spec),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create the automation")
        .into_inner()
}

pub async fn publish(app: &TestApp, id: &str) -> Automation {
    app.automations(Some(&owner(app)))
        .publish_automation(PublishAutomationRequest {
            name: format!("projects/acme/automations/{id}"),
            etag: String::new(),
        })
        .await
        .expect("publish")
        .into_inner()
}

pub async fn runs(app: &TestApp, id: &str) -> Vec<Run> {
    app.automations(Some(&editor(app)))
        .list_runs(ListRunsRequest {
            parent: format!("projects/acme/automations/{id}"),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("list runs")
        .into_inner()
        .runs
}

pub fn state(run: &Run) -> RunState {
    RunState::try_from(run.state).unwrap_or(RunState::Unspecified)
}

/// Waits (20 s at most) until `id`'s runs satisfy `done`.
pub async fn wait_runs(
    app: &TestApp,
    id: &str,
    what: &str,
    done: impl Fn(&[Run]) -> bool,
) -> Vec<Run> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = runs(app, id).await;
        if done(&found) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id}: never {what}: {:#?}",
            found
                .iter()
                .map(|r| (&r.name, r.state, &r.reason, &r.log))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A GitHub delivery, signed as GitHub signs: `event` in X-GitHub-Event.
pub fn github_delivery(event: &str, id: &str, body: &serde_json::Value) -> Signed {
    crate::log_scan::secret(GH_SECRET);
    let body = body.to_string().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(GH_SECRET.as_bytes()).expect("any key");
    mac.update(&body);
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Signed {
        headers: vec![
            ("x-hub-signature-256".into(), format!("sha256={sig}")),
            ("x-github-delivery".into(), id.into()),
            ("x-github-event".into(), event.into()),
        ],
        body,
    }
}

pub fn push_body(git_ref: &str) -> serde_json::Value {
    json!({
        "ref": git_ref,
        "after": "9f2c1e7",
        "head_commit": {"id": "9f2c1e7", "message": "fix: the header"},
        "repository": {"full_name": "acme/web"}
    })
}

pub async fn deliver(fleet: &Fleet, signed: &Signed) -> BridgeReply {
    post(&fleet.app, &fleet.gh_key, signed).await
}

/// Waits until the bridge's processor has worked every delivery.
pub async fn processed(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = app
            .db()
            .await
            .query_one(
                "SELECT (SELECT count(*) FROM webhook_deliveries d, webhook_cursor c WHERE d.seq > c.seq) \
                      + (SELECT count(*) FROM webhook_deliveries WHERE state = 'retrying')",
                &[],
            )
            .await
            .expect("backlog")
            .get(0);
        if waiting == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries never processed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn deploys(vercel: &FakeProvider) -> usize {
    vercel
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/v13/deployments")
        .count()
}

#[tokio::test]
async fn a_push_on_main_deploys_once_however_often_it_arrives() {
    let fleet = fleet().await;
    let app = &fleet.app;
    create_automation(app, "deploy-on-push", deploy_on_push()).await;
    publish(app, "deploy-on-push").await;

    let push = github_delivery("push", "d-push-1", &push_body("refs/heads/main"));
    assert_eq!(deliver(&fleet, &push).await.status, 202);
    let done = wait_runs(app, "deploy-on-push", "succeeded", |r| {
        r.first().is_some_and(|r| state(r) == RunState::Succeeded)
    })
    .await;
    assert_eq!(done.len(), 1);
    let run = &done[0];
    assert_eq!(run.trigger, "delivery");
    assert_eq!(run.version, 1);
    let event = run.event.as_ref().expect("the event");
    assert_eq!(event.event_type, "push");
    assert!(
        event
            .delivery
            .starts_with("projects/acme/connections/gh/deliveries/")
    );
    let step = &run.steps[0];
    assert!(
        step.action.starts_with("projects/acme/actions/"),
        "{step:?}"
    );
    let params = patchbay::proto::json::struct_to_json(step.params.as_ref().expect("params"));
    assert_eq!(params["sha"], "9f2c1e7", "mapped from the event");
    assert_eq!(deploys(&fleet.vercel), 1);
    let sent: serde_json::Value = serde_json::from_slice(
        &fleet
            .vercel
            .seen()
            .iter()
            .find(|s| s.method == "POST")
            .expect("the deploy")
            .body,
    )
    .expect("JSON");
    assert_eq!(sent["gitSource"]["ref"], "main");
    assert_eq!(sent["target"], "production");
    let action_id = step.action.rsplit('/').next().unwrap_or_default();
    assert_eq!(
        sent["meta"]["patchbayActionId"], action_id,
        "tagged with its cause"
    );

    // The same delivery again: a duplicate at the bridge, nothing more.
    assert_eq!(deliver(&fleet, &push).await.status, 200);
    // Dead-lettered and redriven: processed again, and still one run.
    let db = app.db().await;
    db.execute(
        "UPDATE webhook_deliveries SET state = 'dead_letter' WHERE connection_id = 'gh'",
        &[],
    )
    .await
    .expect("dead-letter it");
    let owner = owner(app);
    let moved = app
        .diagnostics(Some(&owner))
        .redrive_deliveries(patchbay::proto::v1::RedriveDeliveriesRequest {
            parent: "projects/acme/connections/gh".into(),
            ..Default::default()
        })
        .await
        .expect("redrive")
        .into_inner()
        .redriven_count;
    assert_eq!(moved, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state: String = db
            .query_one(
                "SELECT state FROM webhook_deliveries WHERE connection_id = 'gh'",
                &[],
            )
            .await
            .expect("state")
            .get(0);
        if state == "processed" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reprocessed: {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(runs(app, "deploy-on-push").await.len(), 1);
    let actions: i64 = db
        .query_one("SELECT count(*) FROM actions", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(actions, 1);
    assert_eq!(deploys(&fleet.vercel), 1);

    // A push to another branch: processed, no run; a dry run says why.
    let dev = github_delivery("push", "d-push-2", &push_body("refs/heads/dev"));
    assert_eq!(deliver(&fleet, &dev).await.status, 202);
    processed(app).await;
    assert_eq!(runs(app, "deploy-on-push").await.len(), 1);
    let dry = app
        .automations(Some(&editor(app)))
        .dry_run_automation(DryRunAutomationRequest {
            name: "projects/acme/automations/deploy-on-push".into(),
            event: Some(AutomationEvent {
                event_type: "push".into(),
                payload: Some(patchbay::proto::json::json_to_value(&push_body(
                    "refs/heads/dev",
                ))),
                ..Default::default()
            }),
            version: DryRunVersion::Published.into(),
        })
        .await
        .expect("dry run")
        .into_inner();
    assert!(!dry.matched);
    assert_eq!(dry.reason, "FILTER_NOT_MATCHED");
    assert!(
        dry.explanation
            .contains("payload.ref (is \"refs/heads/dev\") == \"refs/heads/main\": false"),
        "{}",
        dry.explanation
    );
    assert!(dry.steps.is_empty());
    assert_eq!(deploys(&fleet.vercel), 1);
}

/// Rows in every table a run or an action could write.
async fn row_counts(app: &TestApp) -> Vec<(String, i64)> {
    let db = app.db().await;
    let mut counts = Vec::new();
    for table in [
        "actions",
        "automation_runs",
        "automations",
        "automation_versions",
        "audit_events",
        "status_events",
        "webhook_deliveries",
        "health_samples",
        "alert_announcements",
    ] {
        let n: i64 = db
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count")
            .get(0);
        counts.push((table.to_owned(), n));
    }
    counts
}

#[tokio::test]
async fn a_dry_run_plans_every_step_and_calls_and_writes_nothing() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let mut spec = deploy_on_push();
    spec.steps.insert(
        0,
        AutomationStep {
            name: "only-fixes".into(),
            kind: Some(Kind::Condition(patchbay::proto::v1::ConditionStep {
                expression: "payload.head_commit.message matches 'fix*'".into(),
            })),
        },
    );
    spec.steps.push(action(
        "tell-github",
        "gh",
        "push",
        json!({"event_type": "deployed"}),
    ));
    create_automation(app, "planned", spec).await;
    let before = (
        row_counts(app).await,
        fleet.github.seen().len(),
        fleet.vercel.seen().len(),
    );

    let dry_run = |payload: serde_json::Value| {
        let mut client = app.automations(Some(&editor(app)));
        async move {
            client
                .dry_run_automation(DryRunAutomationRequest {
                    name: "projects/acme/automations/planned".into(),
                    event: Some(AutomationEvent {
                        event_type: "push".into(),
                        payload: Some(patchbay::proto::json::json_to_value(&payload)),
                        ..Default::default()
                    }),
                    version: DryRunVersion::Draft.into(),
                })
                .await
                .expect("dry run")
                .into_inner()
        }
    };
    let planned = dry_run(push_body("refs/heads/main")).await;
    assert!(planned.matched, "{}", planned.explanation);
    assert_eq!(planned.version, 0, "the draft");
    let outcomes: Vec<DryRunOutcome> = planned
        .steps
        .iter()
        .map(|s| DryRunOutcome::try_from(s.outcome).unwrap_or(DryRunOutcome::Unspecified))
        .collect();
    assert_eq!(
        outcomes,
        [
            DryRunOutcome::WouldContinue,
            DryRunOutcome::WouldRun,
            DryRunOutcome::WouldRun
        ]
    );
    let deploy = &planned.steps[1];
    assert_eq!(deploy.connection, "projects/acme/connections/vc");
    assert_eq!(deploy.requests.len(), 1);
    assert_eq!(deploy.requests[0].method, "POST");
    assert_eq!(
        deploy.requests[0].url,
        format!("{}/v13/deployments?forceNew=1", fleet.vercel.url())
    );
    let body =
        patchbay::proto::json::value_to_json(deploy.requests[0].body.as_ref().expect("a body"));
    assert_eq!(body["gitSource"]["ref"], "main");
    assert_eq!(
        patchbay::proto::json::struct_to_json(deploy.params.as_ref().expect("params"))["sha"],
        "9f2c1e7"
    );
    let tell = &planned.steps[2];
    assert_eq!(
        tell.requests[0].url,
        format!("{}/repos/acme/web/dispatches", fleet.github.url())
    );
    let tell_body =
        patchbay::proto::json::value_to_json(tell.requests[0].body.as_ref().expect("a body"));
    assert_eq!(tell_body["event_type"], "deployed");

    // A commit that is not a fix: the condition stops it, the rest is skipped.
    let mut feature = push_body("refs/heads/main");
    feature["head_commit"]["message"] = json!("feat: a button");
    let stopped = dry_run(feature).await;
    let outcomes: Vec<i32> = stopped.steps.iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        [
            i32::from(DryRunOutcome::WouldStop),
            i32::from(DryRunOutcome::WouldSkip),
            i32::from(DryRunOutcome::WouldSkip)
        ]
    );
    assert!(
        stopped.steps[0].message.contains("does not hold"),
        "{}",
        stopped.steps[0].message
    );

    // A push without a head commit: the required mapping fails, and says so.
    let broken =
        dry_run(json!({"ref": "refs/heads/main", "head_commit": {"message": "fix"}})).await;
    assert_eq!(broken.steps[1].outcome, i32::from(DryRunOutcome::WouldFail));
    assert_eq!(broken.steps[1].field_errors[0].reason, "MISSING_REQUIRED");

    let after = (
        row_counts(app).await,
        fleet.github.seen().len(),
        fleet.vercel.seen().len(),
    );
    assert_eq!(before, after, "no write, no provider call");

    // Not published yet: only the draft can be dry-run, and nothing runs.
    let unpublished = app
        .automations(Some(&editor(app)))
        .dry_run_automation(DryRunAutomationRequest {
            name: "projects/acme/automations/planned".into(),
            event: Some(AutomationEvent {
                event_type: "push".into(),
                ..Default::default()
            }),
            version: DryRunVersion::Published.into(),
        })
        .await;
    crate::helpers::assert_error(
        unpublished,
        tonic::Code::FailedPrecondition,
        "AUTOMATION_NOT_PUBLISHED",
    );
}
