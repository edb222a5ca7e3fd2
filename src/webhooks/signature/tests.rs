use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;
use sha2::Sha256;

use super::*;

const NOW: i64 = 1_700_000_000;

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

fn mac256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check(
    scheme: SignatureScheme,
    secrets: &[&str],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, Refusal> {
    verify(
        &Scheme {
            scheme,
            header: Some("x-webhook-token"),
            tolerance: None,
        },
        secrets,
        &Inbound {
            method: "POST",
            url: "https://hooks.example.com/webhooks/wh_key?x=1",
            headers,
            body,
        },
        NOW,
    )
}

/// From GitHub's "Validating webhook deliveries" (testing section).
#[test]
fn github_documentation_vector() {
    let h = headers(&[
        (
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".into(),
        ),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        ),
    ]);
    let verified = check(
        SignatureScheme::Github,
        &["It's a Secret to Everybody"],
        &h,
        b"Hello, World!",
    )
    .expect("the documented signature verifies");
    assert_eq!(
        verified.delivery_id.as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(
        check(
            SignatureScheme::Github,
            &["It's a Secret to Everybody"],
            &h,
            b"Hello, World?"
        ),
        Err(Refusal::Mismatch)
    );
    assert_eq!(
        check(SignatureScheme::Github, &["s"], &HeaderMap::new(), b"x"),
        Err(Refusal::MissingHeader("x-hub-signature-256"))
    );
}

/// The Standard Webhooks specification's example.
#[test]
fn standard_webhooks_specification_vector() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    let at = 1_614_265_330;
    let h = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
        ("webhook-timestamp", at.to_string()),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
        ),
    ]);
    let scheme = Scheme {
        scheme: SignatureScheme::Standard,
        header: None,
        tolerance: None,
    };
    let inbound = Inbound {
        method: "POST",
        url: "",
        headers: &h,
        body,
    };
    let verified = verify(&scheme, &[secret], &inbound, at).expect("verifies at its own time");
    assert_eq!(
        verified.delivery_id.as_deref(),
        Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
    );
    // Supabase's `v1,whsec_` form of the same secret, and a list joined with ", ".
    let listed = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
        ("webhook-timestamp", at.to_string()),
        (
            "webhook-signature",
            "v1,bm9wZQ==, v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
        ),
    ]);
    let inbound = Inbound {
        headers: &listed,
        ..inbound
    };
    assert!(verify(&scheme, &[&format!("v1,{secret}")], &inbound, at).is_ok());
    assert_eq!(
        verify(&scheme, &[secret], &inbound, at + 301),
        Err(Refusal::OutOfWindow(-301))
    );
    assert_eq!(
        verify(&scheme, &[secret], &inbound, at - 301),
        Err(Refusal::OutOfWindow(301))
    );
}

/// For each scheme: valid, tampered, missing header, stale and future (where
/// it signs a timestamp), and a rotated secret still in its grace period.
#[test]
fn every_scheme_accepts_valid_and_refuses_the_rest() {
    let body = br#"{"event":"deploy"}"#;
    let (current, previous) = ("current-secret", "previous-secret");
    type Sign = fn(&str, &[u8], i64) -> HeaderMap;
    let cases: [(SignatureScheme, Sign, bool); 8] = [
        (
            SignatureScheme::Github,
            |s, b, _| {
                headers(&[(
                    "x-hub-signature-256",
                    format!("sha256={}", hex(&mac256(s.as_bytes(), b))),
                )])
            },
            false,
        ),
        (
            SignatureScheme::Stripe,
            |s, b, t| {
                let mut m = format!("{t}.").into_bytes();
                m.extend_from_slice(b);
                headers(&[(
                    "stripe-signature",
                    format!("t={t},v1={},v0=ignored", hex(&mac256(s.as_bytes(), &m))),
                )])
            },
            true,
        ),
        (
            SignatureScheme::Sanity,
            |s, b, t| {
                let ms = t * 1000;
                let mut m = format!("{ms}.").into_bytes();
                m.extend_from_slice(b);
                headers(&[(
                    "sanity-webhook-signature",
                    format!(
                        "t={ms}, v1={}",
                        URL_SAFE_NO_PAD.encode(mac256(s.as_bytes(), &m))
                    ),
                )])
            },
            true,
        ),
        (
            SignatureScheme::Hubspot,
            |s, b, t| {
                let ms = (t * 1000).to_string();
                let mut m = b"POSThttps://hooks.example.com/webhooks/wh_key?x=1".to_vec();
                m.extend_from_slice(b);
                m.extend_from_slice(ms.as_bytes());
                headers(&[
                    (
                        "x-hubspot-signature-v3",
                        STANDARD.encode(mac256(s.as_bytes(), &m)),
                    ),
                    ("x-hubspot-request-timestamp", ms),
                ])
            },
            true,
        ),
        (
            SignatureScheme::Vercel,
            |s, b, _| {
                let mut mac = <Hmac<Sha1>>::new_from_slice(s.as_bytes()).expect("any key");
                mac.update(b);
                headers(&[("x-vercel-signature", hex(&mac.finalize().into_bytes()))])
            },
            false,
        ),
        (
            SignatureScheme::Slack,
            |s, b, t| {
                let mut m = format!("v0:{t}:").into_bytes();
                m.extend_from_slice(b);
                headers(&[
                    (
                        "x-slack-signature",
                        format!("v0={}", hex(&mac256(s.as_bytes(), &m))),
                    ),
                    ("x-slack-request-timestamp", t.to_string()),
                ])
            },
            true,
        ),
        (
            SignatureScheme::Shopify,
            |s, b, _| {
                headers(&[(
                    "x-shopify-hmac-sha256",
                    STANDARD.encode(mac256(s.as_bytes(), b)),
                )])
            },
            false,
        ),
        (
            SignatureScheme::SharedHeader,
            |s, _, _| headers(&[("x-webhook-token", s.to_owned())]),
            false,
        ),
    ];
    for (scheme, sign, timed) in cases {
        let label = format!("{scheme:?}");
        let valid = sign(current, body, NOW);
        assert_eq!(
            check(scheme, &[current, previous], &valid, body).map(|v| v.secret_index),
            Ok(0),
            "{label}"
        );
        let rotated = sign(previous, body, NOW);
        assert_eq!(
            check(scheme, &[current, previous], &rotated, body).map(|v| v.secret_index),
            Ok(1),
            "{label}: grace"
        );
        assert_eq!(
            check(scheme, &[current], &rotated, body),
            Err(Refusal::Mismatch),
            "{label}: expired secret"
        );
        if scheme != SignatureScheme::SharedHeader {
            let tampered = check(scheme, &[current], &valid, br#"{"event":"delete"}"#);
            assert_eq!(tampered, Err(Refusal::Mismatch), "{label}: tampered");
        }
        assert!(
            matches!(
                check(scheme, &[current], &HeaderMap::new(), body),
                Err(Refusal::MissingHeader(_))
            ),
            "{label}: missing"
        );
        if timed {
            let stale = sign(current, body, NOW - 301);
            assert!(
                matches!(
                    check(scheme, &[current], &stale, body),
                    Err(Refusal::OutOfWindow(_))
                ),
                "{label}: stale"
            );
            let future = sign(current, body, NOW + 301);
            assert!(
                matches!(
                    check(scheme, &[current], &future, body),
                    Err(Refusal::OutOfWindow(_))
                ),
                "{label}: future"
            );
            let edge = sign(current, body, NOW - 299);
            assert!(
                check(scheme, &[current], &edge, body).is_ok(),
                "{label}: inside the window"
            );
        }
    }
}

mod edges;
mod vectors;
