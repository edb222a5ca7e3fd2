//! `GET /metrics`, parsed by a Prometheus text parser: the series move when
//! calls, probes, actions, webhooks and watches happen; unknown methods
//! share one label; turned off, nothing is served.

use std::time::Duration;

use patchbay::{auth::Role, proto::v1::GetConnectionRequest, webhooks::WebhookConfig};
use serde_json::json;

use crate::{
    action_effects::run,
    actions::{fast_actions, provider_status},
    fakes::FakeProvider,
    helpers::{TestApp, TestOptions, spawn_app_with},
    status::{active_github, fresh_repo, level, wait_for},
    watch::{next, watch, watch_request},
    webhook_signing::{hook_connection, secret_for},
    webhooks::deliver,
};
use patchbay::proto::v1::StatusLevel;

/// One scrape, parsed.
struct Scrape(prometheus_parse::Scrape);

impl Scrape {
    /// The sum of the samples of `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.0.samples.iter().any(|s| s.metric == name)
    }

    fn rpcs(&self, method: &str, code: &str) -> f64 {
        self.value(
            "patchbay_rpc_duration_seconds_count",
            &[("method", method), ("code", code)],
        )
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let response = reqwest::get(app.http_url("/metrics"))
        .await
        .expect("the bridge answers");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape(prometheus_parse::Scrape::parse(lines).expect("Prometheus text format"))
}

/// Scrapes until `done` holds (10 s at most).
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scraped = scrape(app).await;
        if done(&scraped) {
            return scraped;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never showed {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const GET_CONNECTION: &str = "/patchbay.v1.IntegrationRegistry/GetConnection";

#[tokio::test]
async fn rpcs_are_counted_by_method_and_code_and_unknown_methods_share_a_label() {
    let app = spawn_app_with(TestOptions::default()).await;
    let before = scrape(&app).await;
    assert_eq!(before.rpcs(GET_CONNECTION, "NOT_FOUND"), 0.0);
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    for _ in 0..2 {
        let missing = app
            .registry(Some(&owner))
            .get_connection(GetConnectionRequest {
                name: "projects/acme/connections/nope".into(),
            })
            .await;
        assert_eq!(missing.expect_err("missing").code(), tonic::Code::NotFound);
    }
    let unauthenticated = app
        .registry(None)
        .get_connection(GetConnectionRequest {
            name: "projects/acme/connections/nope".into(),
        })
        .await;
    assert!(unauthenticated.is_err());
    // A path no service serves.
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("ready");
    let random: Result<tonic::Response<()>, _> = grpc
        .unary(
            tonic::Request::new(()),
            "/no.such.Service/Anything".parse().expect("path"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await;
    assert_eq!(
        random.expect_err("unknown").code(),
        tonic::Code::Unimplemented
    );

    let after = scrape(&app).await;
    assert_eq!(after.rpcs(GET_CONNECTION, "NOT_FOUND"), 2.0);
    assert_eq!(after.rpcs(GET_CONNECTION, "UNAUTHENTICATED"), 1.0);
    assert_eq!(after.rpcs("other", "UNIMPLEMENTED"), 1.0);
    assert!(
        !after.0.samples.iter().any(|s| s
            .labels
            .get("method")
            .is_some_and(|m| m.contains("no.such"))),
        "an unknown path is never a label"
    );
    assert!(after.value("patchbay_db_pool_connections", &[("state", "max")]) >= 1.0);
    assert_eq!(after.value("patchbay_event_log_following", &[]), 1.0);
}

#[tokio::test]
async fn probes_actions_and_watch_streams_move_their_series() {
    let fake = FakeProvider::start().await;
    fresh_repo(&fake, "acme", "web", 1);
    let app = spawn_app_with(TestOptions {
        status: provider_status(&fake),
        actions: fast_actions(),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(scrape(&app).await.value("patchbay_watch_streams", &[]), 0.0);
    let mut stream = watch(&app, watch_request(None, Duration::from_secs(30))).await;
    next(&mut stream).await;
    active_github(&app, "web").await;
    wait_for(&app, "web", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    let probed = scrape_until(&app, "a probe", |s| {
        s.value(
            "patchbay_probes_total",
            &[("provider", "github"), ("outcome", "answered")],
        ) >= 1.0
    })
    .await;
    assert!(
        probed.value(
            "patchbay_probe_duration_seconds_count",
            &[("provider", "github")]
        ) >= 1.0
    );
    assert_eq!(probed.value("patchbay_watch_streams", &[]), 1.0);
    assert_eq!(
        probed.value(
            "patchbay_circuits",
            &[("provider", "github"), ("state", "closed")]
        ),
        1.0
    );

    run(&app, Role::Editor, "web", "test-connection", json!({})).await;
    let acted = scrape(&app).await;
    assert_eq!(
        acted.value("patchbay_actions_ended_total", &[("outcome", "succeeded")]),
        1.0
    );
    assert_eq!(
        acted.value("patchbay_action_queue", &[("state", "pending")]),
        0.0
    );

    drop(stream);
    scrape_until(&app, "the watch closing", |s| {
        s.value("patchbay_watch_streams", &[]) == 0.0
    })
    .await;
}

#[tokio::test]
async fn webhooks_are_counted_by_answer_and_by_processing_outcome() {
    let app = spawn_app_with(TestOptions {
        webhooks: WebhookConfig {
            max_attempts: 1,
            poll: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let secret = secret_for("github", 1);
    let connection = hook_connection(&app, "github", "gh", &secret).await;
    let key = &connection.webhook_key;
    let good = deliver(&app, key, "github", &secret, br#"{"zen":"ok"}"#).await;
    assert_eq!(good.status, 202);
    let forged = deliver(&app, key, "github", &secret_for("github", 9), b"{}").await;
    let refusal = forged.body["error"]["code"]
        .as_str()
        .expect("a reason")
        .to_owned();
    let broken = deliver(&app, key, "github", &secret, br#"{"truncated": "#).await;
    assert_eq!(broken.status, 202);

    // The backlog gauge is read from the database before the counters are
    // encoded, so one scrape may count a dead letter its gauge missed: wait
    // for both.
    let scraped = scrape_until(&app, "both deliveries processed", |s| {
        s.value(
            "patchbay_webhooks_processed_total",
            &[("outcome", "processed")],
        ) >= 1.0
            && s.value(
                "patchbay_webhooks_processed_total",
                &[("outcome", "dead_lettered")],
            ) >= 1.0
            && s.value("patchbay_webhook_backlog", &[("state", "dead_letter")]) >= 1.0
    })
    .await;
    assert_eq!(
        scraped.value(
            "patchbay_webhooks_answered_total",
            &[("reason", "ACCEPTED")]
        ),
        2.0
    );
    assert_eq!(
        scraped.value("patchbay_webhooks_answered_total", &[("reason", &refusal)]),
        1.0,
        "refused as {refusal}"
    );
    assert_eq!(
        scraped.value("patchbay_webhook_backlog", &[("state", "dead_letter")]),
        1.0
    );
}

#[tokio::test]
async fn with_metrics_off_nothing_is_served() {
    let app = spawn_app_with(TestOptions {
        metrics: false,
        ..TestOptions::default()
    })
    .await;
    let response = reqwest::get(app.http_url("/metrics"))
        .await
        .expect("the bridge answers");
    assert_eq!(response.status(), 404);
    let on = spawn_app_with(TestOptions::default()).await;
    assert!(scrape(&on).await.has("patchbay_db_pool_waiting"));
}
