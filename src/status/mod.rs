//! StatusService: project status reads and the watch stream.
//!
//! Probes write each connection's item and log an event when it changes;
//! every replica follows the log ([`bus`]) into an in-memory [`cache`] that
//! reads are served from, and fans events out to watch streams.

pub mod bus;
pub mod cache;
pub mod circuit;
pub mod envelopes;
pub mod events;
mod grpc;
pub mod items;
pub mod model;
mod probe;
pub mod prober;
pub mod proto;
mod service;
pub mod watch;

pub use grpc::StatusGrpc;
pub use service::{RefreshTarget, Refreshed, StatusBoard};
