//! Requests tonic cannot decode are the client's fault: a message that is
//! not valid protobuf (invalid UTF-8 in a string, a Struct nested past the
//! recursion limit) becomes INVALID_ARGUMENT with a field violation, and a
//! message over the size limit RESOURCE_EXHAUSTED, gRPC's convention. Tonic
//! answers them before any handler runs, as INTERNAL and OUT_OF_RANGE.

use axum::http::Response;

use crate::error::{ApiError, ErrorCode, FieldViolation};

/// What prost's `DecodeError` says first, and tonic's size check.
const UNDECODABLE: &str = "failed to decode Protobuf message: ";
const TOO_LARGE: &str = "Error, decoded message length too large";

/// Rewrites tonic's own decode and size errors; leaves every other response.
pub fn as_client_error(response: Response<tonic::body::Body>) -> Response<tonic::body::Body> {
    // Only error responses carry grpc-status in their headers (trailers-only).
    let Some(status) = response
        .headers()
        .contains_key("grpc-status")
        .then(|| tonic::Status::from_header_map(response.headers()))
        .flatten()
    else {
        return response;
    };
    let error = match (status.code(), status.message()) {
        (tonic::Code::Internal, message) if message.starts_with(UNDECODABLE) => {
            undecodable(&message[UNDECODABLE.len()..])
        }
        (tonic::Code::OutOfRange, message) if message.starts_with(TOO_LARGE) => ApiError::new(
            ErrorCode::ResourceExhausted,
            "MESSAGE_TOO_LARGE",
            message.replace("Error, decoded", "the request"),
        ),
        _ => return response,
    };
    tonic::Status::from(error).into_http()
}

/// prost says `Inner.field: Outer.field: what went wrong`, innermost
/// first; the violation names the path from the request down,
/// `outer.inner`.
fn undecodable(detail: &str) -> ApiError {
    let mut fields = Vec::new();
    let mut rest = detail;
    while let Some((segment, tail)) = rest.split_once(": ") {
        match segment.split_once('.') {
            Some((message, field)) if is_identifier(message) && is_identifier(field) => {
                fields.push(field);
                rest = tail;
            }
            _ => break,
        }
    }
    fields.reverse();
    let description = format!("the message could not be decoded: {rest}");
    ApiError::invalid_argument(vec![FieldViolation::new(fields.join("."), description)])
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(detail: &str) -> (String, String) {
        use tonic_types::StatusExt as _;
        let status = tonic::Status::from(undecodable(detail));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("a field violation");
        let v = &bad.field_violations[0];
        (v.field.clone(), v.description.clone())
    }

    #[test]
    fn the_violation_names_the_field_path() {
        let (field, description) = violation(
            "Connection.display_name: CreateConnectionRequest.connection: invalid string value: data is not UTF-8 encoded",
        );
        assert_eq!(field, "connection.display_name");
        assert_eq!(
            description,
            "the message could not be decoded: invalid string value: data is not UTF-8 encoded"
        );
    }

    #[test]
    fn a_detail_without_a_path_names_no_field() {
        let (field, description) = violation("recursion limit reached");
        assert_eq!(field, "");
        assert!(description.ends_with("recursion limit reached"));
    }
}
