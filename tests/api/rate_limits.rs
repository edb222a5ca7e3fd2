//! Request rate limits on gRPC: per token subject, per peer for calls
//! without a valid token, and a per-peer flood guard; health is never
//! limited.

use std::time::Instant;

use patchbay::{
    auth::Role, grpc::GrpcLimits, proto::v1::ListConnectionsRequest, rate_limit::RateLimit,
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_types::StatusExt as _;

use crate::helpers::{TestApp, TestOptions, reason, spawn_app_with};

const BURST: u32 = 3;

async fn app_limited(limits: GrpcLimits) -> TestApp {
    spawn_app_with(TestOptions {
        grpc_limits: limits,
        ..TestOptions::default()
    })
    .await
}

fn one_per_second() -> Option<RateLimit> {
    Some(RateLimit {
        per_second: 1,
        burst: BURST,
    })
}

/// One call as `token`; `Err` only when it was rate limited.
async fn call(app: &TestApp, token: Option<&str>) -> Result<(), tonic::Status> {
    let result = app
        .registry(token)
        .list_connections(ListConnectionsRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await;
    match result {
        Err(status) if status.code() == Code::ResourceExhausted => Err(status),
        _ => Ok(()),
    }
}

/// Calls until one is refused; asserts the burst passed first and no more
/// than the refill since then, and that the refusal says when to retry.
async fn assert_limited_after_burst(app: &TestApp, token: Option<&str>) {
    let started = Instant::now();
    let mut passed = 0u64;
    let refused = loop {
        match call(app, token).await {
            Ok(()) => passed += 1,
            Err(status) => break status,
        }
        assert!(passed < 100, "never limited");
    };
    let refilled = started.elapsed().as_secs() + 1;
    assert!(passed >= u64::from(BURST), "the burst passes: {passed}");
    assert!(
        passed <= u64::from(BURST) + refilled,
        "{passed} calls passed in {refilled} s"
    );
    assert_eq!(reason(&refused), "RATE_LIMITED", "{refused:?}");
    let retry = refused.get_error_details().retry_info().cloned();
    assert!(
        retry
            .and_then(|r| r.retry_delay)
            .is_some_and(|d| d.as_secs() >= 1),
        "{refused:?}"
    );
}

#[tokio::test]
async fn each_token_subject_has_its_own_budget() {
    let app = app_limited(GrpcLimits {
        per_caller: one_per_second(),
        per_peer: None,
    })
    .await;
    let alice = app.token("alice", &[("acme", Role::Owner)]);
    let alice_again = app.token("alice", &[("acme", Role::Viewer)]);
    let bob = app.token("bob", &[("acme", Role::Owner)]);
    assert_limited_after_burst(&app, Some(&alice)).await;
    // The subject is the key, not the token string.
    assert!(call(&app, Some(&alice_again)).await.is_err());
    assert!(call(&app, Some(&bob)).await.is_ok(), "bob has his own");
}

#[tokio::test]
async fn calls_without_a_valid_token_are_limited_per_peer() {
    let app = app_limited(GrpcLimits {
        per_caller: one_per_second(),
        per_peer: None,
    })
    .await;
    assert_limited_after_burst(&app, None).await;
    // Forged tokens share the peer's budget with missing ones.
    assert!(call(&app, Some("not.a.jwt")).await.is_err());
    let alice = app.token("alice", &[("acme", Role::Owner)]);
    assert!(
        call(&app, Some(&alice)).await.is_ok(),
        "a valid token has its own"
    );
}

#[tokio::test]
async fn the_peer_guard_counts_every_caller_and_spares_health() {
    let app = app_limited(GrpcLimits {
        per_caller: None,
        per_peer: one_per_second(),
    })
    .await;
    let tokens: Vec<String> = (0..BURST + 5)
        .map(|i| app.token(&format!("user-{i}"), &[("acme", Role::Owner)]))
        .collect();
    let mut refused = None;
    for token in &tokens {
        if let Err(status) = call(&app, Some(token)).await {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("distinct subjects on one peer are limited");
    assert_eq!(reason(&refused), "RATE_LIMITED");
    // The local health prober is never limited.
    let mut health = app.health();
    for _ in 0..50 {
        let status = health
            .check(HealthCheckRequest::default())
            .await
            .expect("health is never limited")
            .into_inner()
            .status;
        assert_eq!(status, i32::from(ServingStatus::Serving));
    }
}
