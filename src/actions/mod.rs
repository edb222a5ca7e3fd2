//! ActionService: starting, reading and cancelling actions.

mod grpc;

pub use grpc::ActionsGrpc;
