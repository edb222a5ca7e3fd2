//! The HubSpot, Salesforce and http probes against fake providers: what
//! each answer means for the status.

use std::time::Duration;

use patchbay::{
    providers::ProbeError,
    status::model::{Level, ProblemCode},
};
use serde_json::json;

use crate::{
    fakes::{FakeProvider, Reply},
    providers::{code, probe},
};

#[tokio::test]
async fn hubspot_reads_the_account_and_its_budget() {
    let fake = FakeProvider::start().await;
    let path = "/account-info/v3/details";
    let token = [("access_token", "pat-x")];
    fake.set(
        path,
        Reply::json(200, json!({"portalId": 42, "accountType": "STANDARD"}))
            .header("x-hubspot-ratelimit-daily", "250000")
            .header("x-hubspot-ratelimit-daily-remaining", "200000"),
    );
    let ok = probe("hubspot", &fake.url(), json!({"portal_id": 42}), &token)
        .await
        .expect("ok");
    assert_eq!(ok.level, Level::Connected);
    assert!(ok.summary.contains("200000 of 250000"), "{}", ok.summary);
    let wrong = probe("hubspot", &fake.url(), json!({"portal_id": 7}), &token).await;
    assert_eq!(code(&wrong), ProblemCode::Misconfigured);

    fake.set(
        path,
        Reply::json(200, json!({"portalId": 42}))
            .header("x-hubspot-ratelimit-max", "100")
            .header("x-hubspot-ratelimit-remaining", "3"),
    );
    let low = probe("hubspot", &fake.url(), json!({}), &token)
        .await
        .expect("ok");
    assert_eq!(low.level, Level::Warning);
    assert_eq!(
        low.redacted_summary, "Account reachable; API budget nearly spent",
        "viewers are told too"
    );
    assert_eq!(low.problem.map(|p| p.code), Some(ProblemCode::RateLimited));
    fake.set(
        path,
        Reply::json(200, json!({"portalId": 42}))
            .header("x-hubspot-ratelimit-max", "100")
            .header("x-hubspot-ratelimit-remaining", "10"),
    );
    let tenth = probe("hubspot", &fake.url(), json!({}), &token)
        .await
        .expect("ok");
    assert_eq!(
        tenth.level,
        Level::Connected,
        "a tenth left is not under 10%"
    );
    fake.set(
        path,
        Reply::json(200, json!({"portalId": 42}))
            .header("x-hubspot-ratelimit-max", "100")
            .header("x-hubspot-ratelimit-remaining", &i64::MAX.to_string()),
    );
    let huge = probe("hubspot", &fake.url(), json!({}), &token)
        .await
        .expect("a nonsense budget is no panic");
    assert_eq!(huge.level, Level::Connected);

    fake.set(path, Reply::status(429).header("retry-after", "10"));
    assert!(matches!(
        probe("hubspot", &fake.url(), json!({}), &token).await,
        Err(ProbeError::RateLimited(_))
    ));
    fake.set(path, Reply::status(401));
    let oauth = [
        ("access_token", "access-a-token"),
        ("refresh_token", "refresh-r-token"),
    ];
    assert_eq!(
        code(&probe("hubspot", &fake.url(), json!({}), &oauth).await),
        ProblemCode::OauthRevoked
    );
}

#[tokio::test]
async fn salesforce_reads_the_limits_endpoint() {
    let fake = FakeProvider::start().await;
    let path = "/services/data/v62.0/limits";
    let settings = json!({"instance_url": fake.url()});
    let token = [("access_token", "00D")];
    fake.set(
        path,
        Reply::json(
            200,
            json!({"DailyApiRequests": {"Max": 15000, "Remaining": 14000}}),
        ),
    );
    let ok = probe("salesforce", "", settings.clone(), &token)
        .await
        .expect("ok");
    assert_eq!(ok.level, Level::Connected);
    assert!(ok.summary.contains("14000 of 15000"));
    fake.set(
        path,
        Reply::json(
            200,
            json!({"DailyApiRequests": {"Max": 15000, "Remaining": 900}}),
        ),
    );
    assert_eq!(
        probe("salesforce", "", settings.clone(), &token)
            .await
            .expect("ok")
            .level,
        Level::Warning
    );
    for (remaining, level) in [(1500, Level::Connected), (i64::MAX, Level::Connected)] {
        fake.set(
            path,
            Reply::json(
                200,
                json!({"DailyApiRequests": {"Max": 15000, "Remaining": remaining}}),
            ),
        );
        assert_eq!(
            probe("salesforce", "", settings.clone(), &token)
                .await
                .expect("ok")
                .level,
            level,
            "{remaining} left: a tenth is not under 10%, and no number panics"
        );
    }
    fake.set(
        path,
        Reply::json(
            200,
            json!({"DailyApiRequests": {"Max": 15000, "Remaining": 0}}),
        ),
    );
    assert!(matches!(
        probe("salesforce", "", settings.clone(), &token).await,
        Err(ProbeError::RateLimited(_))
    ));
    fake.set(path, Reply::status(401));
    assert_eq!(
        code(&probe("salesforce", "", settings, &token).await),
        ProblemCode::Unauthorized
    );
}

#[tokio::test]
async fn http_needs_a_2xx_within_the_timeout() {
    let fake = FakeProvider::start().await;
    let settings = json!({"health_url": format!("{}/health", fake.url())});
    fake.set("/health", Reply::status(200));
    let ok = probe("http", "", settings.clone(), &[("bearer_token", "b")])
        .await
        .expect("ok");
    assert_eq!(ok.level, Level::Connected);
    assert_eq!(
        fake.seen()[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer b")
    );
    fake.set("/health", Reply::status(503));
    assert!(matches!(
        probe("http", "", settings.clone(), &[]).await,
        Err(ProbeError::Definitive(_))
    ));
    fake.set(
        "/health",
        Reply::status(200).delayed(Duration::from_secs(2)),
    );
    assert_eq!(
        code(&probe("http", "", settings, &[]).await),
        ProblemCode::Timeout
    );
    let refused = probe(
        "http",
        "",
        json!({"health_url": "http://127.0.0.1:1/health"}),
        &[],
    )
    .await;
    assert_eq!(code(&refused), ProblemCode::Unreachable);
}
