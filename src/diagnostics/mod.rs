//! Diagnostics: what is wrong and why. Service health from real component
//! checks ([`health`]), what this deployment is ([`deployment`]), and the
//! webhook delivery log with redrive, and the audit log's reads.

mod audit_log;
mod checks;
mod compare;
mod deliveries;
pub mod deployment;
mod grpc;
pub mod health;
mod proto;
mod service;

pub use grpc::DiagnosticsGrpc;
pub use service::{DeploymentInfo, Diagnostics, Parts, TestDelivery};
