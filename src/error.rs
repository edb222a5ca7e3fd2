//! The one error type answered to clients, and the one table that maps it to
//! gRPC codes (with google.rpc details) and HTTP statuses.
//!
//! Each area keeps its own error enum (`AuthError`, `StoreError`, ...) and
//! converts into [`ApiError`]; nothing else builds a `tonic::Status`.

use std::{collections::HashMap, fmt, time::Duration};

use axum::http::StatusCode;
use tonic_types::{ErrorDetails, StatusExt};

/// The domain of every ErrorInfo we send.
pub const ERROR_DOMAIN: &str = "patchbay.dev";

/// What kind of failure an [`ApiError`] is; one row of the mapping table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    Aborted,
    FailedPrecondition,
    OutOfRange,
    ResourceExhausted,
    PayloadTooLarge,
    Unavailable,
    Unimplemented,
    Internal,
}

impl ErrorCode {
    pub const ALL: [Self; 13] = [
        Self::InvalidArgument,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::NotFound,
        Self::AlreadyExists,
        Self::Aborted,
        Self::FailedPrecondition,
        Self::OutOfRange,
        Self::ResourceExhausted,
        Self::PayloadTooLarge,
        Self::Unavailable,
        Self::Unimplemented,
        Self::Internal,
    ];

    /// The gRPC code and HTTP status for each kind: the single table.
    const fn mapping(self) -> (tonic::Code, StatusCode) {
        match self {
            Self::InvalidArgument => (tonic::Code::InvalidArgument, StatusCode::BAD_REQUEST),
            Self::Unauthenticated => (tonic::Code::Unauthenticated, StatusCode::UNAUTHORIZED),
            Self::PermissionDenied => (tonic::Code::PermissionDenied, StatusCode::FORBIDDEN),
            Self::NotFound => (tonic::Code::NotFound, StatusCode::NOT_FOUND),
            Self::AlreadyExists => (tonic::Code::AlreadyExists, StatusCode::CONFLICT),
            Self::Aborted => (tonic::Code::Aborted, StatusCode::CONFLICT),
            Self::FailedPrecondition => (
                tonic::Code::FailedPrecondition,
                StatusCode::PRECONDITION_FAILED,
            ),
            Self::OutOfRange => (tonic::Code::OutOfRange, StatusCode::GONE),
            Self::ResourceExhausted => (
                tonic::Code::ResourceExhausted,
                StatusCode::TOO_MANY_REQUESTS,
            ),
            Self::PayloadTooLarge => (tonic::Code::InvalidArgument, StatusCode::PAYLOAD_TOO_LARGE),
            Self::Unavailable => (tonic::Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            Self::Unimplemented => (tonic::Code::Unimplemented, StatusCode::NOT_IMPLEMENTED),
            Self::Internal => (tonic::Code::Internal, StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    pub const fn grpc(self) -> tonic::Code {
        self.mapping().0
    }

    pub const fn http(self) -> StatusCode {
        self.mapping().1
    }
}

/// One invalid request field, for google.rpc.BadRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field path as the client names it, e.g. `connection.settings.repo`.
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// An error as a client sees it. Internal causes stay server-side: they are
/// logged where the error is answered and replaced by a generic message.
pub struct ApiError(Box<Details>);

struct Details {
    code: ErrorCode,
    /// UPPER_SNAKE reason for ErrorInfo.
    reason: &'static str,
    message: String,
    metadata: HashMap<String, String>,
    violations: Vec<FieldViolation>,
    retry_after: Option<Duration>,
    quota_violations: Vec<(String, String)>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    pub fn new(code: ErrorCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            code,
            reason,
            message: message.into(),
            metadata: HashMap::new(),
            violations: Vec::new(),
            retry_after: None,
            quota_violations: Vec::new(),
            source: None,
        }))
    }

    /// Invalid input: one BadRequest violation per field.
    pub fn invalid_argument(violations: Vec<FieldViolation>) -> Self {
        let message = match violations.as_slice() {
            [one] => format!("invalid {}: {}", one.field, one.description),
            many => format!("{} invalid fields", many.len()),
        };
        let mut err = Self::new(ErrorCode::InvalidArgument, "INVALID_ARGUMENT", message);
        err.0.violations = violations;
        err
    }

    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::invalid_argument(vec![FieldViolation::new(field, description)])
    }

    pub fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, reason, message)
    }

    pub fn permission_denied(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, reason, message)
    }

    pub fn not_found(resource: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::NotFound,
            "NOT_FOUND",
            format!("{resource} not found"),
        )
    }

    pub fn unavailable(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, reason, message).with_retry_after(Duration::from_secs(1))
    }

    /// A failure the client cannot act on. `context` and the cause are logged
    /// when the error is answered; the client sees only "internal error".
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        let mut err = Self::new(ErrorCode::Internal, "INTERNAL", context);
        err.0.source = Some(source.into());
        err
    }

    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.metadata.insert(key.into(), value.into());
        self
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after);
        self
    }

    pub fn with_quota_violation(
        mut self,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.0
            .quota_violations
            .push((subject.into(), description.into()));
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    pub fn reason(&self) -> &'static str {
        self.0.reason
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The message a client may see.
    pub fn public_message(&self) -> &str {
        if self.0.code == ErrorCode::Internal {
            "internal error"
        } else {
            &self.0.message
        }
    }

    fn log_if_internal(&self) {
        if self.0.code == ErrorCode::Internal {
            match &self.0.source {
                Some(source) => {
                    tracing::error!(context = %self.0.message, error = %ErrorChain(source.as_ref()), "internal error");
                }
                None => tracing::error!(context = %self.0.message, "internal error"),
            }
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.0.code)
            .field("reason", &self.0.reason)
            .field("message", &self.0.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}: {}", self.0.code, self.0.reason, self.0.message)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<ApiError> for tonic::Status {
    fn from(err: ApiError) -> Self {
        err.log_if_internal();
        // The RPC's span carries the reason to the line logging its failure.
        tracing::Span::current().record("reason", err.0.reason);
        let mut details = ErrorDetails::new();
        details.set_error_info(err.0.reason, ERROR_DOMAIN, err.0.metadata.clone());
        if !err.0.violations.is_empty() {
            for v in &err.0.violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
        }
        if let Some(after) = err.0.retry_after {
            details.set_retry_info(Some(after));
        }
        for (subject, description) in &err.0.quota_violations {
            details.add_quota_failure_violation(subject.clone(), description.clone());
        }
        tonic::Status::with_error_details(err.0.code.grpc(), err.public_message(), details)
    }
}

/// An answer's ErrorInfo reason (or, for a success, what it was), put in
/// the HTTP response's extensions for the layers that count answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason(pub &'static str);

/// The JSON body of an HTTP error: the reason code and a message.
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        self.log_if_internal();
        let body = serde_json::json!({
            "error": {
                "code": self.0.reason,
                "message": self.public_message(),
            }
        });
        let mut response = (self.0.code.http(), axum::Json(body)).into_response();
        response.extensions_mut().insert(Reason(self.0.reason));
        if let Some(after) = self.0.retry_after {
            let secs = after.as_secs().max(1);
            if let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Formats an error with its whole `source()` chain, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
