//! AIP-154 etags: opaque, new on every write, checked on updates and deletes.

use crate::error::{ApiError, ErrorCode};

/// A fresh opaque etag.
pub fn new_etag() -> String {
    crate::crypto::random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// ABORTED when the client sent an etag that is no longer current.
pub fn check_etag(sent: Option<&str>, current: &str) -> Result<(), ApiError> {
    match sent {
        Some(sent) if sent != current => Err(ApiError::new(
            ErrorCode::Aborted,
            "ETAG_MISMATCH",
            "the resource changed since it was read; read it again and retry",
        )
        .with_metadata("current_etag", current)),
        _ => Ok(()),
    }
}
