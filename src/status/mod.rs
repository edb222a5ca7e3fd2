//! StatusService: project status reads and the watch stream.

mod grpc;

pub use grpc::StatusGrpc;
