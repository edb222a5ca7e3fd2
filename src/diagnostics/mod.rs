//! Diagnostics: health, checks, webhook verification and deployment drift.

mod grpc;

pub use grpc::DiagnosticsGrpc;
