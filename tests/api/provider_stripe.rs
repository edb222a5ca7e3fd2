//! The built-in Stripe type end to end against a fake Stripe: the account
//! probe, customer sync paged with `starting_after` through the project's
//! default mapping template, and Stripe-signed webhooks.

use patchbay::{
    auth::Role,
    proto::v1::{
        CreateMappingTemplateRequest, FieldType, MappingTemplate, StatusLevel, Transformation,
    },
};
use serde_json::{Value, json};

use crate::{
    action_effects::{result, run},
    connections::settings,
    fakes::{FakeProvider, Reply},
    helpers::TestApp,
    probe_actions::error_reason,
    provider_setup::{app_calling, connect, run_to_end, signed_webhooks_reach_watchers},
    status::{level, wait_for},
    templates::mapping,
};

const KEY: &str = "sk_test_fake";
const WEBHOOK_SECRET: &str = "whsec_stripe_e2e";

fn account(charges_enabled: bool) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "acct_1",
            "charges_enabled": charges_enabled,
            "details_submitted": true,
            "business_profile": {"name": "Acme Inc"}
        }),
    )
}

fn customer(id: &str, email: &str) -> Value {
    json!({"id": id, "object": "customer", "email": email, "name": "Ada"})
}

#[tokio::test]
async fn stripe_probes_the_account_with_the_secret_key() {
    let fake = FakeProvider::start().await;
    fake.set("/v1/account", account(true));
    let app = app_calling(&fake, "stripe").await;
    connect_stripe(&app).await;

    let item = wait_for(&app, "pay", "CONNECTED", |i| {
        level(i) == StatusLevel::Connected
    })
    .await;
    assert_eq!(item.summary, "Acme Inc (acct_1): charges enabled");
    let seen = fake.seen();
    let asked = seen
        .iter()
        .find(|s| s.path == "/v1/account")
        .expect("the account was asked");
    assert_eq!(
        asked
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer sk_test_fake")
    );
    assert!(
        asked.headers.contains_key("stripe-version"),
        "the API version is pinned"
    );

    // An account that cannot take charges is a warning; test-connection
    // reports it live.
    fake.set("/v1/account", account(false));
    let tested = run(&app, Role::Editor, "pay", "test-connection", json!({})).await;
    assert_eq!(
        result(&tested)["status"],
        "WARNING",
        "{:?}",
        result(&tested)
    );

    // A refused key fails the test with the problem's code.
    fake.set("/v1/account", Reply::status(401));
    let failed = run_to_end(&app, "pay", "test-connection", json!({})).await;
    assert_eq!(error_reason(&failed), "UNAUTHORIZED");
}

#[tokio::test]
async fn stripe_syncs_customers_page_by_page_through_the_default_template() {
    let fake = FakeProvider::start().await;
    fake.set("/v1/account", account(true));
    fake.set(
        "/v1/customers?limit=100",
        Reply::json(
            200,
            json!({"object": "list", "has_more": true,
                   "data": [customer("cus_1", " ADA@Example.com "), customer("cus_2", "grace@example.com")]}),
        ),
    );
    fake.set(
        "/v1/customers?limit=100&starting_after=cus_2",
        Reply::json(
            200,
            json!({"object": "list", "has_more": false, "data": [customer("cus_3", "alan@example.com")]}),
        ),
    );
    let app = app_calling(&fake, "stripe").await;
    connect_stripe(&app).await;
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.registry(Some(&editor))
        .create_mapping_template(CreateMappingTemplateRequest {
            parent: "projects/acme".into(),
            mapping_template_id: "stripe-customers".into(),
            mapping_template: Some(MappingTemplate {
                display_name: "Stripe customers".into(),
                integration_type: "integrationTypes/stripe".into(),
                entity_type: "customers".into(),
                fields: vec![mapping(
                    "email",
                    "email",
                    FieldType::String,
                    &[Transformation::Trim, Transformation::Lower],
                )],
                default_for_entity: true,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("template");

    let done = run(&app, Role::Editor, "pay", "sync", json!({})).await;
    let summary = result(&done);
    assert_eq!(summary["processed"], 3, "{summary}");
    assert_eq!(summary["entities"], json!({"customers": 3}));
    let rows = app
        .db()
        .await
        .query(
            "SELECT external_id, data FROM records WHERE entity = 'customers' ORDER BY external_id",
            &[],
        )
        .await
        .expect("records");
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, ["cus_1", "cus_2", "cus_3"]);
    assert_eq!(
        rows[0].get::<_, Value>(1),
        json!({"email": "ada@example.com"}),
        "mapped through the default template"
    );
    assert_eq!(fake.hits_on("/v1/customers"), 2, "two pages, then done");
}

#[tokio::test]
async fn stripe_signed_webhooks_are_verified_and_processed() {
    let fake = FakeProvider::start().await;
    fake.set("/v1/account", account(true));
    let app = app_calling(&fake, "stripe").await;
    let connection = connect(
        &app,
        "pay",
        "stripe",
        settings(&[]),
        &[("secret_key", KEY)],
        WEBHOOK_SECRET,
    )
    .await;
    let body = br#"{"id":"evt_1","object":"event","type":"customer.created","data":{"object":{"id":"cus_9"}}}"#;
    let received =
        signed_webhooks_reach_watchers(&app, &connection, "stripe", WEBHOOK_SECRET, body).await;
    assert_eq!(received.event_type, "customer.created");
}

/// Connection `pay` in project `acme`, with the test secret key.
async fn connect_stripe(app: &TestApp) {
    connect(
        app,
        "pay",
        "stripe",
        settings(&[]),
        &[("secret_key", KEY)],
        "",
    )
    .await;
}
