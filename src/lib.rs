//! Patchbay: the integrations control plane.
//!
//! A map for newcomers:
//!
//! - [`app`] builds the shared state and runs the gRPC server and the HTTP
//!   bridge on the listeners it is given, until shutdown; [`grpc`] builds
//!   the gRPC server: our services behind authentication and request rate
//!   limits ([`rate_limit`], shared with the bridge), health and reflection
//!   open, undecodable requests answered as the client's errors, and each
//!   failed RPC logged at the level its code deserves.
//! - [`commands`] implements `serve`, `migrate` and `token`; [`config`] holds
//!   the flags (with `PATCHBAY_*` environment fallbacks) they take.
//! - [`providers`]: one file per third-party service behind one trait
//!   (its probe, actions, sync pages, webhook meaning and revocation
//!   quirks), and the one list that registers them.
//! - [`auth`] turns a bearer JWT into a typed [`auth::Caller`], once per
//!   request, before the rate limits that key on it.
//! - [`error`] is the one error type clients see, mapped to gRPC codes with
//!   google.rpc details and to HTTP statuses.
//! - [`store`] owns PostgreSQL: the pool, migrations, the embedded server and
//!   all SQL.
//! - [`registry`], [`status`], [`actions`], [`diagnostics`]: one module per
//!   service, each with a `grpc.rs` that only translates. [`status`] also
//!   runs the probes (one per connection at a time, cluster-wide), the
//!   event log follower and the watch streams.
//! - [`bridge`] is the HTTP side; [`health`] feeds `grpc.health.v1` and
//!   `/readyz`; [`coalesced_writes`] lets each gRPC connection send what
//!   one turn of HTTP/2 produces in one write.
//! - [`crypto`] seals secrets at rest under rotating keys; [`secret_file`]
//!   keeps generated local secrets in the data directory.
//! - [`names`] parses resource names at the edge; [`paging`], [`list_filter`],
//!   [`field_mask`], [`etag`] and [`idempotency`] are the AIP conventions
//!   every service shares.
//! - [`webhooks`] verifies inbound webhook signatures, scheme by scheme.
//! - [`proto`] is the generated code and its JSON/time conversions;
//!   [`telemetry`] sets up logging.

pub mod actions;
pub mod app;
pub mod auth;
pub mod backoff;
pub mod bridge;
pub mod coalesced_writes;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod diagnostics;
pub mod error;
pub mod etag;
pub mod field_mask;
pub mod grpc;
pub mod health;
pub mod idempotency;
pub mod list_filter;
pub mod names;
pub mod paging;
pub mod proto;
pub mod providers;
pub mod rate_limit;
pub mod registry;
pub mod secret;
pub mod secret_file;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod webhooks;
