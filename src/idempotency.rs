//! AIP-155 request ids: a retried create returns the first result; the same
//! id on a different request is refused.

use prost::Message;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// A request id and a digest of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub id: Uuid,
    pub digest: [u8; 32],
}

impl RequestKey {
    /// Parses `request_id` (empty: none) and digests `request`, which the
    /// caller passes with its request_id field cleared.
    pub fn parse(request_id: &str, request: &impl Message) -> Result<Option<Self>, ApiError> {
        if request_id.is_empty() {
            return Ok(None);
        }
        let id = Uuid::parse_str(request_id)
            .map_err(|_| ApiError::invalid_field("request_id", "must be a UUID"))?;
        let digest = Sha256::digest(request.encode_to_vec()).into();
        Ok(Some(Self { id, digest }))
    }

    /// The answer when a stored request with this id had `stored_digest`.
    pub fn check_replay(&self, stored_digest: &[u8]) -> Result<(), ApiError> {
        if stored_digest == self.digest {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::AlreadyExists,
                "REQUEST_ID_REUSED",
                "request_id was already used with a different request",
            )
            .with_metadata("request_id", self.id.to_string()))
        }
    }
}
