//! Every signature scheme's header parsing and verification, on any header
//! values and body: a refusal or a match, never a panic. The headers are
//! named from the set the schemes read, so inputs reach the parsers.

#![no_main]

use arbitrary::Arbitrary;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use patchbay::{
    registry::model::SignatureScheme,
    webhooks::signature::{Inbound, Scheme, verify},
};

const HEADERS: [&str; 18] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "stripe-signature",
    "sanity-webhook-signature",
    "x-hubspot-signature-v3",
    "x-hubspot-request-timestamp",
    "x-vercel-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-shopify-hmac-sha256",
    "x-shopify-webhook-id",
    "x-webhook-secret",
    "x-custom-secret",
    "content-type",
    "x-request-id",
];

#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<(u8, Vec<u8>)>,
    body: Vec<u8>,
    url: String,
    secret: String,
    now: i64,
    tolerance_secs: Option<u32>,
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = HEADERS[usize::from(*name) % HEADERS.len()];
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
    // A timestamp the input carries is "now", so the window passes and the
    // signatures after it get parsed too.
    let now = input
        .headers
        .iter()
        .find_map(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok())
        .unwrap_or(input.now);
    let inbound = Inbound {
        method: "POST",
        url: &input.url,
        headers: &headers,
        body: &input.body,
    };
    let secrets = [
        input.secret.as_str(),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "shh",
    ];
    for scheme in SignatureScheme::ALL {
        let scheme = Scheme {
            scheme,
            header: Some("x-custom-secret"),
            tolerance: input
                .tolerance_secs
                .map(|s| std::time::Duration::from_secs(u64::from(s))),
        };
        let _ = verify(&scheme, &secrets, &inbound, now);
    }
});
