//! SIGTERM with work in flight: a unary call finishes, a watch ends with
//! UNAVAILABLE, the probe finishes before its lease goes, an action whose
//! effect ends within the shutdown grace is recorded (not repeated later),
//! one whose effect outlasts it releases its lease (the next replica
//! resumes it at once, not after the lease would have expired), and the
//! process exits cleanly.

use std::time::Duration;

use patchbay::{
    auth::Role,
    proto::v1::{ActionState, GetActionRequest, RefreshStatusRequest},
};
use serde_json::json;
use tonic::Code;

use super::{load::Watcher, replica::Deployment, replicas::github_connection};
use crate::{
    actions::start_request,
    fakes::{FakeProvider, Reply},
    status::fresh_repo,
};

const DISPATCH: &str = "/repos/acme/web/dispatches";
const QUICK: &str = "/repos/acme/quick/dispatches";
const REPO: &str = "/repos/acme/web";

#[tokio::test]
async fn sigterm_finishes_unary_calls_ends_streams_and_releases_leases() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let base = format!("github={}", fake.url());
    // Leases long enough that waiting one out would show.
    let args = [
        "--provider-base-url",
        &base,
        "--action-lease",
        "60s",
        "--probe-ttl-min",
        "60s",
        "--probe-ttl-max",
        "90s",
    ];
    let deployment = Deployment::fresh().await;
    let mut replica = deployment.start(&args).await;
    github_connection(&deployment, &replica, "web").await;
    github_connection(&deployment, &replica, "quick").await;
    fake.hit_again(REPO, 1).await;
    let owner = deployment.token("owner", "acme", Role::Owner);

    // In flight at once: a watch, an action's effect and a forced probe.
    let watcher = Watcher::start(&deployment, &replica, None).await;
    fake.set(
        DISPATCH,
        Reply::status(204).delayed(Duration::from_secs(30)),
    );
    let action = replica
        .actions(&owner)
        .start_action(start_request(
            "web",
            "push",
            json!({"event_type": "at-sigterm"}),
        ))
        .await
        .expect("start")
        .into_inner()
        .name;
    fake.hit_again(DISPATCH, 1).await;
    // Well inside the 5 s grace.
    fake.set(QUICK, Reply::status(204).delayed(Duration::from_secs(2)));
    let quick = replica
        .actions(&owner)
        .start_action(start_request(
            "quick",
            "push",
            json!({"event_type": "quick"}),
        ))
        .await
        .expect("start")
        .into_inner()
        .name;
    fake.hit_again(QUICK, 1).await;
    fake.set(
        REPO,
        Reply::json(200, json!({"default_branch": "main", "private": true}))
            .delayed(Duration::from_millis(1500)),
    );
    let mut status = replica.status(&owner);
    let refresh = tokio::spawn(async move {
        status
            .refresh_status(RefreshStatusRequest {
                name: "projects/acme/connections/web".into(),
            })
            .await
    });
    fake.hit_again(REPO, 1).await;

    replica.sigterm();
    let refreshed = refresh.await.expect("join");
    assert!(refreshed.is_ok(), "the unary call finished: {refreshed:?}");
    let (_, ended) = watcher.ended().await;
    assert_eq!(
        ended.map(|s| s.code()),
        Some(Code::Unavailable),
        "the watch ends with UNAVAILABLE"
    );
    let exit = replica.exited(Duration::from_secs(30)).await;
    assert!(exit.success(), "a clean exit: {exit:?}");

    let db = deployment.db().await;
    let probe_leases: i64 = db
        .query_one(
            "SELECT count(*) FROM connection_status WHERE lease_owner IS NOT NULL",
            &[],
        )
        .await
        .expect("probe leases")
        .get(0);
    assert_eq!(probe_leases, 0, "no probe lease left behind");
    let action_id = action.rsplit('/').next().expect("id").to_owned();
    let row = db
        .query_one(
            "SELECT state, lease_owner IS NULL FROM actions WHERE id = $1",
            &[&action_id],
        )
        .await
        .expect("the action");
    let (state, released): (String, bool) = (row.get(0), row.get(1));
    assert!(released, "the action's lease was released ({state})");
    let quick_id = quick.rsplit('/').next().expect("id").to_owned();
    let quick_state: String = db
        .query_one("SELECT state FROM actions WHERE id = $1", &[&quick_id])
        .await
        .expect("the quick action")
        .get(0);
    assert_eq!(
        quick_state, "succeeded",
        "the effect that finished in the grace was recorded"
    );

    // The next replica resumes it now, not after the 60 s lease.
    fake.set(DISPATCH, Reply::status(204));
    let next = deployment.start(&args).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = next
            .actions(&owner)
            .get_action(GetActionRequest {
                name: action.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        if ActionState::try_from(got.state) == Ok(ActionState::Succeeded) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the action waited for its lease: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.hits_on(QUICK), 1, "and not repeated");
    for replica in [&replica, &next] {
        replica.assert_no_secrets_logged(&["ghp_fault"]);
    }
}
