//! Patchbay: the integrations control plane.
//!
//! A map for newcomers, from the edge inwards (docs/architecture.md walks
//! two requests through it):
//!
//! - [`commands`] implements `serve`, `migrate`, `token` and `rotate-keys`,
//!   and [`doctor`] the report a person reads; [`config`] holds their flags
//!   (with `PATCHBAY_*` environment fallbacks).
//! - [`app`] runs a server in four steps on listeners it is given: build
//!   the services, spawn the background work, serve, drain at shutdown.
//! - [`grpc`] builds the gRPC server: our services behind authentication
//!   and request rate limits ([`rate_limit`], shared with the bridge),
//!   health and reflection open, gRPC-Web with CORS for the browser
//!   origins allowed, undecodable requests answered as the client's errors,
//!   each failed RPC logged at the level its code deserves and measured; [`coalesced_writes`] sends what one turn of HTTP/2 produces
//!   in one write. [`bridge`] is the HTTP side: `/healthz`, `/readyz` and
//!   the webhook route; [`health`] feeds `grpc.health.v1`.
//! - [`audit`] writes every change's entry, in the change's transaction, on
//!   its project's hash chain, verifies the chain and purges its oldest
//!   entries without breaking it; [`retention`] runs that cleanup daily on
//!   one replica, under a lease.
//! - [`auth`] turns a bearer JWT into a typed [`auth::Caller`], once per
//!   request, before the rate limits that key on it.
//! - The services, each a folder with its rules, a `grpc.rs` that only
//!   translates and its proto conversions (`proto.rs` or `proto/`):
//!   [`registry`] (the catalog, connections and their credentials, mapping
//!   templates; its domain types in `registry::model`, the one owner of a
//!   connection's state in `registry/transitions.rs`), [`status`] (the
//!   probes, one per connection at a time cluster-wide, the event log
//!   follower, reads from memory and watches), [`actions`] (the queue, its
//!   workers and their effects), [`diagnostics`], [`alerts`] (rules
//!   evaluated as probes, actions and deliveries are recorded, alerts that
//!   fire and resolve once, and the channels that hear of them) and
//!   [`automations`] (deliveries matched to triggers, runs that start
//!   actions exactly once, their guards, dry runs and replays).
//! - [`webhooks`] verifies, stores and processes inbound deliveries, scheme
//!   by scheme.
//! - [`providers`]: one file per third-party service behind one trait (its
//!   probe, actions, sync pages, webhook meaning and revocation quirks) and
//!   the one list that registers them. Nothing else knows a provider.
//! - [`store`] owns PostgreSQL: the pool, migrations, the embedded server
//!   for tests and local runs, and all SQL, one file per table family. It
//!   imports domain types only, never a service's rules.
//! - [`error`] is the one error type clients see, mapped in one table to
//!   gRPC codes with google.rpc details and to HTTP statuses.
//! - [`crypto`] seals secrets at rest under rotating keys; [`secret`] is
//!   the wrapper that keeps them out of logs; [`secret_file`] keeps
//!   generated local secrets in the data directory.
//! - [`names`] parses resource names at the edge; [`paging`],
//!   [`list_filter`], [`field_mask`], [`etag`] and [`idempotency`] are the
//!   AIP conventions every service shares; [`backoff`] is the retry delay
//!   webhooks and actions share.
//! - [`proto`] is the generated code, the hand-encoded status envelope and
//!   their JSON and time conversions; [`telemetry`] sets up logging.

pub mod actions;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod automations;
pub mod backoff;
pub mod bridge;
pub mod coalesced_writes;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod diagnostics;
pub mod doctor;
pub mod error;
pub mod etag;
pub mod field_mask;
pub mod grpc;
pub mod health;
pub mod idempotency;
pub mod list_filter;
pub mod metrics;
pub mod names;
pub mod paging;
pub mod proto;
pub mod providers;
pub mod rate_limit;
pub mod registry;
pub mod retention;
pub mod secret;
pub mod secret_file;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod watcher;
pub mod webhooks;
