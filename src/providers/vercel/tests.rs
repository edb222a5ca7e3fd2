//! Vercel's plans and the tags its deployments carry back.
use super::*;

fn plan(settings: Value, action: &str, params: Value) -> Option<Result<Vec<Planned>, EffectError>> {
    let settings = object(settings);
    let call = PlanCall {
        base_uri: "https://v.test",
        settings: &settings,
    };
    Vercel.plan(&call, action, &object(params))
}

#[test]
fn a_deployment_is_planned_as_it_would_be_made() {
    let project = json!({"project_id": "prj", "team_id": "t1"});
    let git = plan(
        project.clone(),
        "deploy",
        json!({"git_source": {"ref": "main"}}),
    )
    .and_then(Result::ok)
    .expect("a plan");
    assert_eq!(git.len(), 1);
    assert_eq!(
        (git[0].method, git[0].url.as_str()),
        (
            "POST",
            "https://v.test/v13/deployments?forceNew=1&teamId=t1"
        )
    );
    assert_eq!(
        git[0].body,
        json!({"name": "prj", "project": "prj", "target": "production",
               "meta": {ACTION_META: PLANNED_ACTION_ID}, "gitSource": {"ref": "main"}})
    );
    let from = plan(
        project.clone(),
        "deploy-preview",
        json!({"deployment_id": "dpl_1"}),
    )
    .and_then(Result::ok)
    .expect("a plan");
    assert_eq!(from[0].body["deploymentId"], "dpl_1");
    assert!(from[0].body.get("target").is_none(), "a preview");
    let latest = plan(project, "deploy", json!({}))
        .and_then(Result::ok)
        .expect("a plan");
    assert_eq!(latest.len(), 2);
    assert_eq!(
        (latest[0].method, latest[0].url.as_str()),
        (
            "GET",
            "https://v.test/v6/deployments?projectId=prj&limit=1&target=production&teamId=t1"
        )
    );
    assert_eq!(latest[1].method, "POST");
    assert!(plan(json!({"project_id": "prj"}), "push", json!({})).is_none());
    assert!(matches!(plan(json!({}), "deploy", json!({})), Some(Err(_))));
}

#[test]
fn a_deployment_names_the_action_that_made_it() {
    let made = json!({"payload": {"deployment": {"meta": {ACTION_META: "act-3"}}}});
    assert_eq!(
        Vercel.webhook_cause("deployment.succeeded", &made),
        Some("act-3".to_owned())
    );
    assert_eq!(
        Vercel.webhook_cause("deployment.succeeded", &json!({"payload": {}})),
        None
    );
}
