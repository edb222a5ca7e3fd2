//! The probe machinery against fake providers: the circuit breaker and its
//! stale fallback, rate limits, leases across replicas, and forced
//! refreshes. OAuth refresh and revocation are in `oauth.rs`.

use std::{collections::HashMap, time::Duration};

use patchbay::{
    auth::Role,
    proto::v1::{
        CircuitState, ProblemCode, RefreshStatusRequest, SetConnectionCredentialsRequest,
        StatusLevel, refresh_status_response,
    },
};
use serde_json::json;
use tonic::Code;

use crate::{
    connections::{create_request, github_settings},
    fakes::{FakeProvider, Reply},
    helpers::{TestOptions, assert_error, spawn_app_with},
    status::{
        active_github, active_github_repo, connected_app, fast_status, fresh_repo, level,
        two_replicas, wait_for,
    },
};

#[tokio::test]
async fn the_circuit_opens_serves_stale_goes_half_open_and_closes() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = connected_app(&fake).await;
    // A healthy neighbour whose probes show the prober is still working.
    fresh_repo(&fake, "acme", "beat", 1);
    active_github_repo(&app, "beat", "beat").await;
    let good = wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;

    // The provider fails: the last good status is served, stale.
    fake.set("/repos/acme/web", Reply::status(503));
    let stale = wait_for(&app, "web", "stale", |i| i.stale).await;
    assert_eq!(
        stale.summary, good.summary,
        "the last good summary is served"
    );
    assert_eq!(
        stale.problem.as_ref().map(|p| p.code),
        Some(i32::from(ProblemCode::Unreachable))
    );
    let open = wait_for(&app, "web", "OPEN", |i| {
        i.circuit_state == i32::from(CircuitState::Open)
    })
    .await;
    assert!(open.stale);
    assert_eq!(
        level(&open),
        StatusLevel::Warning,
        "an open circuit is visible in the level"
    );

    // While open, the provider is left alone: the neighbour is probed
    // twice meanwhile, well within the 1.5 s cool-down.
    let before = fake.hits_on("/repos/acme/web");
    fake.hit_again("/repos/acme/beat", 2).await;
    assert_eq!(
        fake.hits_on("/repos/acme/web"),
        before,
        "no probe during the cool-down"
    );

    // After the cool-down one trial runs half-open; it succeeds and closes.
    fresh_repo(&fake, "acme", "web", 1);
    fake.set(
        "/repos/acme/web/branches/main",
        Reply::json(
            200,
            json!({"commit": {"commit": {"committer": {"date": chrono::Utc::now().to_rfc3339()}}}}),
        )
        .delayed(Duration::from_millis(400)),
    );
    wait_for(&app, "web", "HALF_OPEN", |i| {
        i.circuit_state == i32::from(CircuitState::HalfOpen)
    })
    .await;
    let closed = wait_for(&app, "web", "CLOSED", |i| {
        i.circuit_state == i32::from(CircuitState::Closed)
    })
    .await;
    assert!(!closed.stale);
    assert_eq!(level(&closed), StatusLevel::Connected);
}

#[tokio::test]
async fn rate_limits_wait_without_opening_the_circuit() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = connected_app(&fake).await;
    fresh_repo(&fake, "acme", "beat", 1);
    active_github_repo(&app, "beat", "beat").await;
    fake.set(
        "/repos/acme/web",
        Reply::status(429).header("retry-after", "30"),
    );
    let limited = wait_for(&app, "web", "RATE_LIMITED", |i| {
        i.problem.as_ref().map(|p| p.code) == Some(i32::from(ProblemCode::RateLimited))
    })
    .await;
    assert_eq!(
        limited
            .problem
            .and_then(|p| p.retry_after)
            .map(|d| d.seconds),
        Some(30)
    );
    assert_eq!(limited.circuit_state, i32::from(CircuitState::Closed));
    assert!(limited.stale);
    // The neighbour is probed three times meanwhile; the limited one waits
    // out its 30 s.
    let hits = fake.hits_on("/repos/acme/web");
    fake.hit_again("/repos/acme/beat", 3).await;
    assert_eq!(
        fake.hits_on("/repos/acme/web"),
        hits,
        "the provider's budget is respected"
    );
}

#[tokio::test]
async fn two_replicas_never_probe_one_connection_at_once() {
    let fake = FakeProvider::start().await;
    let ids = ["a", "b", "c", "d"];
    for id in ids {
        fresh_repo(&fake, "acme", id, 1);
        fake.set(
            &format!("/repos/acme/{id}"),
            Reply::json(
                200,
                json!({"default_branch": "main", "pushed_at": chrono::Utc::now().to_rfc3339()}),
            )
            .delayed(Duration::from_millis(150)),
        );
    }
    let (first, second) = two_replicas(fast_status(&fake)).await;
    let owner = first.token("owner", &[("acme", Role::Owner)]);
    for id in ids {
        let mut request = create_request("acme", id, "github", github_settings());
        request.connection.as_mut().expect("set").settings = Some(crate::connections::settings(&[
            ("owner", crate::connections::s("acme")),
            ("repo", crate::connections::s(id)),
        ]));
        first
            .registry(Some(&owner))
            .create_connection(request)
            .await
            .expect("create");
        second
            .registry(Some(&owner))
            .set_connection_credentials(SetConnectionCredentialsRequest {
                name: format!("projects/acme/connections/{id}"),
                credentials: HashMap::from([("access_token".into(), "ghp_probe_token".into())]),
                etag: String::new(),
            })
            .await
            .expect("credentials");
    }
    for id in ids {
        let path = format!("/repos/acme/{id}");
        fake.hit_again(&path, 3).await;
    }
    for id in ids {
        let path = format!("/repos/acme/{id}");
        assert_eq!(
            fake.max_in_flight(&path),
            1,
            "{id} was probed twice at once"
        );
    }
}

#[tokio::test]
async fn refresh_status_probes_now_for_editors_and_is_rate_limited() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let mut config = fast_status(&fake);
    // Background probes rarely: the refresh is what probes.
    config.prober.policy.ttl = (Duration::from_secs(300), Duration::from_secs(300));
    let app = spawn_app_with(TestOptions {
        status: config,
        ..Default::default()
    })
    .await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    fresh_repo(&fake, "acme", "web", 20);

    let viewer = app.token("v", &[("acme", Role::Viewer)]);
    let denied = app
        .status(Some(&viewer))
        .refresh_status(RefreshStatusRequest {
            name: "projects/acme/connections/web".into(),
        })
        .await;
    assert_error(denied, Code::PermissionDenied, "ROLE_INSUFFICIENT");

    let editor = app.token("e", &[("acme", Role::Editor)]);
    let mut status = app.status(Some(&editor));
    let refreshed = status
        .refresh_status(RefreshStatusRequest {
            name: "projects/acme/connections/web".into(),
        })
        .await
        .expect("refresh")
        .into_inner();
    let Some(refresh_status_response::Result::ConnectionStatus(item)) = refreshed.result else {
        panic!("a connection refresh answers with the connection's status")
    };
    assert_eq!(level(&item), StatusLevel::Warning, "the probe ran now");

    let project = status
        .refresh_status(RefreshStatusRequest {
            name: "projects/acme".into(),
        })
        .await
        .expect("refresh project")
        .into_inner();
    let Some(refresh_status_response::Result::ProjectStatus(envelope)) = project.result else {
        panic!("a project refresh answers with the envelope")
    };
    assert_eq!(envelope.overall, i32::from(StatusLevel::Warning));

    let mut limited = None;
    for _ in 0..10 {
        if let Err(e) = status
            .refresh_status(RefreshStatusRequest {
                name: "projects/acme/connections/web".into(),
            })
            .await
        {
            limited = Some(e);
            break;
        }
    }
    let limited = limited.expect("the refresh limit applies");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    use tonic_types::StatusExt as _;
    assert!(limited.get_error_details().retry_info().is_some());
}
