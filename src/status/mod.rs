//! StatusService: project status reads and the watch stream.

mod grpc;
pub mod model;

pub use grpc::StatusGrpc;
