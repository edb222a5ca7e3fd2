//! CORS for gRPC-Web: browsers get through only from the origins allowed
//! (none by default), and preflights are answered before authentication.

use patchbay::grpc::BrowserOrigin;
use reqwest::{Method, Response};

use crate::helpers::{TestApp, TestOptions, spawn_app, spawn_app_with};

const PAGE: &str = "http://app.test:5173";
const GUARDED: &str = "patchbay.v1.StatusService/GetProjectStatus";

async fn app_allowing(origins: &[&str]) -> TestApp {
    spawn_app_with(TestOptions {
        browser_origins: origins
            .iter()
            .map(|o| o.parse::<BrowserOrigin>().expect("an origin"))
            .collect(),
        ..TestOptions::default()
    })
    .await
}

/// What a browser asks before a gRPC-Web call from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> Response {
    reqwest::Client::new()
        .request(
            Method::OPTIONS,
            format!("http://{}/{GUARDED}", app.grpc_addr),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout",
        )
        .send()
        .await
        .expect("preflight")
}

/// A gRPC-Web Health check from `origin`.
async fn call(app: &TestApp, origin: &str) -> Response {
    reqwest::Client::new()
        .post(format!(
            "http://{}/grpc.health.v1.Health/Check",
            app.grpc_addr
        ))
        .header("origin", origin)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .expect("gRPC-Web call")
}

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let app = spawn_app().await;
    let answer = preflight(&app, PAGE).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let answer = call(&app, PAGE).await;
    assert_eq!(answer.status(), 200, "non-browser callers are unaffected");
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn an_allowed_origin_gets_through_preflight_without_a_token() {
    let app = app_allowing(&[PAGE, "https://admin.test"]).await;
    let answer = preflight(&app, PAGE).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(PAGE));
    let allowed = header(&answer, "access-control-allow-headers").unwrap_or_default();
    for wanted in ["authorization", "x-grpc-web", "grpc-timeout"] {
        assert!(allowed.contains(wanted), "{wanted} not in {allowed}");
    }
    assert_eq!(
        header(&answer, "grpc-status"),
        None,
        "a preflight never reaches authentication"
    );

    let answer = call(&app, PAGE).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(PAGE));
    let exposed = header(&answer, "access-control-expose-headers").unwrap_or_default();
    for wanted in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.contains(wanted), "{wanted} not in {exposed}");
    }
}

#[tokio::test]
async fn another_origin_is_not_allowed() {
    let app = app_allowing(&[PAGE]).await;
    for other in [
        "http://evil.test",
        "http://app.test:5174",
        "https://app.test:5173",
    ] {
        let answer = preflight(&app, other).await;
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{other}"
        );
    }
}

#[tokio::test]
async fn a_star_allows_any_origin() {
    let app = app_allowing(&["*"]).await;
    let answer = preflight(&app, "http://anywhere.test").await;
    assert_eq!(header(&answer, "access-control-allow-origin"), Some("*"));
}
