//! AlertService: rules that decide when an integration's trouble becomes an
//! alert. Rules are a project resource (`rules.rs`); every project starts
//! with three of them (`defaults.rs`).

pub mod audit_trail;
mod channel_proto;
mod channels;
pub mod defaults;
mod grpc;
pub mod model;
pub mod outbound;
mod proto;
mod rules;

pub use channels::{Channels, seal_context as channel_seal_context};
pub use grpc::AlertsGrpc;
pub use rules::AlertRules;
