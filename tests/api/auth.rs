use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use patchbay::{
    auth::{Audience, Claims, Role, TokenMinter},
    proto::v1::{
        DiagnoseConnectionRequest, GetActionRequest, GetConnectionRequest,
        GetConnectionStatusRequest,
    },
};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::helpers::{TestApp, TestOptions, random_secret, spawn_app, spawn_app_with};

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Calls one method of each service with `token`; returns every status.
pub async fn call_every_service(app: &TestApp, token: Option<&str>) -> Vec<tonic::Status> {
    let registry = app
        .registry(token)
        .get_connection(GetConnectionRequest {
            name: "projects/acme/connections/gh".into(),
        })
        .await
        .expect_err("nothing is built that could succeed");
    let status = app
        .status(token)
        .get_connection_status(GetConnectionStatusRequest {
            name: "projects/acme/connections/gh".into(),
        })
        .await
        .expect_err("no such connection");
    let actions = app
        .actions(token)
        .get_action(GetActionRequest {
            name: "projects/acme/actions/a".into(),
        })
        .await
        .expect_err("no such action");
    let diagnostics = app
        .diagnostics(token)
        .diagnose_connection(DiagnoseConnectionRequest {
            name: "projects/acme/connections/gh".into(),
        })
        .await
        .expect_err("no such connection");
    vec![registry, status, actions, diagnostics]
}

pub async fn assert_refused(app: &TestApp, token: Option<&str>, wanted_reason: &str) {
    for status in call_every_service(app, token).await {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_eq!(reason(&status), wanted_reason, "{status:?}");
        let info = status.get_error_details();
        assert_eq!(
            info.error_info().map(|i| i.domain.as_str()),
            Some("patchbay.dev")
        );
    }
}

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated() {
    let app = spawn_app().await;
    assert_refused(&app, None, "TOKEN_MISSING").await;
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let app = spawn_app().await;
    let token = app
        .minter()
        .mint_claims(&Claims {
            sub: "alice".into(),
            exp: now() - 3600,
            nbf: None,
            iat: Some(now() - 7200),
            iss: None,
            aud: None,
            projects: [("acme".to_owned(), "owner".to_owned())].into(),
            admin: false,
        })
        .expect("mint");
    assert_refused(&app, Some(&token), "TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_unauthenticated() {
    let app = spawn_app().await;
    let stranger = TokenMinter::new(&random_secret(), None, None).expect("minter");
    let token = stranger
        .mint(
            "mallory",
            &[("acme".into(), Role::Owner)],
            true,
            std::time::Duration::from_secs(600),
        )
        .expect("mint");
    assert_refused(&app, Some(&token), "TOKEN_SIGNATURE_INVALID").await;
}

fn unsigned_token(alg: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
    let claims = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"sub":"mallory","exp":{},"projects":{{"acme":"owner"}},"admin":true}}"#,
        now() + 3600
    ));
    format!("{header}.{claims}.")
}

#[tokio::test]
async fn an_alg_none_token_is_unauthenticated() {
    let app = spawn_app().await;
    for alg in ["none", "None", "NONE"] {
        let token = unsigned_token(alg);
        for status in call_every_service(&app, Some(&token)).await {
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "alg {alg}: {status:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_token_for_another_algorithm_is_refused() {
    let app = spawn_app().await;
    // Algorithm confusion: an RS256 header against an HS256 server.
    let token = format!("{}sig", unsigned_token("RS256"));
    assert_refused(&app, Some(&token), "TOKEN_ALGORITHM_REFUSED").await;
}

#[tokio::test]
async fn malformed_credentials_are_unauthenticated() {
    let app = spawn_app().await;
    assert_refused(&app, Some("not.a.jwt"), "TOKEN_MALFORMED").await;
    let mut client = app.registry(None);
    let mut request = tonic::Request::new(GetConnectionRequest {
        name: "projects/acme/connections/gh".into(),
    });
    request.metadata_mut().insert(
        "authorization",
        "Basic YWxpY2U6c2VjcmV0".parse().expect("ascii"),
    );
    let status = client.get_connection(request).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason(&status), "AUTHORIZATION_MALFORMED");
}

#[tokio::test]
async fn a_token_with_an_unknown_role_is_unauthenticated() {
    let app = spawn_app().await;
    let token = app
        .minter()
        .mint_claims(&Claims {
            sub: "alice".into(),
            exp: now() + 600,
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
            projects: [("acme".to_owned(), "superuser".to_owned())].into(),
            admin: false,
        })
        .expect("mint");
    assert_refused(&app, Some(&token), "TOKEN_CLAIMS_INVALID").await;
}

#[tokio::test]
async fn a_valid_token_passes_authentication() {
    let app = spawn_app().await;
    let token = app.token("alice", &[("acme", Role::Owner)]);
    // Past authentication: each call gets its own method's answer.
    for status in call_every_service(&app, Some(&token)).await {
        assert_ne!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_ne!(status.code(), Code::PermissionDenied, "{status:?}");
        assert_eq!(reason(&status), "NOT_FOUND", "{status:?}");
    }
}

fn claims(edit: impl FnOnce(&mut Claims)) -> Claims {
    let mut claims = Claims {
        sub: "alice".into(),
        exp: now() + 600,
        nbf: None,
        iat: Some(now()),
        iss: None,
        aud: None,
        projects: [("acme".to_owned(), "owner".to_owned())].into(),
        admin: false,
    };
    edit(&mut claims);
    claims
}

async fn spawn_app_expecting(issuer: &str, audience: &str) -> TestApp {
    spawn_app_with(TestOptions {
        jwt_issuer: Some(issuer.into()),
        jwt_audience: Some(audience.into()),
        ..TestOptions::default()
    })
    .await
}

async fn assert_accepted(app: &TestApp, token: &str) {
    for status in call_every_service(app, Some(token)).await {
        assert_ne!(status.code(), Code::Unauthenticated, "{status:?}");
    }
}

#[tokio::test]
async fn a_configured_issuer_and_audience_must_be_present_and_match() {
    let app = spawn_app_expecting("https://id.acme.test", "patchbay").await;
    let mint = |edit: fn(&mut Claims)| app.minter().mint_claims(&claims(edit)).expect("mint");
    let both = |c: &mut Claims| {
        c.iss = Some("https://id.acme.test".into());
        c.aud = Some(Audience::One("patchbay".into()));
    };
    assert_accepted(&app, &mint(both)).await;
    // An array that contains the audience passes (RFC 7519 section 4.1.3).
    assert_accepted(
        &app,
        &mint(|c| {
            c.iss = Some("https://id.acme.test".into());
            c.aud = Some(Audience::Many(vec!["billing".into(), "patchbay".into()]));
        }),
    )
    .await;
    let no_audience = mint(|c| c.iss = Some("https://id.acme.test".into()));
    assert_refused(&app, Some(&no_audience), "TOKEN_CLAIM_MISSING").await;
    let no_issuer = mint(|c| c.aud = Some(Audience::One("patchbay".into())));
    assert_refused(&app, Some(&no_issuer), "TOKEN_CLAIM_MISSING").await;
    let wrong_audience = mint(|c| {
        c.iss = Some("https://id.acme.test".into());
        c.aud = Some(Audience::Many(vec!["billing".into()]));
    });
    assert_refused(&app, Some(&wrong_audience), "TOKEN_AUDIENCE_INVALID").await;
    let wrong_issuer = mint(|c| {
        c.iss = Some("https://evil.test".into());
        c.aud = Some(Audience::One("patchbay".into()));
    });
    assert_refused(&app, Some(&wrong_issuer), "TOKEN_ISSUER_INVALID").await;
}

#[tokio::test]
async fn a_token_whose_nbf_lies_ahead_is_refused() {
    let app = spawn_app().await;
    let early = app
        .minter()
        .mint_claims(&claims(|c| c.nbf = Some(now() + 3600)))
        .expect("mint");
    assert_refused(&app, Some(&early), "TOKEN_NOT_YET_VALID").await;
    let valid_now = app
        .minter()
        .mint_claims(&claims(|c| c.nbf = Some(now() - 1)))
        .expect("mint");
    assert_accepted(&app, &valid_now).await;
}
