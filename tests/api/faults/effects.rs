//! An effect runs once: a replica killed while its action's effect is in
//! flight leaves the retry to find that effect by its tag (a Vercel
//! deployment's meta) instead of repeating it; where the provider offers no
//! way to look (a GitHub dispatch), the retry runs it again and the Action
//! says so. A worker that outlives a database outage records the result it
//! holds once the database is back. The provider calls are printed.

use std::{collections::HashMap, time::Duration};

use patchbay::{
    auth::Role,
    proto::v1::{Action, ActionState, GetActionRequest, SetConnectionCredentialsRequest},
    store::embedded,
};
use serde_json::{Value, json};

use super::{
    replica::{Deployment, Replica},
    replicas::{github_connection, lease_holder, wait_action},
};
use crate::{
    actions::start_request,
    connections::{create_request, s, settings},
    database::private_postgres,
    fakes::{FakeProvider, Reply},
    status::fresh_repo,
};

const CREATE: &str = "/v13/deployments";
const LIST: &str = "/v6/deployments";
const DISPATCH: &str = "/repos/acme/web/dispatches";

fn args(fake: &FakeProvider, lease: &str) -> Vec<String> {
    let mut args = Vec::new();
    for ty in ["vercel", "github"] {
        args.extend([
            "--provider-base-url".to_owned(),
            format!("{ty}={}", fake.url()),
        ]);
    }
    args.extend(
        [
            "--action-lease",
            lease,
            "--action-rate-limit",
            "1000",
            "--probe-ttl-min",
            "60s",
            "--probe-ttl-max",
            "90s",
        ]
        .map(str::to_owned),
    );
    args
}

async fn replicas(deployment: &Deployment, args: &[String], count: usize) -> Vec<Replica> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut replicas = Vec::new();
    for _ in 0..count {
        replicas.push(deployment.start(&args).await);
    }
    replicas
}

async fn start(
    deployment: &Deployment,
    replica: &Replica,
    connection: &str,
    action: &str,
    params: Value,
) -> String {
    let owner = deployment.token("owner", "acme", Role::Owner);
    replica
        .actions(&owner)
        .start_action(start_request(connection, action, params))
        .await
        .expect("start")
        .into_inner()
        .name
}

async fn get(deployment: &Deployment, replica: &Replica, name: &str) -> Action {
    let owner = deployment.token("owner", "acme", Role::Owner);
    replica
        .actions(&owner)
        .get_action(GetActionRequest { name: name.into() })
        .await
        .expect("get")
        .into_inner()
}

/// Kills the replica holding `name`'s lease; the index of one still up.
async fn kill_holder(deployment: &Deployment, replicas: &mut [Replica], name: &str) -> usize {
    let holder = lease_holder(deployment, name).await;
    let victim = replicas
        .iter()
        .position(|r| r.id == holder)
        .expect("a replica holds the lease");
    replicas[victim].kill9().await;
    (victim + 1) % replicas.len()
}

fn bodies(fake: &FakeProvider, path: &str) -> Vec<Value> {
    fake.seen()
        .iter()
        .filter(|s| s.path == path && s.method == "POST")
        .map(|s| serde_json::from_slice(&s.body).expect("a JSON body"))
        .collect()
}

#[tokio::test]
async fn a_retry_after_a_crash_mid_deploy_finds_the_tagged_deployment() {
    let fake = FakeProvider::start().await;
    fake.set(LIST, Reply::json(200, json!({"deployments": []})));
    fake.set(
        CREATE,
        Reply::json(
            200,
            json!({"id": "dpl_new", "url": "site-new.vercel.app", "readyState": "QUEUED"}),
        )
        .delayed(Duration::from_secs(30)),
    );
    let deployment = Deployment::fresh().await;
    let mut replicas = replicas(&deployment, &args(&fake, "2s"), 2).await;
    let owner = deployment.token("owner", "acme", Role::Owner);
    let mut registry = replicas[0].registry(&owner);
    registry
        .create_connection(create_request(
            "acme",
            "site",
            "vercel",
            settings(&[("project_id", s("prj_1"))]),
        ))
        .await
        .expect("create");
    registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: "projects/acme/connections/site".into(),
            credentials: HashMap::from([("access_token".into(), "vc_fault".into())]),
            etag: String::new(),
        })
        .await
        .expect("credentials");

    let name = start(
        &deployment,
        &replicas[0],
        "site",
        "deploy",
        json!({"deployment_id": "dpl_old"}),
    )
    .await;
    fake.hit_again(CREATE, 1).await;
    // Vercel has the deployment now, tagged; the worker never hears back.
    let tag = bodies(&fake, CREATE)[0]["meta"]["patchbayActionId"].clone();
    assert_eq!(tag, json!(name.rsplit('/').next().expect("id")));
    fake.set(
        LIST,
        Reply::json(
            200,
            json!({"deployments": [{
                "uid": "dpl_new", "url": "site-new.vercel.app", "state": "BUILDING",
                "target": "production", "meta": {"patchbayActionId": tag},
            }]}),
        ),
    );
    let survivor = kill_holder(&deployment, &mut replicas, &name).await;
    assert_eq!(
        wait_action(&deployment, &replicas[survivor], &name).await,
        ActionState::Succeeded
    );

    let action = get(&deployment, &replicas[survivor], &name).await;
    let result = patchbay::proto::json::struct_to_json(action.result.as_ref().expect("result"));
    assert_eq!(result["deployment_id"], "dpl_new");
    assert_eq!(result["found_from_earlier_attempt"], true);
    let created = bodies(&fake, CREATE).len();
    eprintln!(
        "fault effects: Vercel deploy killed mid-effect: {created} deployment created in {} attempts \
         (tagged, looked up on retry); unconfirmed repeats {}",
        action.attempts, action.unconfirmed_repeats
    );
    assert_eq!(created, 1, "deployed once");
    assert_eq!(action.unconfirmed_repeats, 0);
    replicas[survivor].assert_no_secrets_logged(&["vc_fault"]);
}

#[tokio::test]
async fn a_retry_that_cannot_look_runs_again_and_says_so() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    fake.set(
        DISPATCH,
        Reply::status(204).delayed(Duration::from_secs(30)),
    );
    let deployment = Deployment::fresh().await;
    let mut replicas = replicas(&deployment, &args(&fake, "2s"), 2).await;
    github_connection(&deployment, &replicas[0], "web").await;

    let name = start(
        &deployment,
        &replicas[0],
        "web",
        "push",
        json!({"event_type": "ship"}),
    )
    .await;
    fake.hit_again(DISPATCH, 1).await;
    let survivor = kill_holder(&deployment, &mut replicas, &name).await;
    fake.set(DISPATCH, Reply::status(204));
    assert_eq!(
        wait_action(&deployment, &replicas[survivor], &name).await,
        ActionState::Succeeded
    );

    let action = get(&deployment, &replicas[survivor], &name).await;
    let dispatched = bodies(&fake, DISPATCH);
    eprintln!(
        "fault effects: GitHub dispatch killed mid-effect: {} dispatches in {} attempts (no way to \
         look); unconfirmed repeats {}",
        dispatched.len(),
        action.attempts,
        action.unconfirmed_repeats
    );
    assert_eq!(dispatched.len(), 2, "dispatched again");
    assert_eq!(
        action.unconfirmed_repeats, 1,
        "and the Action says it may have run twice"
    );
    let id = name.rsplit('/').next().expect("id");
    for body in &dispatched {
        assert_eq!(
            body["client_payload"]["patchbay_action_id"], id,
            "each carries the id"
        );
    }
}

#[tokio::test]
async fn a_result_held_through_a_database_outage_is_recorded_when_it_returns() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    fake.set(DISPATCH, Reply::status(204).delayed(Duration::from_secs(2)));
    let (_dir, mut pg) = private_postgres().await;
    let deployment = Deployment::on(pg.config(embedded::DATABASE));
    // A long lease: waiting it out, as a worker that gave up would, shows.
    let replica = replicas(&deployment, &args(&fake, "60s"), 1)
        .await
        .remove(0);
    github_connection(&deployment, &replica, "web").await;

    let name = start(
        &deployment,
        &replica,
        "web",
        "push",
        json!({"event_type": "ship"}),
    )
    .await;
    fake.hit_again(DISPATCH, 1).await;
    pg.stop().await.expect("stop PostgreSQL");
    // The dispatch answers while the database is away: the worker holds it.
    replica
        .wait_for_log("recording the attempt failed; trying again")
        .await;
    pg.restart().await.expect("start PostgreSQL again");
    let back = tokio::time::Instant::now();
    assert_eq!(
        wait_action(&deployment, &replica, &name).await,
        ActionState::Succeeded
    );
    let recorded_in = back.elapsed();
    let action = get(&deployment, &replica, &name).await;
    eprintln!(
        "fault effects: a result held through a database outage was recorded {:.2} s after \
         PostgreSQL returned; {} dispatch, {} attempt",
        recorded_in.as_secs_f64(),
        fake.hits_on(DISPATCH),
        action.attempts
    );
    assert!(recorded_in < Duration::from_secs(30), "not after the lease");
    assert_eq!(fake.hits_on(DISPATCH), 1);
    assert_eq!(action.attempts, 1);
}
