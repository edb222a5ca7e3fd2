//! The webhook route as a whole, short of the database: a key, a method, a
//! URI, headers and a body go through the key check, signature
//! verification, the dedupe key and event type the bridge stores, and the
//! normalization the processor later runs with every provider. Half the
//! inputs are signed properly first (then tampered with by the fuzzer's
//! extra headers), so the steps after verification are reached. A refusal
//! or a delivery, never a panic.

#![no_main]

use arbitrary::Arbitrary;
use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Uri},
};
use libfuzzer_sys::fuzz_target;
use patchbay::{
    names::ConnectionName,
    providers,
    registry::model::SignatureScheme,
    webhooks::{
        normalize::normalize,
        receivers::Receiver,
        route::{Arrival, admit, is_webhook_key},
        signing::{Signer, sign},
    },
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PUBLIC_URL: &str = "https://hooks.example.com";

#[derive(Arbitrary, Debug)]
struct Input {
    key: String,
    scheme: u8,
    method: u8,
    path_and_query: String,
    sign: bool,
    id: String,
    event_type: String,
    skew_secs: i16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let _ = is_webhook_key(&input.key);
    let schemes = SignatureScheme::ALL;
    let scheme = schemes[usize::from(input.scheme) % schemes.len()];
    let method = [Method::POST, Method::PUT, Method::GET][usize::from(input.method) % 3].clone();
    let uri: Uri = format!("/webhooks/k{}", input.path_and_query)
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/webhooks/k"));
    let now = chrono::Utc::now();
    let mut headers = HeaderMap::new();
    let mut body = input.body.clone();
    if input.sign {
        let url = format!(
            "{PUBLIC_URL}{}",
            uri.path_and_query().map_or("", |pq| pq.as_str())
        );
        let signed = sign(
            &Signer {
                scheme,
                header: Some("x-webhook-token"),
                secret: SECRET,
                url: &url,
                now: now.timestamp() + i64::from(input.skew_secs),
            },
            body,
            &input.id,
            &input.event_type,
        );
        for (name, value) in signed.headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                headers.append(name, value);
            }
        }
        body = signed.body;
    }
    for (name, value) in &input.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    let Ok(name) = ConnectionName::parse("projects/acme/connections/hook") else {
        return;
    };
    let receiver = Receiver::new(
        name,
        scheme,
        Some("x-webhook-token".to_owned()),
        None,
        vec![
            (SECRET.to_owned(), None),
            ("previous".to_owned(), Some(now)),
        ],
    );
    let arrival = Arrival {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: Bytes::from(body),
    };
    let Ok(delivery) = admit(&receiver, PUBLIC_URL, &arrival, now) else {
        return;
    };
    assert!(!delivery.dedupe_key.is_empty());
    for id in providers::ids() {
        let _ = normalize(providers::find(id), &delivery.event_type, &delivery.body);
    }
    let _ = normalize(None, &delivery.event_type, &delivery.body);
});
