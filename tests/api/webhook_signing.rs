//! How each provider signs a delivery, written from the providers' docs
//! independently of the server's verifier, plus connections to sign for.

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, KeyInit as _, Mac as _};
use patchbay::{auth::Role, proto::v1::Connection};
use sha1::Sha1;
use sha2::Sha256;

use crate::{
    connections::{create_request, s, settings},
    helpers::TestApp,
};

pub const SCHEMES: [&str; 9] = [
    "standard",
    "github",
    "stripe",
    "sanity",
    "hubspot",
    "vercel",
    "slack",
    "shopify",
    "shared-header",
];

/// Schemes that sign a timestamp (and so refuse stale and future ones).
pub fn has_timestamp(scheme: &str) -> bool {
    matches!(
        scheme,
        "standard" | "stripe" | "sanity" | "hubspot" | "slack"
    )
}

fn mac256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn joined(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A secret in the shape the scheme expects.
pub fn secret_for(scheme: &str, n: u8) -> String {
    match scheme {
        "standard" => format!("whsec_{}", STANDARD.encode([n; 32])),
        "stripe" => format!("whsec_stripe_test_{n}"),
        other => format!("{other}-secret-{n}"),
    }
}

/// One delivery: its headers and body.
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Signs `body` for `scheme` with `secret` at Unix time `ts`, with delivery
/// id `id` where the scheme carries one; `url` is what HubSpot signs.
pub fn sign(scheme: &str, secret: &str, body: &[u8], ts: i64, id: &str, url: &str) -> Signed {
    crate::log_scan::secret(secret);
    let h = |pairs: &[(&str, String)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Vec<_>>()
    };
    let t = ts.to_string();
    let headers = match scheme {
        "standard" => {
            let key = STANDARD
                .decode(secret.trim_start_matches("whsec_"))
                .expect("base64 secret");
            let sig = STANDARD.encode(mac256(
                &key,
                &joined(&[id.as_bytes(), b".", t.as_bytes(), b".", body]),
            ));
            h(&[
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", t),
                ("webhook-signature", format!("v1,{sig}")),
            ])
        }
        "github" => h(&[
            (
                "x-hub-signature-256",
                format!("sha256={}", hex(&mac256(secret.as_bytes(), body))),
            ),
            ("x-github-delivery", id.to_owned()),
            ("x-github-event", "push".to_owned()),
        ]),
        "stripe" => {
            let sig = hex(&mac256(
                secret.as_bytes(),
                &joined(&[t.as_bytes(), b".", body]),
            ));
            h(&[("stripe-signature", format!("t={t},v1={sig},v0=ignored"))])
        }
        "sanity" => {
            let ms = (ts * 1000).to_string();
            let sig = URL_SAFE_NO_PAD.encode(mac256(
                secret.as_bytes(),
                &joined(&[ms.as_bytes(), b".", body]),
            ));
            h(&[
                ("sanity-webhook-signature", format!("t={ms}, v1={sig}")),
                ("idempotency-key", id.to_owned()),
            ])
        }
        "hubspot" => {
            let ms = (ts * 1000).to_string();
            let sig = STANDARD.encode(mac256(
                secret.as_bytes(),
                &joined(&[b"POST", url.as_bytes(), body, ms.as_bytes()]),
            ));
            h(&[
                ("x-hubspot-signature-v3", sig),
                ("x-hubspot-request-timestamp", ms),
            ])
        }
        "vercel" => {
            let mut mac = <Hmac<Sha1>>::new_from_slice(secret.as_bytes()).expect("any key");
            mac.update(body);
            h(&[("x-vercel-signature", hex(&mac.finalize().into_bytes()))])
        }
        "slack" => {
            let sig = hex(&mac256(
                secret.as_bytes(),
                &joined(&[b"v0:", t.as_bytes(), b":", body]),
            ));
            h(&[
                ("x-slack-signature", format!("v0={sig}")),
                ("x-slack-request-timestamp", t),
            ])
        }
        "shopify" => h(&[
            (
                "x-shopify-hmac-sha256",
                STANDARD.encode(mac256(secret.as_bytes(), body)),
            ),
            ("x-shopify-webhook-id", id.to_owned()),
            ("x-shopify-topic", "orders/create".to_owned()),
        ]),
        "shared-header" => h(&[("x-webhook-token", secret.to_owned())]),
        other => panic!("unknown scheme {other}"),
    };
    Signed {
        headers,
        body: body.to_vec(),
    }
}

/// The header that carries the signature (removed for missing-header cases).
pub fn signature_header(scheme: &str) -> &'static str {
    match scheme {
        "standard" => "webhook-signature",
        "github" => "x-hub-signature-256",
        "stripe" => "stripe-signature",
        "sanity" => "sanity-webhook-signature",
        "hubspot" => "x-hubspot-signature-v3",
        "vercel" => "x-vercel-signature",
        "slack" => "x-slack-signature",
        "shopify" => "x-shopify-hmac-sha256",
        _ => "x-webhook-token",
    }
}

/// Registers a type `hook-{scheme}` signing with `scheme` (the shape of the
/// built-in `http` type) and creates `projects/acme/connections/{id}` of it
/// with `secret`.
pub async fn hook_connection(app: &TestApp, scheme: &str, id: &str, secret: &str) -> Connection {
    let type_id = format!("hook-{scheme}");
    app.db()
        .await
        .execute(
            "INSERT INTO integration_types (id, display_name, category, spec, etag) \
             SELECT $1, $1, 'custom', jsonb_set(jsonb_set(spec, '{signature_scheme}', to_jsonb($2::text)), \
             '{signature_header}', '\"x-webhook-token\"'), 'e' FROM integration_types WHERE id = 'http' \
             ON CONFLICT (id) DO NOTHING",
            &[&type_id, &scheme],
        )
        .await
        .expect("register the test type");
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let settings = settings(&[("health_url", s("http://127.0.0.1:9/health"))]);
    let mut request = create_request("acme", id, &type_id, settings);
    request.webhook_secret = secret.to_owned();
    app.registry(Some(&owner))
        .create_connection(request)
        .await
        .expect("create the connection")
        .into_inner()
}
