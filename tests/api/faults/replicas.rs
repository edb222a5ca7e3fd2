//! Three replicas on one database: deliveries, actions and probes are each
//! handled once across them, watchers on every replica see every event,
//! and the work of a replica killed mid-action is finished by the others.

use std::{collections::HashMap, time::Duration};

use patchbay::{
    auth::Role,
    proto::v1::{ActionState, GetActionRequest, SetConnectionCredentialsRequest},
};
use serde_json::json;

use super::{
    kill9::UNLIMITED,
    load::{Senders, Watcher, logged_events, wait_processed, webhook_connection},
    replica::{Deployment, Replica},
};
use crate::{
    actions::start_request,
    connections::{create_request, s, settings},
    fakes::{FakeProvider, Reply},
    status::fresh_repo,
};

const REPOS: usize = 6;

pub async fn github_connection(deployment: &Deployment, replica: &Replica, repo: &str) {
    let owner = deployment.token("owner", "acme", Role::Owner);
    let mut registry = replica.registry(&owner);
    let settings = settings(&[("owner", s("acme")), ("repo", s(repo))]);
    registry
        .create_connection(create_request("acme", repo, "github", settings))
        .await
        .expect("create");
    registry
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: format!("projects/acme/connections/{repo}"),
            credentials: HashMap::from([("access_token".into(), "ghp_fault".into())]),
            etag: String::new(),
        })
        .await
        .expect("credentials");
}

pub async fn wait_action(deployment: &Deployment, replica: &Replica, name: &str) -> ActionState {
    let owner = deployment.token("owner", "acme", Role::Owner);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let action = replica
            .actions(&owner)
            .get_action(GetActionRequest { name: name.into() })
            .await
            .expect("get action")
            .into_inner();
        let state = ActionState::try_from(action.state).unwrap_or_default();
        if matches!(
            state,
            ActionState::Succeeded | ActionState::Failed | ActionState::Cancelled
        ) {
            return state;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn three_replicas_handle_each_delivery_action_and_probe_once() {
    let fake = FakeProvider::start().await;
    for n in 0..REPOS {
        let repo = format!("repo{n}");
        fresh_repo(&fake, "acme", &repo, 1);
        // Slow enough that two probes of one connection would overlap.
        fake.set(
            &format!("/repos/acme/{repo}"),
            Reply::json(200, json!({"default_branch": "main", "private": true}))
                .delayed(Duration::from_millis(100)),
        );
        fake.set(
            &format!("/repos/acme/{repo}/dispatches"),
            Reply::status(204),
        );
    }
    let base = format!("github={}", fake.url());
    let mut args = vec!["--provider-base-url", &base];
    args.extend(UNLIMITED);
    args.extend(["--probe-ttl-min", "500ms", "--probe-ttl-max", "700ms"]);
    args.extend(["--action-lease", "2s", "--action-retry-base", "100ms"]);
    args.extend(["--action-rate-limit", "1000"]);
    let deployment = Deployment::fresh().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(deployment.start(&args).await);
    }
    let (key, secret) = webhook_connection(&deployment, &replicas[0]).await;
    for n in 0..REPOS {
        github_connection(&deployment, &replicas[n % 3], &format!("repo{n}")).await;
    }
    let mut watchers = Vec::new();
    for replica in &replicas {
        watchers.push(Watcher::start(&deployment, replica, None).await);
    }
    let start = watchers.iter().map(|w| w.start).min().expect("watchers");

    // Deliveries through every replica, and actions started on each.
    let senders: Vec<Senders> = replicas
        .iter()
        .map(|r| Senders::start(4, &r.http_url(&format!("/webhooks/{key}")), &secret))
        .collect();
    let owner = deployment.token("owner", "acme", Role::Owner);
    let mut actions = Vec::new();
    for n in 0..30 {
        let replica = &replicas[n % 3];
        let repo = format!("repo{}", n % REPOS);
        let request = start_request(&repo, "push", json!({"event_type": format!("fault-{n}")}));
        let action = replica
            .actions(&owner)
            .start_action(request)
            .await
            .expect("start")
            .into_inner();
        actions.push(action.name);
    }
    for senders in &senders {
        senders.wait_accepted(100).await;
    }
    for name in &actions {
        assert_eq!(
            wait_action(&deployment, &replicas[0], name).await,
            ActionState::Succeeded
        );
    }
    let mut sent = Vec::new();
    for senders in senders {
        sent.extend(senders.finish().await);
    }
    wait_processed(&deployment).await;

    // Deliveries: one event each.
    let acknowledged = sent.iter().filter(|s| s.status == 202).count();
    let events: i64 = deployment
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM status_events WHERE kind = 'webhook_received'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    let stored: i64 = deployment
        .db()
        .await
        .query_one("SELECT count(DISTINCT id) FROM webhook_deliveries", &[])
        .await
        .expect("count")
        .get(0);
    assert!(stored >= acknowledged as i64);
    assert_eq!(events, stored, "each delivery processed once");

    // Actions: one provider call each.
    let dispatches: usize = (0..REPOS)
        .map(|n| fake.hits_on(&format!("/repos/acme/repo{n}/dispatches")))
        .sum();
    assert_eq!(dispatches, actions.len(), "each action ran once");

    // Probes: never two at once for a connection, and no more than one
    // replica's worth: each connection is due every 500-700 ms, so four
    // probes of each take at least 1.5 s unless replicas double up.
    let (probing, probes) = probe_rounds(&fake, 4).await;
    let most = probing.as_secs_f64() / 0.5 + 2.0;
    for (path, count) in &probes {
        assert_eq!(fake.max_in_flight(path), 1, "{path} probed twice at once");
        assert!(
            (*count as f64) <= most,
            "{path} probed {count} times in {probing:?}"
        );
    }
    eprintln!(
        "fault replicas: 3 replicas, {acknowledged} deliveries acknowledged, {stored} stored, \
         {events} processed; {} actions, {dispatches} provider calls; {} probes of {REPOS} \
         connections in {:.1} s (at most {most:.0} each allowed)",
        actions.len(),
        probes.values().sum::<usize>(),
        probing.as_secs_f64(),
    );

    // Every replica's watcher saw every event of the log.
    let log = logged_events(&deployment, start).await;
    let head = *log.keys().last().expect("events");
    for watcher in &watchers {
        watcher.wait_for(head).await;
        let seen: Vec<i64> = watcher
            .seen()
            .seqs
            .into_iter()
            .filter(|seq| *seq <= head)
            .collect();
        let logged: Vec<i64> = log.keys().copied().filter(|s| *s > watcher.start).collect();
        assert_eq!(seen, logged, "a watcher missed or repeated an event");
    }

    // A replica killed mid-action: another one finishes it.
    let dispatch = "/repos/acme/repo0/dispatches";
    fake.set(dispatch, Reply::status(204).delayed(Duration::from_secs(3)));
    let before = fake.hits_on(dispatch);
    let request = start_request("repo0", "push", json!({"event_type": "killed-mid-effect"}));
    let name = replicas[0]
        .actions(&owner)
        .start_action(request)
        .await
        .expect("start")
        .into_inner()
        .name;
    fake.hit_again(dispatch, 1).await;
    let holder = lease_holder(&deployment, &name).await;
    let victim = replicas
        .iter()
        .position(|r| r.id == holder)
        .expect("a replica holds the lease");
    replicas[victim].kill9().await;
    let survivor = &replicas[(victim + 1) % 3];
    assert_eq!(
        wait_action(&deployment, survivor, &name).await,
        ActionState::Succeeded
    );
    eprintln!(
        "fault replicas: the action of a replica killed mid-effect was finished by another \
         after {} provider calls",
        fake.hits_on(dispatch) - before
    );
    for replica in &replicas {
        replica.assert_no_secrets_logged(&[&secret, "ghp_fault"]);
    }
}

/// Waits until every connection was probed `rounds` times: how long that
/// took, and each connection's probes by path.
async fn probe_rounds(fake: &FakeProvider, rounds: usize) -> (Duration, HashMap<String, usize>) {
    let from = fake.seen().len();
    let started = tokio::time::Instant::now();
    loop {
        let seen = fake.seen();
        let probes: HashMap<String, usize> = (0..REPOS)
            .map(|n| {
                let path = format!("/repos/acme/repo{n}");
                let count = seen[from..].iter().filter(|s| s.path == path).count();
                (path, count)
            })
            .collect();
        if probes.values().all(|count| *count >= rounds) {
            return (started.elapsed(), probes);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "probes stalled: {probes:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The replica holding `name`'s lease, once its effect is under way.
pub async fn lease_holder(deployment: &Deployment, name: &str) -> String {
    let id = name.rsplit('/').next().expect("an id").to_owned();
    let db = deployment.db().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = db
            .query_opt(
                "SELECT lease_owner::text FROM actions WHERE id = $1 AND state = 'running' \
                 AND lease_owner IS NOT NULL",
                &[&id],
            )
            .await
            .expect("read the action");
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(tokio::time::Instant::now() < deadline, "never running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
