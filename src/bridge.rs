//! The HTTP bridge: `/healthz`, `/readyz`, `/metrics` and
//! `POST /webhooks/{key}`.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tower_http::trace::TraceLayer;

use deadpool_postgres::Pool;

use crate::{
    error::{ApiError, ErrorCode},
    store::{self, migrate},
    webhooks::{self, Webhooks},
};

const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `metrics` serves `/metrics` (see [`crate::metrics::scrape`]).
pub fn router(pool: Pool, webhooks: Webhooks, metrics: Router) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(pool)
        .merge(metrics)
        .merge(webhooks::router(webhooks))
        .fallback(not_found)
        .layer(TraceLayer::new_for_http())
}

/// The process is alive and serving HTTP.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and the schema is fully migrated.
async fn readyz(State(pool): State<Pool>) -> Response {
    let check = async {
        let client = pool.get().await.map_err(store::StoreError::from)?;
        let applied = migrate::applied_version(&client).await?;
        Ok::<_, store::StoreError>(applied)
    };
    let latest = migrate::latest_version();
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(Some(applied))) if applied >= latest => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "schema_version": applied })),
        )
            .into_response(),
        Ok(Ok(applied)) => not_ready(json!({
            "status": "not_ready",
            "reason": "MIGRATIONS_PENDING",
            "schema_version": applied,
            "expected_schema_version": latest,
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::error::ErrorChain(&e), "readiness: database unreachable");
            not_ready(json!({ "status": "not_ready", "reason": "DATABASE_UNAVAILABLE" }))
        }
        Err(_) => not_ready(json!({ "status": "not_ready", "reason": "DATABASE_TIMEOUT" })),
    }
}

fn not_ready(body: serde_json::Value) -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "NOT_FOUND", "no such route")
}
