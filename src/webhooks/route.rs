//! `POST /webhooks/{key}`: every reply of DESIGN section 4's table.

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri, header::CONTENT_LENGTH},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{
    Webhooks, limits, normalize,
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
    if key.is_empty()
        || key.len() > 64
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(unknown());
    }
    let mut receiver = hooks.receivers.get(key).await?.ok_or_else(unknown)?;
    let body = read_body(headers, body, hooks.config.body_limit).await?;

    // Only HubSpot signs the URL it called.
    let url = if receiver.scheme == SignatureScheme::Hubspot {
        format!(
            "{}{}",
            hooks.public_url,
            uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
        )
    } else {
        String::new()
    };
    let inbound = Inbound {
        method: method.as_str(),
        url: &url,
        headers,
        body: &body,
    };
    let now = chrono::Utc::now();
    let verify = |receiver: &super::receivers::Receiver| {
        signature::verify(
            &Scheme {
                scheme: receiver.scheme,
                header: receiver.header.as_deref(),
                tolerance: receiver.tolerance,
            },
            &receiver.secrets_at(now),
            &inbound,
            now.timestamp(),
        )
    };
    let mut verdict = verify(&receiver);
    if verdict == Err(signature::Refusal::Mismatch) {
        // The secret may have been rotated since the entry was cached.
        receiver = hooks.receivers.load(key).await?.ok_or_else(unknown)?;
        verdict = verify(&receiver);
    }
    let verified = verdict.map_err(|refusal| {
        hooks.refusals.record(&receiver.name, refusal.reason());
        tracing::info!(connection = %receiver.name, reason = refusal.reason(), "webhook refused");
        ApiError::unauthenticated(refusal.reason(), refusal.to_string())
    })?;

    let dedupe_key = match verified.delivery_id {
        Some(id) if id.len() <= 256 => id,
        _ => content_key(receiver.scheme, headers, &body),
    };
    let delivery = NewDelivery {
        // Time-ordered (UUIDv7): the primary key grows at its right edge, so
        // a batch's rows share index pages instead of touching one at random
        // each (at 64 clients about 1.3 times the deliveries per second).
        id: uuid::Uuid::now_v7().simple().to_string(),
        connection: receiver.name.clone(),
        dedupe_key,
        event_type: normalize::stored_event_type(header_event_type(headers), &body),
        body,
    };
    let stored = hooks.ingest.submit(delivery).await?;
    let status = if stored.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, stored))
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

/// Schemes without a delivery id dedupe on the signature header and body
/// (the body alone for shared-header, whose header is the secret).
pub(super) fn content_key(scheme: SignatureScheme, headers: &HeaderMap, body: &[u8]) -> String {
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
