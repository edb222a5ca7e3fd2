use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let healthz = http
        .get(app.http_url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);

    let readyz = http
        .get(app.http_url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(readyz.status(), 200);
    let body: Value = readyz.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["schema_version"],
        patchbay::store::migrate::latest_version()
    );
}

#[tokio::test]
async fn unknown_routes_are_404_with_a_reason() {
    let app = spawn_app().await;
    let response = reqwest::Client::new()
        .get(app.http_url("/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}
