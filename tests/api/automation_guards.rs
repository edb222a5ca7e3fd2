//! What keeps automations from running away: the loop guard (an event an
//! automation's own effect caused starts it again only so deep), the flood
//! guard (runs per minute, the rest held), and the overlap policies.

use std::time::Duration;

use patchbay::proto::v1::{
    AlertRule, AlertSeverity, AutomationEvent, AutomationSpec, AutomationStep, CancelRunRequest,
    CreateAlertRuleRequest, DelayStep, GetAutomationRequest, HeldRunsCondition, OverlapPolicy, Run,
    RunAutomationRequest, RunState, alert_rule::Condition, automation_step::Kind,
};
use serde_json::json;

use crate::{
    automations::{
        action, create_automation, deliver, editor, fleet, github_delivery, processed, publish,
        push_body, runs, state, trigger, wait_runs,
    },
    helpers::TestApp,
};

fn dispatches(fleet: &crate::automations::Fleet) -> Vec<serde_json::Value> {
    fleet
        .github
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/repos/acme/web/dispatches")
        .map(|s| serde_json::from_slice(&s.body).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_loop_stops_at_its_depth_limit_and_says_so() {
    let fleet = fleet().await;
    let app = &fleet.app;
    // Each repository_dispatch starts a run that dispatches again.
    let spec = AutomationSpec {
        trigger: trigger(&["repository_dispatch"], ""),
        steps: vec![action("echo", "gh", "push", json!({"event_type": "echo"}))],
        ..Default::default()
    };
    create_automation(app, "echo", spec).await;
    publish(app, "echo").await;

    // GitHub, played by the test: a dispatch it receives comes back as a
    // repository_dispatch delivery carrying the same client_payload.
    let first =
        json!({"action": "start", "client_payload": {}, "repository": {"full_name": "acme/web"}});
    let signed = github_delivery("repository_dispatch", "d-loop-0", &first);
    assert_eq!(deliver(&fleet, &signed).await.status, 202);
    for n in 1..=3 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while dispatches(&fleet).len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "dispatch {n} never came"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sent = &dispatches(&fleet)[n - 1];
        let echoed = json!({
            "action": sent["event_type"],
            "client_payload": sent["client_payload"],
            "repository": {"full_name": "acme/web"},
        });
        let signed = github_delivery("repository_dispatch", &format!("d-loop-{n}"), &echoed);
        assert_eq!(deliver(&fleet, &signed).await.status, 202);
    }
    let all = wait_runs(app, "echo", "refuse the fourth", |r| {
        r.len() == 4 && r.iter().any(|r| state(r) == RunState::Skipped)
    })
    .await;
    let refused = &all[0];
    assert_eq!(state(refused), RunState::Skipped);
    assert_eq!(refused.reason, "LOOP_DEPTH_EXCEEDED");
    assert_eq!(refused.depth, 3);
    assert_eq!(refused.cause_chain.len(), 3);
    assert!(
        refused
            .log
            .iter()
            .any(|l| l.message.contains("the limit is 3")),
        "{:?}",
        refused.log
    );
    // The three before it ran, each one deeper, each caused by the last.
    let mut ran: Vec<&Run> = all[1..].iter().collect();
    ran.reverse();
    let depths: Vec<i32> = ran.iter().map(|r| r.depth).collect();
    assert_eq!(depths, [0, 1, 2]);
    for pair in ran.windows(2) {
        assert_eq!(pair[1].cause_chain.last(), Some(&pair[0].name));
    }
    processed(app).await;
    assert_eq!(
        dispatches(&fleet).len(),
        3,
        "the refused run dispatched nothing"
    );
    let db = app.db().await;
    let chains: Vec<Vec<String>> = db
        .query("SELECT cause_chain FROM actions ORDER BY create_time", &[])
        .await
        .expect("actions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        chains.iter().map(Vec::len).collect::<Vec<_>>(),
        [1, 2, 3],
        "each action carries the runs that led to it"
    );
}

#[tokio::test]
async fn a_flood_is_held_to_the_rate_limit_not_run_in_a_burst() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let spec = AutomationSpec {
        trigger: trigger(&["push"], ""),
        steps: vec![action(
            "deploy",
            "vc",
            "deploy",
            json!({"git_source": {"ref": "main"}}),
        )],
        max_runs_per_minute: 3,
        ..Default::default()
    };
    create_automation(app, "flood", spec).await;
    publish(app, "flood").await;
    app.alerts(Some(&editor(app)))
        .create_alert_rule(CreateAlertRuleRequest {
            parent: "projects/acme".into(),
            alert_rule_id: "flooded".into(),
            alert_rule: Some(AlertRule {
                display_name: "Runs held".into(),
                severity: AlertSeverity::Warning.into(),
                condition: Some(Condition::HeldRuns(HeldRunsCondition { more_than: 5 })),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("a held-runs rule");
    for n in 0..10 {
        let signed = github_delivery(
            "push",
            &format!("d-flood-{n}"),
            &push_body("refs/heads/main"),
        );
        assert_eq!(deliver(&fleet, &signed).await.status, 202);
    }
    processed(app).await;
    let all = wait_runs(app, "flood", "three done and seven held", |r| {
        r.len() == 10 && r.iter().filter(|r| state(r) == RunState::Succeeded).count() == 3
    })
    .await;
    let held: Vec<&Run> = all.iter().filter(|r| state(r) == RunState::Held).collect();
    assert_eq!(held.len(), 7);
    assert!(held.iter().all(|r| r.reason == "RATE_LIMITED"));
    let automation = app
        .automations(Some(&editor(app)))
        .get_automation(GetAutomationRequest {
            name: "projects/acme/automations/flood".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(automation.held_runs, 7);
    let deploys = fleet
        .vercel
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/v13/deployments")
        .count();
    assert_eq!(deploys, 3, "three deploys, not ten");
    // And someone hears of it: the held-runs rule fired for the connection.
    let alerts = crate::alerts::alerts(app, "flooded").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].connection, "projects/acme/connections/gh");
    assert!(
        alerts[0]
            .summary
            .ends_with("automation runs held by their rate limits"),
        "{}",
        alerts[0].summary
    );
}

/// An automation that runs a minute-long delay: a run stays active until
/// cancelled.
async fn slow(app: &TestApp, id: &str, overlap: OverlapPolicy) {
    let spec = AutomationSpec {
        trigger: trigger(&["push"], ""),
        steps: vec![AutomationStep {
            name: "wait".into(),
            kind: Some(Kind::Delay(DelayStep {
                duration: Some(prost_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
            })),
        }],
        overlap_policy: overlap.into(),
        ..Default::default()
    };
    create_automation(app, id, spec).await;
    publish(app, id).await;
}

async fn start(app: &TestApp, id: &str) -> Run {
    app.automations(Some(&editor(app)))
        .run_automation(RunAutomationRequest {
            name: format!("projects/acme/automations/{id}"),
            event: Some(AutomationEvent {
                event_type: "push".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("run")
        .into_inner()
}

async fn waiting(app: &TestApp, id: &str, name: &str) {
    wait_runs(app, id, &format!("{name} waiting"), |r| {
        r.iter()
            .any(|r| r.name == name && state(r) == RunState::Waiting)
    })
    .await;
}

async fn cancel(app: &TestApp, name: &str) -> Run {
    app.automations(Some(&editor(app)))
        .cancel_run(CancelRunRequest { name: name.into() })
        .await
        .expect("cancel")
        .into_inner()
}

fn of<'a>(runs: &'a [Run], name: &str) -> &'a Run {
    runs.iter().find(|r| r.name == name).expect("the run")
}

#[tokio::test]
async fn each_overlap_policy_does_what_it_says() {
    let fleet = fleet().await;
    let app = &fleet.app;

    slow(app, "allow", OverlapPolicy::Allow).await;
    let a = start(app, "allow").await;
    waiting(app, "allow", &a.name).await;
    let b = start(app, "allow").await;
    waiting(app, "allow", &b.name).await;
    let both = runs(app, "allow").await;
    assert!(
        both.iter().all(|r| state(r) == RunState::Waiting),
        "side by side"
    );

    slow(app, "skip", OverlapPolicy::Skip).await;
    let a = start(app, "skip").await;
    waiting(app, "skip", &a.name).await;
    let b = start(app, "skip").await;
    assert_eq!(state(&b), RunState::Skipped);
    assert_eq!(b.reason, "OVERLAP_SKIPPED");
    assert_eq!(
        state(of(&runs(app, "skip").await, &a.name)),
        RunState::Waiting
    );

    slow(app, "buffer", OverlapPolicy::BufferOne).await;
    let a = start(app, "buffer").await;
    waiting(app, "buffer", &a.name).await;
    let b = start(app, "buffer").await;
    assert_eq!(state(&b), RunState::Buffered);
    let c = start(app, "buffer").await;
    assert_eq!(state(&c), RunState::Skipped, "one waits at most");
    assert_eq!(c.reason, "OVERLAP_SKIPPED");
    // The active one ends: the buffered one starts.
    cancel(app, &a.name).await;
    waiting(app, "buffer", &b.name).await;
    let after = runs(app, "buffer").await;
    assert_eq!(state(of(&after, &a.name)), RunState::Cancelled);
    assert_eq!(of(&after, &a.name).reason, "CANCELLED_BY_CALLER");

    slow(app, "replace", OverlapPolicy::CancelOther).await;
    let a = start(app, "replace").await;
    waiting(app, "replace", &a.name).await;
    let b = start(app, "replace").await;
    waiting(app, "replace", &b.name).await;
    let replaced = of(&runs(app, "replace").await, &a.name).clone();
    assert_eq!(state(&replaced), RunState::Cancelled);
    assert_eq!(replaced.reason, "CANCELLED_BY_NEWER_RUN");
    assert!(
        replaced.log.iter().any(|l| l.message.contains(&b.name)),
        "says which run replaced it: {:?}",
        replaced.log
    );
}
