//! The span every RPC runs in, and how a failed one is logged: client
//! errors at INFO or WARN with the code's name and the ErrorInfo reason,
//! ERROR only for the server's own failures (INTERNAL, UNAVAILABLE, ...).

use std::time::Duration;

use tower_http::classify::GrpcFailureClass;
use tracing::Span;

/// The span each RPC runs in; the auth interceptor fills in `user`, and
/// the answer's error its `reason`.
pub fn rpc_span<B>(request: &axum::http::Request<B>) -> Span {
    tracing::info_span!(
        "rpc",
        method = %request.uri().path(),
        user = tracing::field::Empty,
        reason = tracing::field::Empty,
    )
}

/// Logs a failed RPC at the level its code deserves.
pub fn log_failure(failure: GrpcFailureClass, latency: Duration, _span: &Span) {
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    let code = match failure {
        GrpcFailureClass::Code(code) => tonic::Code::from(code.get()),
        GrpcFailureClass::Error(error) => {
            tracing::error!(%error, latency_ms, "rpc failed");
            return;
        }
    };
    let name = code_name(code);
    match level(code) {
        tracing::Level::INFO => tracing::info!(code = name, latency_ms, "rpc answered an error"),
        tracing::Level::WARN => tracing::warn!(code = name, latency_ms, "rpc answered an error"),
        _ => tracing::error!(code = name, latency_ms, "rpc failed"),
    }
}

/// The client's errors are the client's business: INFO, or WARN for those
/// an operator may want to see (refused credentials, limits). ERROR is for
/// the server failing.
fn level(code: tonic::Code) -> tracing::Level {
    use tonic::Code::*;
    match code {
        InvalidArgument | NotFound | AlreadyExists | FailedPrecondition | Aborted | OutOfRange
        | Cancelled => tracing::Level::INFO,
        Unauthenticated | PermissionDenied | ResourceExhausted | DeadlineExceeded
        | Unimplemented => tracing::Level::WARN,
        Ok | Unknown | Internal | Unavailable | DataLoss => tracing::Level::ERROR,
    }
}

/// The code as gRPC names it, e.g. `INVALID_ARGUMENT`.
pub(super) fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_failures_are_errors() {
        assert_eq!(level(tonic::Code::InvalidArgument), tracing::Level::INFO);
        assert_eq!(level(tonic::Code::NotFound), tracing::Level::INFO);
        assert_eq!(level(tonic::Code::PermissionDenied), tracing::Level::WARN);
        assert_eq!(level(tonic::Code::Unauthenticated), tracing::Level::WARN);
        assert_eq!(level(tonic::Code::Internal), tracing::Level::ERROR);
        assert_eq!(level(tonic::Code::Unavailable), tracing::Level::ERROR);
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
    }
}
