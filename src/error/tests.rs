use super::*;

#[test]
fn internal_errors_hide_their_cause() {
    let err = ApiError::internal("loading connection", "password=hunter2 in SQL");
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(status.message(), "internal error");
    assert!(!format!("{status:?}").contains("hunter2"));
}

#[test]
fn invalid_argument_carries_every_violation() {
    let err = ApiError::invalid_argument(vec![
        FieldViolation::new("a", "missing"),
        FieldViolation::new("b", "too long"),
    ]);
    let status = tonic::Status::from(err);
    let details = status.get_error_details();
    let bad = details.bad_request().expect("bad request details");
    assert_eq!(bad.field_violations.len(), 2);
    let info = details.error_info().expect("error info");
    assert_eq!(info.domain, ERROR_DOMAIN);
    assert_eq!(info.reason, "INVALID_ARGUMENT");
}

/// The contract's table, written out again: a changed mapping, or a
/// code added without a row here, fails.
fn contract(code: ErrorCode) -> (tonic::Code, StatusCode) {
    use tonic::Code;
    match code {
        ErrorCode::InvalidArgument => (Code::InvalidArgument, StatusCode::BAD_REQUEST),
        ErrorCode::Unauthenticated => (Code::Unauthenticated, StatusCode::UNAUTHORIZED),
        ErrorCode::PermissionDenied => (Code::PermissionDenied, StatusCode::FORBIDDEN),
        ErrorCode::NotFound => (Code::NotFound, StatusCode::NOT_FOUND),
        ErrorCode::AlreadyExists => (Code::AlreadyExists, StatusCode::CONFLICT),
        ErrorCode::Aborted => (Code::Aborted, StatusCode::CONFLICT),
        ErrorCode::FailedPrecondition => {
            (Code::FailedPrecondition, StatusCode::PRECONDITION_FAILED)
        }
        ErrorCode::OutOfRange => (Code::OutOfRange, StatusCode::GONE),
        ErrorCode::ResourceExhausted => (Code::ResourceExhausted, StatusCode::TOO_MANY_REQUESTS),
        ErrorCode::PayloadTooLarge => (Code::InvalidArgument, StatusCode::PAYLOAD_TOO_LARGE),
        ErrorCode::Unavailable => (Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
        ErrorCode::Unimplemented => (Code::Unimplemented, StatusCode::NOT_IMPLEMENTED),
        ErrorCode::Internal => (Code::Internal, StatusCode::INTERNAL_SERVER_ERROR),
    }
}

#[test]
fn every_code_maps_to_grpc_and_http_as_the_contract_says() {
    let mut seen = Vec::new();
    for code in ErrorCode::ALL {
        assert!(!seen.contains(&code), "{code:?} is listed twice");
        seen.push(code);
        let (grpc, http) = contract(code);
        assert_eq!(code.grpc(), grpc, "{code:?}");
        assert_eq!(code.http(), http, "{code:?}");
        // And through the two conversions clients actually meet.
        let error = || ApiError::new(code, "REASON", "message");
        assert_eq!(tonic::Status::from(error()).code(), grpc, "{code:?}");
        let response = axum::response::IntoResponse::into_response(error());
        assert_eq!(response.status(), http, "{code:?}");
    }
}
