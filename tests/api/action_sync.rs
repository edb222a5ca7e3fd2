//! Sync: HubSpot, Sanity and Salesforce records, page by page, through
//! the project's default mapping template, upserted into `records`.

use patchbay::{auth::Role, proto::v1::CreateMappingTemplateRequest};
use serde_json::{Value, json};

use crate::{
    action_effects::{app, connect, result, run},
    connections::{s, settings},
    fakes::{FakeProvider, Reply},
    templates::contact_template,
};

async fn records(app: &crate::helpers::TestApp) -> Vec<(String, String, Value)> {
    let rows = app
        .db()
        .await
        .query(
            "SELECT entity, external_id, data FROM records ORDER BY entity, external_id",
            &[],
        )
        .await
        .expect("records");
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn sync_pages_through_hubspot_and_maps_records_with_the_default_template() {
    let fake = FakeProvider::start().await;
    let contact = |id: &str, email: Value| json!({"id": id, "properties": {"email": email, "firstname": " Ada "}});
    fake.set(
        "/crm/v3/objects/contacts?limit=100",
        Reply::json(
            200,
            json!({
                "results": [contact("1", json!(" ADA@Example.com ")), contact("2", Value::Null)],
                "paging": {"next": {"after": "2"}}
            }),
        ),
    );
    fake.set(
        "/crm/v3/objects/contacts?limit=100&after=2",
        Reply::json(
            200,
            json!({"results": [contact("3", json!("grace@example.com"))]}),
        ),
    );
    fake.set(
        "/crm/v3/objects/companies?limit=100",
        Reply::json(
            200,
            json!({"results": [{"id": "c1", "properties": {"name": "Acme"}}]}),
        ),
    );
    fake.set(
        "/crm/v3/objects/deals?limit=100",
        Reply::json(200, json!({"results": []})),
    );
    let app = app(&fake).await;
    connect(&app, "crm", "hubspot", settings(&[]), "hs_test_token").await;
    let editor = app.token("editor", &[("acme", Role::Editor)]);
    app.registry(Some(&editor))
        .create_mapping_template(CreateMappingTemplateRequest {
            parent: "projects/acme".into(),
            mapping_template_id: "contacts".into(),
            mapping_template: Some(contact_template(true)),
            request_id: String::new(),
        })
        .await
        .expect("template");

    let done = run(&app, Role::Editor, "crm", "sync", json!({})).await;
    let summary = result(&done);
    assert_eq!(summary["processed"], 3, "{summary}");
    assert_eq!(summary["failed"], 1);
    assert_eq!(
        summary["entities"],
        json!({"contacts": 2, "companies": 1, "deals": 0})
    );
    assert_eq!(summary["failures"][0]["external_id"], "2");
    assert_eq!(
        summary["failures"][0]["errors"][0]["reason"],
        "MISSING_REQUIRED"
    );
    assert!(summary["duration_ms"].is_number());

    let rows = records(&app).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].0, "companies",
        "no template: stored as HubSpot sent it"
    );
    assert_eq!(rows[0].2["properties"]["name"], "Acme");
    assert_eq!(
        rows[1].2,
        json!({"email": "ada@example.com", "first_name": "Ada"})
    );
    assert_eq!(rows[2].1, "3");
    assert!(fake.seen().iter().all(
        |s| s.headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some("Bearer hs_test_token")
    ));

    // Sync again: upserts, no duplicates.
    run(
        &app,
        Role::Editor,
        "crm",
        "sync",
        json!({"entities": ["contacts"]}),
    )
    .await;
    let count: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM records", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 3);
}

#[tokio::test]
async fn sync_reads_sanity_documents_by_type() {
    let fake = FakeProvider::start().await;
    fake.set(
        "/v2025-02-19/data/query/production",
        Reply::json(
            200,
            json!({"result": [
                {"_id": "post-1", "_type": "post", "title": "Hello"},
                {"_id": "post-2", "_type": "post", "title": "World"}
            ]}),
        ),
    );
    let app = app(&fake).await;
    connect(
        &app,
        "cms",
        "sanity",
        settings(&[("project_id", s("abc123")), ("dataset", s("production"))]),
        "sk_test_token",
    )
    .await;
    let done = run(
        &app,
        Role::Editor,
        "cms",
        "sync",
        json!({"entities": ["post"]}),
    )
    .await;
    assert_eq!(result(&done)["entities"], json!({"post": 2}));
    let rows = records(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].2["title"], "Hello");
    let query = fake
        .seen()
        .into_iter()
        .find(|s| s.path.ends_with("/data/query/production"))
        .expect("queried");
    assert_eq!(
        query
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer sk_test_token")
    );

    // Sanity has no fixed entities: they must be named.
    let token = app.token("editor", &[("acme", Role::Editor)]);
    let started = app
        .actions(Some(&token))
        .start_action(crate::actions::start_request("cms", "sync", json!({})))
        .await
        .expect("start")
        .into_inner();
    let failed = crate::actions::wait_state(
        &app,
        &started.name,
        patchbay::proto::v1::ActionState::Failed,
    )
    .await;
    assert_eq!(
        failed.error.expect("status").code,
        tonic::Code::InvalidArgument as i32
    );
}

#[tokio::test]
async fn sync_follows_salesforce_next_records_urls() {
    let fake = FakeProvider::start().await;
    fake.set(
        "/services/data/v62.0/query",
        Reply::json(
            200,
            json!({
                "done": false,
                "nextRecordsUrl": "/services/data/v62.0/query/01gD0-2000",
                "records": [{"Id": "003A", "Name": "Ada"}]
            }),
        ),
    );
    fake.set(
        "/services/data/v62.0/query/01gD0-2000",
        Reply::json(
            200,
            json!({"done": true, "records": [{"Id": "003B", "Name": "Grace"}]}),
        ),
    );
    let app = app(&fake).await;
    connect(
        &app,
        "sf",
        "salesforce",
        settings(&[("instance_url", s(&fake.url()))]),
        "00D_test",
    )
    .await;
    let done = run(
        &app,
        Role::Editor,
        "sf",
        "sync",
        json!({"entities": ["Contact"]}),
    )
    .await;
    assert_eq!(result(&done)["entities"], json!({"Contact": 2}));
    let ids: Vec<String> = records(&app).await.into_iter().map(|r| r.1).collect();
    assert_eq!(ids, ["003A", "003B"]);

    // Named none: the standard objects (the fake answers each the same).
    let all = run(&app, Role::Editor, "sf", "sync", json!({})).await;
    assert_eq!(
        result(&all)["entities"],
        json!({"Contact": 2, "Account": 2, "Opportunity": 2})
    );
}
