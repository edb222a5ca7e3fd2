//! Signing a delivery the way each scheme's provider does: the inverse of
//! `signature::verify`, for SendTestWebhook. Round trips through the
//! verifier are tested for every scheme.

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, KeyInit as _, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::signature::{hubspot_uri, standard_key};
use crate::registry::model::SignatureScheme;

/// A new Standard Webhooks secret: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> crate::secret::Secret<String> {
    crate::secret::Secret::new(format!(
        "whsec_{}",
        STANDARD.encode(crate::crypto::random_bytes::<32>())
    ))
}

/// A delivery ready to post: its headers and body.
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn mac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A sample event for `scheme` (HubSpot sends arrays), named `event_type`.
pub fn sample_body(scheme: SignatureScheme, event_type: &str, id: &str, now: i64) -> Vec<u8> {
    let event = serde_json::json!({
        "type": event_type,
        "id": id,
        "created": now,
        "data": {"message": "A test event from Patchbay's SendTestWebhook"},
    });
    let body = match scheme {
        SignatureScheme::Hubspot => serde_json::json!([{
            "subscriptionType": event_type,
            "eventId": id,
            "occurredAt": now * 1000,
        }]),
        _ => event,
    };
    body.to_string().into_bytes()
}

/// Who signs, and where the delivery goes.
pub struct Signer<'a> {
    pub scheme: SignatureScheme,
    /// The shared-header scheme's header.
    pub header: Option<&'a str>,
    pub secret: &'a str,
    /// The public URL it will be posted to (HubSpot signs it).
    pub url: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// Signs `body` as `signer`'s provider would, with delivery id `id` where
/// the scheme carries one and `event_type` where a header names it.
pub fn sign(signer: &Signer<'_>, body: Vec<u8>, id: &str, event_type: &str) -> Signed {
    let Signer {
        scheme,
        header,
        secret,
        url,
        now,
    } = *signer;
    let t = now.to_string();
    let key = secret.as_bytes();
    let pairs: Vec<(&str, String)> = match scheme {
        SignatureScheme::Standard => {
            let key = standard_key(secret).unwrap_or_default();
            let sig = STANDARD.encode(mac256(
                &key,
                &[id.as_bytes(), b".", t.as_bytes(), b".", &body],
            ));
            vec![
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", t),
                ("webhook-signature", format!("v1,{sig}")),
            ]
        }
        SignatureScheme::Github => vec![
            (
                "x-hub-signature-256",
                format!("sha256={}", hex(&mac256(key, &[&body]))),
            ),
            ("x-github-delivery", id.to_owned()),
            ("x-github-event", event_type.to_owned()),
        ],
        SignatureScheme::Stripe => {
            let sig = hex(&mac256(key, &[t.as_bytes(), b".", &body]));
            vec![("stripe-signature", format!("t={t},v1={sig}"))]
        }
        SignatureScheme::Sanity => {
            let ms = (now * 1000).to_string();
            let sig = URL_SAFE_NO_PAD.encode(mac256(key, &[ms.as_bytes(), b".", &body]));
            vec![
                ("sanity-webhook-signature", format!("t={ms},v1={sig}")),
                ("idempotency-key", id.to_owned()),
            ]
        }
        SignatureScheme::Hubspot => {
            let ms = (now * 1000).to_string();
            let uri = hubspot_uri(url);
            let sig = STANDARD.encode(mac256(
                key,
                &[b"POST", uri.as_bytes(), &body, ms.as_bytes()],
            ));
            vec![
                ("x-hubspot-signature-v3", sig),
                ("x-hubspot-request-timestamp", ms),
            ]
        }
        SignatureScheme::Vercel => {
            let mut mac = <Hmac<Sha1>>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(&body);
            vec![("x-vercel-signature", hex(&mac.finalize().into_bytes()))]
        }
        SignatureScheme::Slack => {
            let sig = hex(&mac256(key, &[b"v0:", t.as_bytes(), b":", &body]));
            vec![
                ("x-slack-signature", format!("v0={sig}")),
                ("x-slack-request-timestamp", t),
            ]
        }
        SignatureScheme::Shopify => vec![
            (
                "x-shopify-hmac-sha256",
                STANDARD.encode(mac256(key, &[&body])),
            ),
            ("x-shopify-webhook-id", id.to_owned()),
            ("x-shopify-topic", event_type.to_owned()),
        ],
        SignatureScheme::SharedHeader => {
            vec![(header.unwrap_or("x-webhook-secret"), secret.to_owned())]
        }
    };
    let mut headers: Vec<(String, String)> =
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    headers.push(("content-type".to_owned(), "application/json".to_owned()));
    Signed { headers, body }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    use super::*;
    use crate::webhooks::signature::{self, Inbound, Scheme};

    #[test]
    fn what_is_signed_here_verifies_there_for_every_scheme() {
        let secret = format!("whsec_{}", STANDARD.encode([7u8; 32]));
        let url = "https://patchbay.example/webhooks/wh_abc";
        let now = 1_767_000_000;
        for scheme in SignatureScheme::ALL {
            let body = sample_body(scheme, "patchbay.test", "evt_1", now);
            let signer = Signer {
                scheme,
                header: Some("x-webhook-token"),
                secret: &secret,
                url,
                now,
            };
            let signed = sign(&signer, body, "evt_1", "patchbay.test");
            let mut headers = HeaderMap::new();
            for (k, v) in &signed.headers {
                headers.insert(
                    HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    HeaderValue::from_str(v).expect("value"),
                );
            }
            let inbound = Inbound {
                method: "POST",
                url,
                headers: &headers,
                body: &signed.body,
            };
            let verified = signature::verify(
                &Scheme {
                    scheme,
                    header: Some("x-webhook-token"),
                    tolerance: None,
                },
                &["another-secret", &secret],
                &inbound,
                now,
            );
            assert_eq!(verified.map(|v| v.secret_index).ok(), Some(1), "{scheme:?}");
            let other = signature::verify(
                &Scheme {
                    scheme,
                    header: Some("x-webhook-token"),
                    tolerance: None,
                },
                &["whsec_AAAA"],
                &inbound,
                now,
            );
            assert!(other.is_err(), "{scheme:?} verified with the wrong secret");
        }
    }
}
