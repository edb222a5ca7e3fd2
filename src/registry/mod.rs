//! IntegrationRegistry: the catalog, connections, credentials and mapping templates.

mod grpc;

pub use grpc::RegistryGrpc;
