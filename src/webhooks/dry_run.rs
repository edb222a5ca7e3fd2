//! VerifyWebhook: a captured request through the bridge's own checks
//! (headers, replay window, signature, dedupe), storing nothing, with the
//! step that failed, why, and the likely mistake behind a mismatch: each is
//! detected by verifying the request again with that mistake undone.

use axum::http::{HeaderMap, HeaderValue};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::Utc;

use super::{
    Webhooks,
    receivers::Receiver,
    route::dedupe_key,
    signature::{self, Inbound, Refusal, Scheme},
};
use crate::{error::ApiError, registry::model::SignatureScheme, store};

/// A request as it was captured.
pub struct Captured<'a> {
    pub method: &'a str,
    /// Path and query, as the bridge was called.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Headers,
    Timestamp,
    Signature,
    Dedupe,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// `None`: the bridge would accept it.
    pub failed: Option<Step>,
    pub duplicate: bool,
    /// As the bridge's 401 would carry; empty when valid.
    pub reason: String,
    pub detail: String,
    /// UPPER_SNAKE name of the mistake detected, when one was.
    pub likely_cause: Option<&'static str>,
}

/// Secrets that are not the webhook secret but get used as one: the
/// connection's own credentials, by field name.
pub type OtherSecrets<'a> = &'a [(String, String)];

impl Webhooks {
    /// Runs `captured` through the connection behind `key`; `None` when no
    /// connection has the key.
    pub async fn dry_run(
        &self,
        key: &str,
        captured: &Captured<'_>,
        others: OtherSecrets<'_>,
    ) -> Result<Option<DryRun>, ApiError> {
        let Some(receiver) = self.receivers.load(key).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let secrets = receiver.secrets_at(now);
        let url = format!("{}{}", self.public_url, captured.path);
        let scheme = Scheme {
            scheme: receiver.scheme,
            header: receiver.header.as_deref(),
            tolerance: receiver.tolerance,
        };
        let inbound = Inbound {
            method: captured.method,
            url: &url,
            headers: captured.headers,
            body: captured.body,
        };
        let verified = signature::verify(&scheme, &secrets, &inbound, now.timestamp());
        let refusal = match verified {
            Ok(verified) => {
                let dedupe_key = dedupe_key(
                    receiver.scheme,
                    verified.delivery_id,
                    captured.headers,
                    captured.body,
                );
                let client = self
                    .receivers_pool()
                    .get()
                    .await
                    .map_err(store::StoreError::from)?;
                let stored =
                    store::delivery_log::by_dedupe_key(&client, &receiver.name, &dedupe_key)
                        .await?;
                let which = if verified.secret_index == 0 {
                    "current"
                } else {
                    "previous"
                };
                let fingerprint = secrets
                    .get(verified.secret_index)
                    .map(|s| self.receivers.fingerprint(s))
                    .unwrap_or_default();
                return Ok(Some(match stored {
                    Some(id) => DryRun {
                        failed: Some(Step::Dedupe),
                        duplicate: true,
                        reason: "DUPLICATE".to_owned(),
                        detail: format!(
                            "valid, but already received as {}/deliveries/{id}: the bridge would answer 200 and store nothing",
                            receiver.name
                        ),
                        likely_cause: None,
                    },
                    None => DryRun {
                        failed: None,
                        duplicate: false,
                        reason: String::new(),
                        detail: format!("valid: signed with the {which} secret ({fingerprint})"),
                        likely_cause: None,
                    },
                }));
            }
            Err(refusal) => refusal,
        };
        let tried: Vec<String> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let which = if i == 0 { "current" } else { "previous" };
                format!("{which} ({})", self.receivers.fingerprint(s))
            })
            .collect();
        let tolerance = receiver
            .tolerance
            .unwrap_or(signature::DEFAULT_TOLERANCE)
            .as_secs();
        let (failed, detail) = match &refusal {
            Refusal::MissingHeader(name) => {
                (Step::Headers, format!("the {name} header is missing"))
            }
            Refusal::Malformed(name) => (Step::Headers, format!("the {name} header is malformed")),
            Refusal::OutOfWindow(skew) => (
                Step::Timestamp,
                format!(
                    "the signed timestamp is {} s {} this server's clock; the window is ±{tolerance} s",
                    skew.abs(),
                    if *skew < 0 { "behind" } else { "ahead of" }
                ),
            ),
            Refusal::Mismatch => (
                Step::Signature,
                format!("no secret matched; tried {}", tried.join(", ")),
            ),
        };
        let cause = match refusal {
            Refusal::Malformed(_) | Refusal::Mismatch => likely_cause(
                &receiver,
                &scheme,
                &secrets,
                &inbound,
                others,
                now.timestamp(),
            ),
            _ => None,
        };
        let detail = match cause {
            Some((_, ref explained)) => format!("{detail}; likely: {explained}"),
            None => detail,
        };
        Ok(Some(DryRun {
            failed: Some(failed),
            duplicate: false,
            reason: refusal.reason().to_owned(),
            detail,
            likely_cause: cause.map(|(code, _)| code),
        }))
    }

    fn receivers_pool(&self) -> &deadpool_postgres::Pool {
        self.receivers.pool()
    }
}

/// The first mistake which, undone, makes the request verify.
fn likely_cause(
    receiver: &Receiver,
    scheme: &Scheme<'_>,
    secrets: &[&str],
    inbound: &Inbound<'_>,
    others: OtherSecrets<'_>,
    now: i64,
) -> Option<(&'static str, String)> {
    let verifies = |secrets: &[&str], headers: &HeaderMap, body: &[u8]| {
        let inbound = Inbound {
            method: inbound.method,
            url: inbound.url,
            headers,
            body,
        };
        signature::verify(scheme, secrets, &inbound, now).is_ok()
    };
    let (headers, body) = (inbound.headers, inbound.body);
    // The secret with its whsec_ prefix dropped, or kept where it does not
    // belong.
    for secret in secrets {
        let (variant, cause, explained) = match secret.strip_prefix("whsec_") {
            Some(bare) => (
                bare.to_owned(),
                "WHSEC_PREFIX_DROPPED",
                "the sender signed with the secret without its whsec_ prefix",
            ),
            None => (
                format!("whsec_{secret}"),
                "WHSEC_PREFIX_ADDED",
                "the sender signed with whsec_ added before the secret",
            ),
        };
        if verifies(&[&variant], headers, body) {
            return Some((cause, explained.to_owned()));
        }
    }
    // A signature prefix the scheme requires, left out.
    let prefix = match receiver.scheme {
        SignatureScheme::Github => Some(("x-hub-signature-256", "sha256=")),
        SignatureScheme::Standard => Some(("webhook-signature", "v1,")),
        SignatureScheme::Slack => Some(("x-slack-signature", "v0=")),
        _ => None,
    };
    if let Some((name, prefix)) = prefix
        && let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
        && !value.starts_with(prefix)
        && let Some(fixed) = with_header(headers, name, &format!("{prefix}{value}"))
        && verifies(secrets, &fixed, body)
    {
        return Some((
            "SIGNATURE_PREFIX_MISSING",
            format!("the {name} value lacks its {prefix} prefix"),
        ));
    }
    // Hex where the scheme expects base64.
    let base64_header = match receiver.scheme {
        SignatureScheme::Standard => Some(("webhook-signature", "v1,")),
        SignatureScheme::Shopify => Some(("x-shopify-hmac-sha256", "")),
        SignatureScheme::Hubspot => Some(("x-hubspot-signature-v3", "")),
        _ => None,
    };
    if let Some((name, prefix)) = base64_header
        && let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
        && let Some(bytes) = decode_hex(value.strip_prefix(prefix).unwrap_or(value))
        && let Some(fixed) = with_header(
            headers,
            name,
            &format!("{prefix}{}", STANDARD.encode(bytes)),
        )
        && verifies(secrets, &fixed, body)
    {
        return Some((
            "HEX_NOT_BASE64",
            format!("the {name} signature is hex; the scheme expects base64"),
        ));
    }
    // The JSON body re-encoded on its way here: the sender signed it
    // compact (in its own key order, or sorted as serde writes it).
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let candidates = [
            minified(body),
            serde_json::to_vec(&json).unwrap_or_default(),
        ];
        if candidates
            .iter()
            .any(|compact| compact.as_slice() != body && verifies(secrets, headers, compact))
        {
            return Some((
                "BODY_RESERIALIZED",
                "the signature matches the body's JSON re-encoded compactly: something re-serialized the request; pass the raw bytes".to_owned(),
            ));
        }
    }
    // Another of the connection's secrets used as the webhook secret.
    for (field, value) in others {
        if verifies(&[value.as_str()], headers, body) {
            return Some((
                "WRONG_SECRET",
                format!(
                    "the sender signed with the connection's {field} credential, not its webhook secret"
                ),
            ));
        }
    }
    None
}

/// `json` without the whitespace between its tokens, in its own order.
fn minified(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !b.is_ascii_whitespace() {
            out.push(b);
        }
    }
    out
}

fn with_header(headers: &HeaderMap, name: &'static str, value: &str) -> Option<HeaderMap> {
    let mut fixed = headers.clone();
    fixed.insert(name, HeaderValue::from_str(value).ok()?);
    Some(fixed)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.is_empty() || s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::minified;

    #[test]
    fn minifying_keeps_strings_and_order() {
        let pretty = b"{\n  \"b\": \"a b\\\" c\",\n  \"a\": [1, 2]\n}";
        assert_eq!(minified(pretty), br#"{"b":"a b\" c","a":[1,2]}"#.to_vec());
    }
}
