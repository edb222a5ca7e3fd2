//! The edges mutants probe: which Standard Webhooks entries count, the
//! window's boundary, the dedupe header of schemes without an id, and the
//! shape of a usable secret.

use super::*;

fn standard_request(signature_list: &str, at: i64) -> HeaderMap {
    headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
        ("webhook-timestamp", at.to_string()),
        ("webhook-signature", signature_list.into()),
    ])
}

/// Only `v1,` entries are HMAC signatures; other versions are skipped, and a
/// list without a `v1` entry is refused.
#[test]
fn standard_webhooks_checks_only_v1_entries() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    let at = 1_614_265_330;
    let valid = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let scheme = Scheme {
        scheme: SignatureScheme::Standard,
        header: None,
        tolerance: None,
    };
    let run = |list: &str| {
        let h = standard_request(list, at);
        verify(
            &scheme,
            &[secret],
            &Inbound {
                method: "POST",
                url: "",
                headers: &h,
                body,
            },
            at,
        )
    };
    assert!(run(&format!("v1a,c29tZXRoaW5n v1,{valid}")).is_ok());
    assert!(run(&format!("v1,bm9wZQ== v1,{valid}")).is_ok());
    // The right HMAC under another version's label is not a v1 signature.
    assert_eq!(
        run(&format!("v2,{valid}")),
        Err(Refusal::Malformed("webhook-signature"))
    );
    assert_eq!(
        run(&format!("v1,bm9wZQ== v2,{valid}")),
        Err(Refusal::Mismatch)
    );
    assert_eq!(
        run(valid),
        Err(Refusal::Malformed("webhook-signature")),
        "a bare signature has no version"
    );
    assert_eq!(
        run(&format!("v1a,{valid}")),
        Err(Refusal::Malformed("webhook-signature"))
    );
}

/// A timestamp exactly at the tolerance passes; one second past it fails,
/// either way.
#[test]
fn the_time_window_includes_its_edge() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    let at = 1_614_265_330;
    let h = standard_request("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", at);
    let inbound = Inbound {
        method: "POST",
        url: "",
        headers: &h,
        body,
    };
    for tolerance in [DEFAULT_TOLERANCE, Duration::from_secs(60)] {
        let scheme = Scheme {
            scheme: SignatureScheme::Standard,
            header: None,
            tolerance: Some(tolerance),
        };
        let edge = i64::try_from(tolerance.as_secs()).expect("small");
        for now in [at + edge, at - edge] {
            assert!(
                verify(&scheme, &[secret], &inbound, now).is_ok(),
                "{edge} s away is inside"
            );
        }
        assert_eq!(
            verify(&scheme, &[secret], &inbound, at + edge + 1),
            Err(Refusal::OutOfWindow(-edge - 1))
        );
        assert_eq!(
            verify(&scheme, &[secret], &inbound, at - edge - 1),
            Err(Refusal::OutOfWindow(edge + 1))
        );
    }
}

/// Schemes without a delivery id dedupe on their signature header.
#[test]
fn schemes_without_a_delivery_id_name_the_header_they_dedupe_on() {
    let cases = [
        (SignatureScheme::Standard, Some("webhook-signature")),
        (SignatureScheme::Github, Some("x-hub-signature-256")),
        (SignatureScheme::Stripe, Some("stripe-signature")),
        (SignatureScheme::Sanity, Some("sanity-webhook-signature")),
        (SignatureScheme::Hubspot, Some("x-hubspot-signature-v3")),
        (SignatureScheme::Vercel, Some("x-vercel-signature")),
        (SignatureScheme::Slack, Some("x-slack-signature")),
        (SignatureScheme::Shopify, Some("x-shopify-hmac-sha256")),
        (SignatureScheme::SharedHeader, None),
    ];
    for (scheme, header) in cases {
        assert_eq!(signature_header(scheme), header, "{scheme:?}");
    }
}

#[test]
fn only_standard_webhooks_secrets_have_a_shape() {
    let standard = SignatureScheme::Standard;
    for good in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert_eq!(unusable_secret(standard, good), None, "{good}");
    }
    for bad in ["whsec_!!!notbase64", "whsec_", ""] {
        assert!(unusable_secret(standard, bad).is_some(), "{bad:?}");
    }
    for scheme in [SignatureScheme::Github, SignatureScheme::Stripe] {
        assert_eq!(unusable_secret(scheme, "whsec_!!!notbase64"), None);
    }
}

/// The reasons the bridge answers senders with (and Diagnostics names).
#[test]
fn each_refusal_has_its_reason() {
    let cases = [
        (Refusal::MissingHeader("webhook-id"), "SIGNATURE_MISSING"),
        (
            Refusal::Malformed("webhook-signature"),
            "SIGNATURE_MALFORMED",
        ),
        (Refusal::OutOfWindow(301), "TIMESTAMP_OUT_OF_WINDOW"),
        (Refusal::Mismatch, "SIGNATURE_MISMATCH"),
    ];
    for (refusal, reason) in cases {
        assert_eq!(refusal.reason(), reason, "{refusal:?}");
    }
}
