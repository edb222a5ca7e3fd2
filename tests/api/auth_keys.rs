//! Tokens against a deployment that verifies RS256 with a public key, and
//! claims every token must carry: the public key used as an HS256 secret
//! (algorithm confusion) is refused, as is a token without `exp` or `sub`.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use patchbay::{
    auth::KeySource,
    config::{AuthArgs, KeyAlgorithm},
};
use serde_json::json;
use tonic::Code;

use crate::{
    auth::{assert_refused, call_every_service, now},
    helpers::{TestApp, TestOptions, spawn_app_with},
};

const PRIVATE_KEY: &[u8] = include_bytes!("keys/rs256-private.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("keys/rs256-public.pem");

async fn rs256_app() -> TestApp {
    let args = AuthArgs {
        jwt_secret: None,
        jwt_public_key: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/keys/rs256-public.pem"
        ))),
        jwt_algorithm: Some(KeyAlgorithm::Rs256),
        jwt_issuer: None,
        jwt_audience: None,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = KeySource::resolve(&args, dir.path()).expect("the public key loads");
    spawn_app_with(TestOptions {
        keys: Some(keys),
        ..TestOptions::default()
    })
    .await
}

fn owner_claims() -> serde_json::Value {
    json!({"sub": "mallory", "exp": now() + 600, "projects": {"acme": "owner"}, "admin": true})
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).expect("encode")
}

#[tokio::test]
async fn an_rs256_public_key_used_as_an_hs256_secret_is_refused() {
    let app = rs256_app().await;
    String::from_utf8_lossy(PRIVATE_KEY)
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .for_each(crate::log_scan::secret);
    // The genuine article passes authentication (NOT_FOUND: nothing exists).
    let private = EncodingKey::from_rsa_pem(PRIVATE_KEY).expect("private key");
    let genuine = sign(Algorithm::RS256, &private, &owner_claims());
    for status in call_every_service(&app, Some(&genuine)).await {
        assert_ne!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    // The public key is public: a token "signed" with it as an HMAC secret
    // must not verify, whatever form of the key the forger used.
    let der = pem_body(PUBLIC_KEY);
    for secret in [PUBLIC_KEY.to_vec(), der] {
        let forged = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret),
            &owner_claims(),
        );
        assert_refused(&app, Some(&forged), "TOKEN_ALGORITHM_REFUSED").await;
    }
}

/// The DER bytes inside a PEM file.
fn pem_body(pem: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(pem);
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64 PEM body")
}

#[tokio::test]
async fn a_token_without_exp_or_sub_is_refused_naming_the_claim() {
    let secret = b"the-server-s-own-hs256-secret-of-32-bytes";
    let app = spawn_app_with(TestOptions {
        keys: Some(crate::helpers::jwt_keys(secret)),
        ..TestOptions::default()
    })
    .await;
    // Signed with the server's own key: only the missing claim is wrong.
    for claim in ["exp", "sub"] {
        let mut claims = owner_claims();
        claims.as_object_mut().expect("object").remove(claim);
        let token = sign(Algorithm::HS256, &EncodingKey::from_secret(secret), &claims);
        assert_refused(&app, Some(&token), "TOKEN_CLAIM_MISSING").await;
        let status = call_every_service(&app, Some(&token)).await.remove(0);
        let info = tonic_types::StatusExt::get_error_details(&status);
        let metadata = info.error_info().map(|i| i.metadata.clone());
        assert_eq!(
            metadata.and_then(|m| m.get("claim").cloned()).as_deref(),
            Some(claim)
        );
    }
}
