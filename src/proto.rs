//! The generated gRPC code: the only module that includes it.

/// `patchbay.v1`: messages, service traits and clients.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("patchbay.v1");

    pub use super::status_envelope::StatusEnvelope;
}

/// The encoded descriptor set of `proto/`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("patchbay_descriptor");

pub mod json;
mod status_envelope;
pub mod time;
