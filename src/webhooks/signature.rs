//! Inbound webhook signatures, one function per scheme of DESIGN section 4.
//! Pure: the bridge (and Diagnostics/VerifyWebhook) hand in the request and
//! the connection's secrets, newest first; any secret that verifies passes,
//! so a rotated secret keeps working through its grace period.
//!
//! Every comparison is constant-time (`Mac::verify_slice`, `subtle`).

mod hubspot;

use std::time::Duration;

use axum::http::HeaderMap;
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, KeyInit as _, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

pub(crate) use self::hubspot::hubspot_uri;
use crate::registry::model::SignatureScheme;

/// The window for schemes that sign a timestamp, unless the type sets one.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The request as it reached the bridge.
pub struct Inbound<'a> {
    pub method: &'a str,
    /// The full public URL the provider called (scheme, host, path, query).
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// How a connection's type signs.
pub struct Scheme<'a> {
    pub scheme: SignatureScheme,
    /// For shared-header: the header carrying the secret.
    pub header: Option<&'a str>,
    pub tolerance: Option<Duration>,
}

/// A request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Which secret matched: 0 is the current one.
    pub secret_index: usize,
    /// The provider's delivery id, where the scheme has one.
    pub delivery_id: Option<String>,
}

/// Why a request was refused, as the bridge answers (401) and Diagnostics
/// names the failed step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the signed timestamp is {0} s away from now, outside the window")]
    OutOfWindow(i64),
    #[error("no secret of this connection matches the signature")]
    Mismatch,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "SIGNATURE_MISSING",
            Self::Malformed(_) => "SIGNATURE_MALFORMED",
            Self::OutOfWindow(_) => "TIMESTAMP_OUT_OF_WINDOW",
            Self::Mismatch => "SIGNATURE_MISMATCH",
        }
    }
}

/// Verifies `inbound` against `secrets` (newest first) at Unix time `now`.
pub fn verify(
    scheme: &Scheme<'_>,
    secrets: &[&str],
    inbound: &Inbound<'_>,
    now: i64,
) -> Result<Verified, Refusal> {
    let tolerance = scheme.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    let window = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let h = |name: &'static str| header(inbound.headers, name);
    match scheme.scheme {
        SignatureScheme::Standard => {
            let id = h("webhook-id")?;
            let timestamp = h("webhook-timestamp")?;
            let signatures = h("webhook-signature")?;
            check_window(parse_int(timestamp, "webhook-timestamp")?, now, window)?;
            let mut signed = format!("{id}.{timestamp}.").into_bytes();
            signed.extend_from_slice(inbound.body);
            let candidates = standard_signatures(signatures);
            if candidates.is_empty() {
                return Err(Refusal::Malformed("webhook-signature"));
            }
            let index = first_match(secrets, |secret| {
                let key = standard_key(secret)?;
                Some(
                    candidates
                        .iter()
                        .any(|c| verify_hmac::<Sha256>(&key, &signed, c)),
                )
            })?;
            Ok(verified(index, Some(id.to_owned())))
        }
        SignatureScheme::Github => {
            let header = h("x-hub-signature-256")?;
            let hex = header
                .strip_prefix("sha256=")
                .ok_or(Refusal::Malformed("x-hub-signature-256"))?;
            let signature = decode_hex(hex).ok_or(Refusal::Malformed("x-hub-signature-256"))?;
            let index = raw_key_match::<Sha256>(secrets, inbound.body, &[signature])?;
            Ok(verified(
                index,
                header_opt(inbound.headers, "x-github-delivery"),
            ))
        }
        SignatureScheme::Stripe => {
            let header = h("stripe-signature")?;
            let (t, v1) = timestamp_and_signatures(header, "stripe-signature")?;
            check_window(parse_int(t, "stripe-signature")?, now, window)?;
            let candidates: Vec<Vec<u8>> = v1.iter().filter_map(|s| decode_hex(s)).collect();
            let mut signed = format!("{t}.").into_bytes();
            signed.extend_from_slice(inbound.body);
            // Stripe keys with the whole `whsec_...` string, undecoded.
            let index = raw_key_match::<Sha256>(secrets, &signed, &candidates)?;
            Ok(verified(index, None))
        }
        SignatureScheme::Sanity => {
            let header = h("sanity-webhook-signature")?;
            let (t, v1) = timestamp_and_signatures(header, "sanity-webhook-signature")?;
            let millis = parse_int(t, "sanity-webhook-signature")?;
            check_window(millis.div_euclid(1000), now, window)?;
            let candidates: Vec<Vec<u8>> = v1
                .iter()
                .filter_map(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
                .collect();
            let mut signed = format!("{t}.").into_bytes();
            signed.extend_from_slice(inbound.body);
            let index = raw_key_match::<Sha256>(secrets, &signed, &candidates)?;
            Ok(verified(
                index,
                header_opt(inbound.headers, "idempotency-key"),
            ))
        }
        SignatureScheme::Hubspot => {
            let signature = h("x-hubspot-signature-v3")?;
            let timestamp = h("x-hubspot-request-timestamp")?;
            let millis = parse_int(timestamp, "x-hubspot-request-timestamp")?;
            check_window(millis.div_euclid(1000), now, window)?;
            let signature = STANDARD
                .decode(signature.trim())
                .map_err(|_| Refusal::Malformed("x-hubspot-signature-v3"))?;
            let mut signed = Vec::with_capacity(inbound.body.len() + inbound.url.len() + 32);
            signed.extend_from_slice(inbound.method.as_bytes());
            signed.extend_from_slice(hubspot_uri(inbound.url).as_bytes());
            signed.extend_from_slice(inbound.body);
            signed.extend_from_slice(timestamp.as_bytes());
            let index = raw_key_match::<Sha256>(secrets, &signed, &[signature])?;
            Ok(verified(index, None))
        }
        SignatureScheme::Vercel => {
            let signature = decode_hex(h("x-vercel-signature")?)
                .ok_or(Refusal::Malformed("x-vercel-signature"))?;
            let index = raw_key_match::<Sha1>(secrets, inbound.body, &[signature])?;
            Ok(verified(index, None))
        }
        SignatureScheme::Slack => {
            let header = h("x-slack-signature")?;
            let timestamp = h("x-slack-request-timestamp")?;
            check_window(
                parse_int(timestamp, "x-slack-request-timestamp")?,
                now,
                window,
            )?;
            let signature = header
                .strip_prefix("v0=")
                .and_then(decode_hex)
                .ok_or(Refusal::Malformed("x-slack-signature"))?;
            let mut signed = format!("v0:{timestamp}:").into_bytes();
            signed.extend_from_slice(inbound.body);
            let index = raw_key_match::<Sha256>(secrets, &signed, &[signature])?;
            Ok(verified(index, None))
        }
        SignatureScheme::Shopify => {
            let signature = STANDARD
                .decode(h("x-shopify-hmac-sha256")?.trim())
                .map_err(|_| Refusal::Malformed("x-shopify-hmac-sha256"))?;
            let index = raw_key_match::<Sha256>(secrets, inbound.body, &[signature])?;
            Ok(verified(
                index,
                header_opt(inbound.headers, "x-shopify-webhook-id"),
            ))
        }
        SignatureScheme::SharedHeader => {
            let name = scheme.header.unwrap_or("x-webhook-secret");
            let sent = inbound
                .headers
                .get(name)
                .ok_or(Refusal::MissingHeader("shared secret"))?;
            let index = first_match(secrets, |secret| {
                Some(bool::from(sent.as_bytes().ct_eq(secret.as_bytes())))
            })?;
            Ok(verified(index, None))
        }
    }
}

/// Why `secret` could never verify a delivery under `scheme`, when it could
/// not: Standard Webhooks keys are the base64 after `whsec_`; every other
/// scheme uses the secret's bytes as they are.
pub fn unusable_secret(scheme: SignatureScheme, secret: &str) -> Option<&'static str> {
    match scheme {
        SignatureScheme::Standard if standard_key(secret).is_none_or(|k| k.is_empty()) => Some(
            "is not a Standard Webhooks secret: expected whsec_ followed by the base64 of the key",
        ),
        _ => None,
    }
}

/// The header whose value, hashed with the body, dedupes deliveries of
/// schemes without a delivery id. None for shared-header, whose header is
/// the secret itself: those dedupe on the body alone.
pub fn signature_header(scheme: SignatureScheme) -> Option<&'static str> {
    Some(match scheme {
        SignatureScheme::Standard => "webhook-signature",
        SignatureScheme::Github => "x-hub-signature-256",
        SignatureScheme::Stripe => "stripe-signature",
        SignatureScheme::Sanity => "sanity-webhook-signature",
        SignatureScheme::Hubspot => "x-hubspot-signature-v3",
        SignatureScheme::Vercel => "x-vercel-signature",
        SignatureScheme::Slack => "x-slack-signature",
        SignatureScheme::Shopify => "x-shopify-hmac-sha256",
        SignatureScheme::SharedHeader => return None,
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, Refusal> {
    headers
        .get(name)
        .ok_or(Refusal::MissingHeader(name))?
        .to_str()
        .map_err(|_| Refusal::Malformed(name))
}

fn header_opt(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn parse_int(s: &str, name: &'static str) -> Result<i64, Refusal> {
    s.trim().parse().map_err(|_| Refusal::Malformed(name))
}

/// Refused when `at` is more than `window` seconds from `now`, either way.
fn check_window(at: i64, now: i64, window: i64) -> Result<(), Refusal> {
    let skew = at.saturating_sub(now);
    if skew.abs() > window {
        Err(Refusal::OutOfWindow(skew))
    } else {
        Ok(())
    }
}

/// `t=<ts>,v1=<sig>[,v1=...]` (other keys, such as Stripe's v0, ignored).
fn timestamp_and_signatures<'a>(
    header: &'a str,
    name: &'static str,
) -> Result<(&'a str, Vec<&'a str>), Refusal> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1.push(value),
            _ => {}
        }
    }
    match (t, v1.is_empty()) {
        (Some(t), false) => Ok((t, v1)),
        _ => Err(Refusal::Malformed(name)),
    }
}

/// The `v1` entries of a Standard Webhooks signature list: `v1,<b64>`
/// separated by spaces (Supabase joins them with ", "). Entries of other
/// versions, such as the asymmetric `v1a`, are not HMACs and are skipped.
fn standard_signatures(header: &str) -> Vec<Vec<u8>> {
    header
        .split_whitespace()
        .filter_map(|entry| entry.trim_end_matches(',').split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, signature)| STANDARD.decode(signature).ok())
        .collect()
}

/// Standard Webhooks secrets are `whsec_<base64 key>`; Supabase shows them
/// as `v1,whsec_...`.
pub(crate) fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let secret = secret.strip_prefix("v1,").unwrap_or(secret);
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(encoded).ok()
}

fn verify_hmac<D: Hash>(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    D::verify(key, message, signature)
}

/// The two hashes the schemes use, behind one constant-time check.
trait Hash {
    fn verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool;
}

impl Hash for Sha256 {
    fn verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Ok(mut mac) = <Hmac<Sha256>>::new_from_slice(key) else {
            return false;
        };
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    }
}

impl Hash for Sha1 {
    fn verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Ok(mut mac) = <Hmac<Sha1>>::new_from_slice(key) else {
            return false;
        };
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    }
}

/// The index of the first secret that, used as raw UTF-8 bytes, makes an
/// HMAC of `message` equal to any of `candidates`.
fn raw_key_match<D: Hash>(
    secrets: &[&str],
    message: &[u8],
    candidates: &[Vec<u8>],
) -> Result<usize, Refusal> {
    first_match(secrets, |secret| {
        Some(
            candidates
                .iter()
                .any(|c| D::verify(secret.as_bytes(), message, c)),
        )
    })
}

fn verified(secret_index: usize, delivery_id: Option<String>) -> Verified {
    Verified {
        secret_index,
        delivery_id,
    }
}

/// The index of the first secret `matches` accepts (`None`: unusable secret).
fn first_match(secrets: &[&str], matches: impl Fn(&str) -> Option<bool>) -> Result<usize, Refusal> {
    secrets
        .iter()
        .position(|secret| matches(secret).unwrap_or(false))
        .ok_or(Refusal::Mismatch)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
