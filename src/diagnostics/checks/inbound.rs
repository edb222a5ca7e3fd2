//! Webhooks: a secret set, when the last one arrived, and what the bridge
//! refused lately, by reason.

use chrono::{DateTime, Utc};

use super::Check;
use crate::registry::model::{Connection, TypeSpec};

/// A type that sends webhooks and has sent none for this long is asked about.
const QUIET_DAYS: i64 = 7;

pub fn checks(
    _spec: &TypeSpec,
    connection: &Connection,
    refusals: &[(String, i64, DateTime<Utc>)],
) -> Vec<Check> {
    let secret = if connection.webhook_secret_fingerprint.is_empty() {
        Check::fail(
            "webhook_secret",
            "WEBHOOK_SECRET_MISSING",
            "no webhook secret is set",
        )
        .fix("RotateWebhookSecret to set one, and give it to the provider")
    } else {
        Check::pass(
            "webhook_secret",
            format!("set ({})", connection.webhook_secret_fingerprint),
        )
    };
    let url = format!("/webhooks/{}", connection.webhook_key);
    let last = match connection.last_webhook_time {
        None => Check::warn(
            "last_webhook",
            "NO_WEBHOOK_YET",
            "no webhook has been received from the provider",
        )
        .fix(format!(
            "check the provider posts to this connection's webhookUri (…{url}); SendTestWebhook tests the bridge end to end"
        )),
        Some(at) if Utc::now() - at > chrono::Duration::days(QUIET_DAYS) => Check::warn(
            "last_webhook",
            "WEBHOOKS_QUIET",
            format!("the last webhook arrived {} days ago", (Utc::now() - at).num_days()),
        )
        .fix(format!(
            "check the provider's webhook is still enabled and points at …{url}"
        )),
        Some(at) => Check::pass(
            "last_webhook",
            format!("the last webhook arrived at {}", at.to_rfc3339()),
        ),
    };
    let refused = if refusals.is_empty() {
        Check::pass("refused_webhooks", "no webhook was refused in the last day")
    } else {
        let counts: Vec<String> = refusals
            .iter()
            .map(|(reason, n, _)| format!("{reason} ×{n}"))
            .collect();
        let signature = refusals
            .iter()
            .any(|(reason, _, _)| reason == "SIGNATURE_MISMATCH");
        Check::warn(
            "refused_webhooks",
            "WEBHOOKS_REFUSED",
            format!("refused in the last day: {}", counts.join(", ")),
        )
        .fix(if signature {
            "the sender signs with another secret: capture a request and run VerifyWebhook to see which mistake, or RotateWebhookSecret and update the provider"
        } else {
            "capture a refused request and run VerifyWebhook to see which step fails"
        })
    };
    vec![secret, last, refused]
}
