//! Patchbay: the integrations control plane.
//!
//! A map for newcomers:
//!
//! - [`app`] builds the shared state and runs the gRPC server and the HTTP
//!   bridge on the listeners it is given, until shutdown.
//! - [`commands`] implements `serve`, `migrate` and `token`; [`config`] holds
//!   the flags (with `PATCHBAY_*` environment fallbacks) they take.
//! - [`auth`] turns a bearer JWT into a typed [`auth::Caller`].
//! - [`error`] is the one error type clients see, mapped to gRPC codes with
//!   google.rpc details and to HTTP statuses.
//! - [`store`] owns PostgreSQL: the pool, migrations, the embedded server and
//!   all SQL.
//! - [`registry`], [`status`], [`actions`], [`diagnostics`]: one module per
//!   service, each with a `grpc.rs` that only translates.
//! - [`bridge`] is the HTTP side; [`health`] feeds `grpc.health.v1` and
//!   `/readyz`.
//! - [`names`] parses resource names at the edge; [`proto`] is the generated
//!   code; [`telemetry`] sets up logging.

pub mod actions;
pub mod app;
pub mod auth;
pub mod bridge;
pub mod commands;
pub mod config;
pub mod diagnostics;
pub mod error;
pub mod health;
pub mod names;
pub mod proto;
pub mod registry;
pub mod status;
pub mod store;
pub mod telemetry;
