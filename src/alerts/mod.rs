//! AlertService: rules that decide when an integration's trouble becomes an
//! alert. Rules are a project resource (`rules.rs`); every project starts
//! with three of them (`defaults.rs`).

pub mod audit_trail;
pub mod defaults;
mod grpc;
pub mod model;
mod proto;
mod rules;

pub use grpc::AlertsGrpc;
pub use rules::AlertRules;
