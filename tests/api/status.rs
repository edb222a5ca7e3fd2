//! Project status end to end: probes against fake providers, read from
//! memory, redacted for viewers, with per-caller actions; the circuit
//! breaker; probe leases across replicas; OAuth refresh.

use std::{collections::HashMap, time::Duration};

use patchbay::{
    app::StatusConfig,
    auth::Role,
    proto::v1::{
        GetConnectionStatusRequest, GetProjectStatusRequest, IntegrationStatus,
        SetConnectionCredentialsRequest, StatusLevel,
    },
    status::{circuit::ProbePolicy, prober::ProberConfig},
};
use serde_json::json;
use tonic::Code;

use crate::{
    connections::{create_github, create_request, s, settings},
    fakes::{FakeProvider, Reply},
    helpers::{TestApp, TestOptions, assert_error, random_secret, spawn_app_with},
};

/// Probes every ~100 ms; the circuit opens after 3 failures for 1.5 s.
pub fn fast_status(fake: &FakeProvider) -> StatusConfig {
    StatusConfig {
        prober: ProberConfig {
            policy: ProbePolicy {
                ttl: (Duration::from_millis(80), Duration::from_millis(120)),
                failure_threshold: 3,
                cool_down: Duration::from_millis(1500),
            },
            timeout: Duration::from_secs(2),
            tick: Duration::from_millis(20),
            base_uris: [("github".to_owned(), fake.url())].into_iter().collect(),
            ..ProberConfig::default()
        },
        event_backstop: Duration::from_millis(100),
        ..StatusConfig::default()
    }
}

pub fn fresh_repo(fake: &FakeProvider, owner: &str, repo: &str, days_ago: i64) {
    let when = (chrono::Utc::now() - chrono::Duration::days(days_ago)).to_rfc3339();
    fake.set(
        &format!("/repos/{owner}/{repo}"),
        Reply::json(
            200,
            json!({"default_branch": "main", "private": true, "pushed_at": when}),
        ),
    );
    fake.set(
        &format!("/repos/{owner}/{repo}/branches/main"),
        Reply::json(
            200,
            json!({"commit": {"commit": {"committer": {"date": when}}}}),
        ),
    );
}

/// Creates an active GitHub connection (credentials set) in `acme`.
pub async fn active_github(app: &TestApp, id: &str) {
    create_github(app, "acme", id).await;
    activate(app, id).await;
}

/// Creates an active GitHub connection `id` in `acme` watching `acme/{repo}`.
pub async fn active_github_repo(app: &TestApp, id: &str, repo: &str) {
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let settings = settings(&[("owner", s("acme")), ("repo", s(repo))]);
    app.registry(Some(&owner))
        .create_connection(create_request("acme", id, "github", settings))
        .await
        .expect("create");
    activate(app, id).await;
}

async fn activate(app: &TestApp, id: &str) {
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    app.registry(Some(&owner))
        .set_connection_credentials(SetConnectionCredentialsRequest {
            name: format!("projects/acme/connections/{id}"),
            credentials: HashMap::from([("access_token".into(), "ghp_test".into())]),
            etag: String::new(),
        })
        .await
        .expect("set credentials");
}

/// Polls the connection's status until `done` holds (10 s at most).
pub async fn wait_for(
    app: &TestApp,
    id: &str,
    what: &str,
    done: impl Fn(&IntegrationStatus) -> bool,
) -> IntegrationStatus {
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let mut status = app.status(Some(&owner));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        if let Ok(item) = status
            .get_connection_status(GetConnectionStatusRequest {
                name: format!("projects/acme/connections/{id}"),
            })
            .await
        {
            let item = item.into_inner();
            if done(&item) {
                return item;
            }
            last = Some(item);
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    panic!("{id} never became {what}; last: {last:#?}");
}

/// A server probing `fake` fast, with an active GitHub connection `web`
/// already CONNECTED.
pub async fn connected_app(fake: &FakeProvider) -> TestApp {
    let app = fast_app(fake).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    app
}

pub async fn fast_app(fake: &FakeProvider) -> TestApp {
    spawn_app_with(TestOptions {
        status: fast_status(fake),
        ..Default::default()
    })
    .await
}

pub fn level(item: &IntegrationStatus) -> StatusLevel {
    StatusLevel::try_from(item.status).unwrap_or(StatusLevel::Unspecified)
}

#[tokio::test]
async fn project_status_comes_from_probes_redacted_per_role_with_actions() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = connected_app(&fake).await;

    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);
    let request = |if_none_match: &str, include: &[&str]| GetProjectStatusRequest {
        project: "projects/acme".into(),
        if_none_match: if_none_match.into(),
        include_types: include.iter().map(|s| (*s).to_owned()).collect(),
    };
    let full = app
        .status(Some(&owner))
        .get_project_status(request("", &[]))
        .await
        .expect("owner")
        .into_inner();
    assert_eq!(full.overall, i32::from(StatusLevel::Connected));
    assert_eq!(full.items.len(), 1);
    let item = &full.items[0];
    assert!(item.summary.contains("acme/web@main"), "{}", item.summary);
    assert!(item.configured && !item.stale);
    let can = |i: &IntegrationStatus, action: &str| {
        i.actions
            .iter()
            .find(|a| a.action == action)
            .map(|a| (a.can, a.reason.clone()))
    };
    assert_eq!(can(item, "push"), Some((true, String::new())));
    assert_eq!(can(item, "disconnect"), Some((true, String::new())));

    let redacted = app
        .status(Some(&viewer))
        .get_project_status(request("", &[]))
        .await
        .expect("viewer")
        .into_inner();
    let seen = &redacted.items[0];
    assert!(
        !seen.summary.contains("acme") && seen.summary.starts_with("Private repository"),
        "{}",
        seen.summary
    );
    let (push, why) = can(seen, "push").expect("push listed");
    assert!(!push && why.starts_with("ROLE_INSUFFICIENT"), "{why}");
    assert_eq!(
        redacted.hash, full.hash,
        "redaction does not change the hash"
    );
    assert_eq!(redacted.overall, full.overall);

    // The gRPC 304.
    let same = app
        .status(Some(&owner))
        .get_project_status(request(&full.hash, &[]))
        .await
        .expect("304")
        .into_inner();
    assert!(same.not_modified && same.items.is_empty());
    assert_eq!(same.hash, full.hash);

    // Placeholders keep a UI's layout and degrade nothing.
    let with_vercel = app
        .status(Some(&owner))
        .get_project_status(request("", &["vercel", "integrationTypes/github"]))
        .await
        .expect("with placeholders")
        .into_inner();
    assert_eq!(with_vercel.items.len(), 2);
    let placeholder = &with_vercel.items[1];
    assert_eq!(placeholder.integration_type, "integrationTypes/vercel");
    assert!(!placeholder.configured && placeholder.connection.is_empty());
    assert_eq!(placeholder.status, i32::from(StatusLevel::Disconnected));
    assert_eq!(with_vercel.overall, i32::from(StatusLevel::Connected));
    assert_eq!(with_vercel.hash, full.hash);

    // The provider's answer changes: so do the item, the overall and the hash.
    fresh_repo(&fake, "acme", "web", 12);
    wait_for(&app, "web", "WARNING", |i| level(i) == StatusLevel::Warning).await;
    let later = app
        .status(Some(&owner))
        .get_project_status(request(&full.hash, &[]))
        .await
        .expect("later")
        .into_inner();
    assert!(!later.not_modified);
    assert_ne!(later.hash, full.hash);
    assert_eq!(later.overall, i32::from(StatusLevel::Warning));

    let outsider = app.token("mallory", &[("other", Role::Owner)]);
    let denied = app
        .status(Some(&outsider))
        .get_project_status(request("", &[]))
        .await;
    assert_error(denied, Code::PermissionDenied, "PROJECT_ACCESS_DENIED");
}

/// Two servers on one database, sharing JWT and encryption keys.
pub async fn two_replicas(status: StatusConfig) -> (TestApp, TestApp) {
    let keys = random_secret();
    let keyring = crate::helpers::random_keyring("shared");
    let first = spawn_app_with(TestOptions {
        keys: Some(keys.clone()),
        keyring: Some(keyring.clone()),
        status: status.clone(),
        ..Default::default()
    })
    .await;
    let second = spawn_app_with(TestOptions {
        database: Some(first.database.clone()),
        keys: Some(keys),
        keyring: Some(keyring),
        status,
        ..Default::default()
    })
    .await;
    (first, second)
}

#[tokio::test]
async fn include_types_must_name_registered_types() {
    let app = spawn_app_with(TestOptions::default()).await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let refused = assert_error(
        app.status(Some(&owner))
            .get_project_status(GetProjectStatusRequest {
                project: "projects/acme".into(),
                if_none_match: String::new(),
                include_types: vec!["github".into(), "nosuchtype".into(), "Bad Name".into()],
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        crate::helpers::violations(&refused),
        ["include_types[1]", "include_types[2]"]
    );
    let mut watch = crate::watch::watch_request(None, Duration::from_secs(15));
    watch.include_types = vec!["integrationTypes/nosuchtype".into()];
    let refused = assert_error(
        app.status(Some(&owner)).watch_project_status(watch).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(crate::helpers::violations(&refused), ["include_types[0]"]);
}
