//! `POST /webhooks/{key}`: every reply of DESIGN section 4's table.

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri, header::CONTENT_LENGTH},
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{
    Webhooks, limits, normalize,
    receivers::Receiver,
    signature::{self, Inbound, Scheme},
};
use crate::{
    error::{ApiError, ErrorCode, Reason},
    metrics::Metrics,
    registry::model::SignatureScheme,
    store::deliveries::NewDelivery,
};

/// The webhook route, with its rate limits (per key, then per peer).
pub fn router(webhooks: Webhooks) -> Router {
    let config = webhooks.config.clone();
    let metrics = webhooks.metrics.clone();
    let router = Router::new()
        .route("/webhooks/{key}", post(receive))
        .with_state(webhooks);
    limits::apply(router, &config).layer(axum::middleware::map_response_with_state(
        metrics,
        count_answer,
    ))
}

async fn receive(
    State(hooks): State<Webhooks>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&hooks, &key, &method, &uri, &headers, body).await {
        Ok((status, stored)) => {
            let answer = if stored.duplicate {
                "DUPLICATE"
            } else {
                "ACCEPTED"
            };
            let mut response = (
                status,
                Json(json!({ "delivery_id": stored.id, "duplicate": stored.duplicate })),
            )
                .into_response();
            response.extensions_mut().insert(Reason(answer));
            response
        }
        Err(e) => e.into_response(),
    }
}

/// Counts every answer of the route, the rate limits' refusals included.
async fn count_answer(State(metrics): State<Metrics>, response: Response) -> Response {
    let reason = response
        .extensions()
        .get::<Reason>()
        .map_or("UNKNOWN", |r| r.0);
    metrics.webhook_answered(reason);
    response
}

async fn accept(
    hooks: &Webhooks,
    key: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, crate::store::deliveries::Stored), ApiError> {
    let unknown = || ApiError::not_found("webhook key");
    if !is_webhook_key(key) {
        return Err(unknown());
    }
    let mut receiver = hooks.receivers.get(key).await?.ok_or_else(unknown)?;
    let arrival = Arrival {
        method,
        uri,
        headers,
        body: read_body(headers, body, hooks.config.body_limit).await?,
    };
    let now = chrono::Utc::now();
    let mut admitted = admit(&receiver, &hooks.public_url, &arrival, now);
    if matches!(admitted, Err(signature::Refusal::Mismatch)) {
        // The secret may have been rotated since the entry was cached.
        receiver = hooks.receivers.load(key).await?.ok_or_else(unknown)?;
        admitted = admit(&receiver, &hooks.public_url, &arrival, now);
    }
    let delivery = admitted.map_err(|refusal| {
        hooks.refusals.record(&receiver.name, refusal.reason());
        tracing::info!(connection = %receiver.name, reason = refusal.reason(), "webhook refused");
        ApiError::unauthenticated(refusal.reason(), refusal.to_string())
    })?;
    let stored = hooks.ingest.submit(delivery).await?;
    let status = if stored.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, stored))
}

/// Keys are ours (`[A-Za-z0-9_]`, at most 64): anything else is unknown
/// without a lookup.
pub fn is_webhook_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A request to the route as it arrived, its body read.
pub struct Arrival<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// Everything the route decides without the database: verifies `arrival`
/// against `receiver`'s secrets at `now`, and makes the delivery to store
/// (its dedupe key and event type).
pub fn admit(
    receiver: &Receiver,
    public_url: &str,
    arrival: &Arrival<'_>,
    now: DateTime<Utc>,
) -> Result<NewDelivery, signature::Refusal> {
    let Arrival {
        method,
        uri,
        headers,
        ref body,
    } = *arrival;
    // Only HubSpot signs the URL it called.
    let url = if receiver.scheme == SignatureScheme::Hubspot {
        format!(
            "{public_url}{}",
            uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
        )
    } else {
        String::new()
    };
    let inbound = Inbound {
        method: method.as_str(),
        url: &url,
        headers,
        body,
    };
    let verified = signature::verify(
        &Scheme {
            scheme: receiver.scheme,
            header: receiver.header.as_deref(),
            tolerance: receiver.tolerance,
        },
        &receiver.secrets_at(now),
        &inbound,
        now.timestamp(),
    )?;
    let dedupe_key = dedupe_key(receiver.scheme, verified.delivery_id, headers, body);
    Ok(NewDelivery {
        // Time-ordered (UUIDv7): the primary key grows at its right edge, so
        // a batch's rows share index pages instead of touching one at random
        // each (at 64 clients about 1.3 times the deliveries per second).
        id: uuid::Uuid::now_v7().simple().to_string(),
        connection: receiver.name.clone(),
        dedupe_key,
        event_type: normalize::stored_event_type(header_event_type(headers), body),
        body: body.clone(),
    })
}

/// Reads the body, refusing one over `limit` before reading it when its
/// length is declared.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "BODY_TOO_LARGE",
            format!("the body is over the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// What a delivery is deduplicated on: the provider's delivery id, else
/// its content.
pub(super) fn dedupe_key(
    scheme: SignatureScheme,
    delivery_id: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> String {
    match delivery_id {
        // An empty id would make every such delivery a duplicate of the
        // first.
        Some(id) if !id.is_empty() && id.len() <= 256 => id,
        _ => content_key(scheme, headers, body),
    }
}

/// Schemes without a delivery id dedupe on the signature header and body
/// (the body alone for shared-header, whose header is the secret).
fn content_key(scheme: SignatureScheme, headers: &HeaderMap, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    if let Some(name) = signature::signature_header(scheme) {
        if let Some(value) = headers.get(name) {
            hash.update(value.as_bytes());
        }
        hash.update(b"\n");
    }
    hash.update(body);
    let digest = hash.finalize();
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256:");
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// Providers that name the event in a header (the body is read later).
fn header_event_type(headers: &HeaderMap) -> String {
    ["x-github-event", "x-shopify-topic", "x-event-type"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(|v| v.chars().take(128).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_we_could_have_issued_are_looked_up() {
        for good in ["a", "Ab_9", &"k".repeat(64)] {
            assert!(is_webhook_key(good), "{good}");
        }
        for bad in ["", &"k".repeat(65), "a-b", "a b", "ключ", "a/b", "a\0"] {
            assert!(!is_webhook_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_provider_s_id_dedupes_unless_it_is_empty_or_too_long() {
        let headers = HeaderMap::new();
        let scheme = SignatureScheme::Standard;
        let key = |id: Option<&str>| dedupe_key(scheme, id.map(str::to_owned), &headers, b"{}");
        assert_eq!(key(Some("msg_1")), "msg_1");
        let longest = "i".repeat(256);
        assert_eq!(key(Some(&longest)), longest);
        let by_content = key(None);
        assert!(by_content.starts_with("sha256:") && by_content.len() == 7 + 64);
        assert_eq!(key(Some("")), by_content);
        assert_eq!(key(Some(&"i".repeat(257))), by_content);
        assert_ne!(
            dedupe_key(scheme, None, &headers, b"[]"),
            by_content,
            "the body counts"
        );
    }
}
