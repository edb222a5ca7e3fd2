//! Every provider's probe against fake providers (and a real PostgreSQL for
//! Supabase): what each answer means for the status. GitHub, Vercel, Sanity
//! and Supabase here; HubSpot, Salesforce and http in `providers_crm_http`.

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use patchbay::{
    providers::{self, Call, Observation, ProbeError},
    status::model::{Level, ProblemCode},
};
use serde_json::{Value, json};

use crate::{
    database,
    fakes::{FakeProvider, Reply},
};

pub async fn probe(
    probe: &str,
    base: &str,
    settings: Value,
    credentials: &[(&str, &str)],
) -> Result<Observation, ProbeError> {
    let http = reqwest::Client::new();
    let Value::Object(settings) = settings else {
        panic!("settings must be an object")
    };
    let credentials: BTreeMap<String, String> = credentials
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let base = providers::resolve_base_uri(base, &settings);
    let call = Call {
        http: &http,
        base_uri: &base,
        settings: &settings,
        credentials: &credentials,
        timeout: Duration::from_millis(500),
        now: Utc::now(),
    };
    providers::find(probe)
        .expect("a known probe")
        .probe(&call)
        .await
}

pub fn code(result: &Result<Observation, ProbeError>) -> ProblemCode {
    result.as_ref().expect_err("a failure").problem().code
}

fn hint(result: &Result<Observation, ProbeError>) -> String {
    result
        .as_ref()
        .expect_err("a failure")
        .problem()
        .hint
        .clone()
}

fn days_ago(days: i64) -> String {
    (Utc::now() - chrono::Duration::days(days)).to_rfc3339()
}

fn github_repo(fake: &FakeProvider, pushed_days_ago: i64) {
    fake.set(
        "/repos/acme/web",
        Reply::json(
            200,
            json!({"default_branch": "main", "private": true, "pushed_at": days_ago(pushed_days_ago)}),
        ),
    );
    fake.set(
        "/repos/acme/web/branches/main",
        Reply::json(
            200,
            json!({"name": "main", "commit": {"commit": {"committer": {"date": days_ago(pushed_days_ago)}}}}),
        ),
    );
}

#[tokio::test]
async fn github_maps_freshness_auth_and_rate_limits() {
    let fake = FakeProvider::start().await;
    let settings = json!({"owner": "acme", "repo": "web"});
    let token = [("access_token", "ghp_x")];

    github_repo(&fake, 1);
    let fresh = probe("github", &fake.url(), settings.clone(), &token)
        .await
        .expect("fresh");
    assert_eq!(fresh.level, Level::Connected);
    assert!(fresh.summary.contains("acme/web@main"), "{}", fresh.summary);
    assert!(
        !fresh.redacted_summary.contains("acme"),
        "{}",
        fresh.redacted_summary
    );
    let seen = fake.seen();
    assert_eq!(
        seen[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer ghp_x")
    );

    github_repo(&fake, 9);
    let stale = probe("github", &fake.url(), settings.clone(), &token)
        .await
        .expect("stale");
    assert_eq!(stale.level, Level::Warning);
    github_repo(&fake, 7);
    let week_old = probe("github", &fake.url(), settings.clone(), &token)
        .await
        .expect("a week old");
    assert_eq!(
        week_old.level,
        Level::Warning,
        "seven days is no longer fresh"
    );

    let missing_branch = probe(
        "github",
        &fake.url(),
        json!({"owner": "acme", "repo": "web", "branch": "gone"}),
        &token,
    )
    .await;
    assert_eq!(code(&missing_branch), ProblemCode::Misconfigured);
    assert!(matches!(missing_branch, Err(ProbeError::Definitive(_))));
    assert_eq!(
        hint(&missing_branch),
        "branch gone does not exist in acme/web"
    );
    let missing_repo = probe(
        "github",
        &fake.url(),
        json!({"owner": "acme", "repo": "gone"}),
        &token,
    )
    .await;
    assert_eq!(code(&missing_repo), ProblemCode::Misconfigured);
    assert_eq!(
        hint(&missing_repo),
        "repository acme/gone not found, or the token cannot see it"
    );

    fake.set("/repos/acme/web", Reply::status(401));
    let unauthorized = probe("github", &fake.url(), settings.clone(), &token).await;
    assert_eq!(code(&unauthorized), ProblemCode::Unauthorized);
    assert!(
        !hint(&unauthorized).contains("not found"),
        "only a 404 says the repository is missing: {}",
        hint(&unauthorized)
    );
    let oauth = [
        ("access_token", "gho_x_access"),
        ("refresh_token", "refresh-r-token"),
    ];
    assert_eq!(
        code(&probe("github", &fake.url(), settings.clone(), &oauth).await),
        ProblemCode::OauthRevoked
    );

    let reset = Utc::now().timestamp() + 120;
    fake.set(
        "/repos/acme/web",
        Reply::status(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string()),
    );
    let limited = probe("github", &fake.url(), settings.clone(), &token).await;
    let Err(ProbeError::RateLimited(problem)) = limited else {
        panic!("403 with an exhausted budget is a rate limit: {limited:?}")
    };
    let wait = problem.retry_after.expect("retry_after").as_secs();
    assert!((100..=121).contains(&wait), "{wait}");
    fake.set(
        "/repos/acme/web",
        Reply::status(429).header("retry-after", "7"),
    );
    let Err(ProbeError::RateLimited(problem)) =
        probe("github", &fake.url(), settings.clone(), &token).await
    else {
        panic!("429 is a rate limit")
    };
    assert_eq!(problem.retry_after, Some(Duration::from_secs(7)));

    fake.set("/repos/acme/web", Reply::status(502));
    let outage = probe("github", &fake.url(), settings, &token).await;
    assert!(
        matches!(outage, Err(ProbeError::Transient(_))),
        "{outage:?}"
    );
}

#[tokio::test]
async fn vercel_fills_environments_and_rolls_them_up() {
    let fake = FakeProvider::start().await;
    let now = Utc::now().timestamp_millis();
    fake.set(
        "/v6/deployments",
        Reply::json(
            200,
            json!({"deployments": [
                {"url": "web-old.vercel.app", "state": "ERROR", "target": "production", "createdAt": now - 60_000},
                {"url": "web-prod.vercel.app", "state": "READY", "target": "production", "createdAt": now},
                {"url": "web-pr-7.vercel.app", "state": "ERROR", "target": null, "createdAt": now},
            ]}),
        ),
    );
    let settings = json!({"project_id": "prj_1", "team_id": "team_1"});
    let observed = probe(
        "vercel",
        &fake.url(),
        settings.clone(),
        &[("access_token", "v")],
    )
    .await
    .expect("ok");
    assert_eq!(observed.level, Level::Error, "the worst environment wins");
    let envs: Vec<(&str, Level)> = observed
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.level))
        .collect();
    assert_eq!(
        envs,
        [("production", Level::Connected), ("preview", Level::Error)]
    );
    assert_eq!(
        observed.environments[0].url.as_deref(),
        Some("https://web-prod.vercel.app")
    );
    assert!(observed.environments[0].last_deploy_at.is_some());
    assert!(!observed.redacted_summary.contains("prj_1"));
    let query = fake
        .seen()
        .into_iter()
        .find(|s| s.path == "/v6/deployments");
    assert!(query.is_some());

    fake.set(
        "/v6/deployments",
        Reply::json(200, json!({"deployments": []})),
    );
    let empty = probe("vercel", &fake.url(), settings, &[])
        .await
        .expect("ok");
    assert_eq!(empty.level, Level::Warning);
    assert!(empty.environments.is_empty());
}

#[tokio::test]
async fn sanity_checks_reachability_and_recent_changes() {
    let fake = FakeProvider::start().await;
    let path = "/v2025-02-19/data/query/production";
    let settings = json!({"project_id": "abc123", "dataset": "production"});
    fake.set(
        path,
        Reply::json(200, json!({"result": {"_updatedAt": days_ago(2)}})),
    );
    let recent = probe("sanity", &fake.url(), settings.clone(), &[("token", "s")])
        .await
        .expect("ok");
    assert_eq!(recent.level, Level::Connected);
    fake.set(
        path,
        Reply::json(200, json!({"result": {"_updatedAt": days_ago(90)}})),
    );
    assert_eq!(
        probe("sanity", &fake.url(), settings.clone(), &[])
            .await
            .expect("ok")
            .level,
        Level::Warning
    );
    fake.set(path, Reply::json(200, json!({"result": null})));
    assert_eq!(
        probe("sanity", &fake.url(), settings.clone(), &[])
            .await
            .expect("ok")
            .level,
        Level::Warning
    );
    fake.set(path, Reply::status(401));
    assert_eq!(
        code(&probe("sanity", &fake.url(), settings.clone(), &[]).await),
        ProblemCode::Unauthorized
    );
    // The per-project host is filled from the settings.
    let templated = format!("http://{{project_id}}.invalid:{}", fake.addr.port());
    let unreachable = probe("sanity", &templated, settings, &[]).await;
    assert!(
        matches!(unreachable, Err(ProbeError::Transient(_))),
        "{unreachable:?}"
    );
}

#[tokio::test]
async fn supabase_opens_a_real_connection_and_times_it() {
    let db = database::fresh_database().await;
    let url = database::conninfo(&db);
    let healthy = probe("supabase", "", json!({}), &[("database_url", &url)])
        .await
        .expect("ok");
    assert_eq!(healthy.level, Level::Connected);
    assert!(
        healthy.summary.starts_with("Postgres "),
        "{}",
        healthy.summary
    );

    let slow = probe(
        "supabase",
        "",
        json!({"slow_query_ms": 0}),
        &[("database_url", &url)],
    )
    .await
    .expect("ok");
    assert_eq!(slow.level, Level::Warning);

    let missing = format!("{url} dbname=no_such_database_here");
    assert_eq!(
        code(&probe("supabase", "", json!({}), &[("database_url", &missing)]).await),
        ProblemCode::Misconfigured
    );
    let closed = probe(
        "supabase",
        "",
        json!({}),
        &[("database_url", "postgres://u:p@127.0.0.1:1/db")],
    )
    .await;
    assert!(
        matches!(closed, Err(ProbeError::Transient(_))),
        "{closed:?}"
    );
}
