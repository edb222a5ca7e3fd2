//! Sending a provider request and classifying what comes back.

use std::time::Duration;

use chrono::Utc;
use reqwest::{RequestBuilder, Response, StatusCode, header::HeaderMap};

use super::{ProbeError, problem};
use crate::status::model::{Problem, ProblemCode};

/// Sends `request`, classifying transport failures and error statuses.
/// `oauth` says whether a 401 means the grant was revoked.
pub async fn send(request: RequestBuilder, oauth: bool) -> Result<Response, ProbeError> {
    check(transport(request).await?, oauth)
}

/// Sends `request`, classifying only transport failures.
pub async fn transport(request: RequestBuilder) -> Result<Response, ProbeError> {
    request.send().await.map_err(transport_error)
}

fn transport_error(e: reqwest::Error) -> ProbeError {
    if e.is_timeout() {
        ProbeError::Transient(problem(
            ProblemCode::Timeout,
            "the provider did not answer in time",
        ))
    } else if e.is_connect() {
        ProbeError::Transient(problem(
            ProblemCode::Unreachable,
            "the provider cannot be reached",
        ))
    } else if e.is_builder() {
        ProbeError::misconfigured("the provider URL is invalid")
    } else {
        ProbeError::Transient(problem(
            ProblemCode::Unreachable,
            "the request to the provider failed",
        ))
    }
}

fn check(response: Response, oauth: bool) -> Result<Response, ProbeError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if let Some(limited) = rate_limited(status, response.headers()) {
        return Err(ProbeError::RateLimited(limited));
    }
    Err(match status {
        StatusCode::UNAUTHORIZED if oauth => ProbeError::Definitive(problem(
            ProblemCode::OauthRevoked,
            "the provider revoked access; reconnect the integration",
        )),
        StatusCode::UNAUTHORIZED => ProbeError::Definitive(problem(
            ProblemCode::Unauthorized,
            "the provider refused the credentials; update them",
        )),
        StatusCode::FORBIDDEN => ProbeError::Definitive(problem(
            ProblemCode::Unauthorized,
            "the credentials lack the permission this check needs",
        )),
        StatusCode::NOT_FOUND => {
            ProbeError::misconfigured("the provider does not know the configured resource")
        }
        s if s.is_server_error() => ProbeError::Transient(problem(
            ProblemCode::Unreachable,
            format!("the provider answered {}", s.as_u16()),
        )),
        s => ProbeError::Definitive(problem(
            ProblemCode::Unknown,
            format!("the provider answered {}", s.as_u16()),
        )),
    })
}

/// 429, or a 403 whose rate-limit headers say the budget is spent (GitHub's
/// way), with how long to wait.
fn rate_limited(status: StatusCode, headers: &HeaderMap) -> Option<Problem> {
    let exhausted = header_i64(headers, "x-ratelimit-remaining") == Some(0);
    let limited =
        status == StatusCode::TOO_MANY_REQUESTS || (status == StatusCode::FORBIDDEN && exhausted);
    if !limited {
        return None;
    }
    let retry_after = header_i64(headers, "retry-after")
        .map(|s| Duration::from_secs(s.max(0).unsigned_abs()))
        .or_else(|| {
            // GitHub: the epoch second the window resets.
            let reset = header_i64(headers, "x-ratelimit-reset")?;
            Some(Duration::from_secs(
                (reset - Utc::now().timestamp()).max(1).unsigned_abs(),
            ))
        })
        .unwrap_or(Duration::from_secs(60));
    Some(Problem {
        code: ProblemCode::RateLimited,
        hint: "the provider's API budget is spent; checking again after it resets".to_owned(),
        retry_after: Some(retry_after),
    })
}

pub fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Reads a JSON body, treating an unexpected shape as a provider fault.
pub async fn json<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, ProbeError> {
    response.json().await.map_err(|_| {
        ProbeError::Transient(problem(
            ProblemCode::Unknown,
            "the provider's answer was not understood",
        ))
    })
}
