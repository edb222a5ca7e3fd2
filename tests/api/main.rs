//! Integration tests: the real server on ephemeral ports against a real
//! PostgreSQL, one fresh database per test. One binary, so the build and the
//! shared PostgreSQL happen once.

mod action_effects;
mod action_leases;
mod action_requests;
mod action_retries;
mod action_sync;
mod actions;
mod adapters;
mod adapters_crm_http;
mod auth;
mod binary;
mod bridge;
mod catalog;
mod catalog_registration;
mod connection_updates;
mod connections;
mod credentials;
mod database;
mod fakes;
mod health;
mod helpers;
mod logged_server;
mod migrations;
mod oauth;
mod probe_actions;
mod probes;
mod rate_limits;
mod reflection;
mod roles;
mod secrets;
mod secrets_on_failure;
mod status;
mod status_hash;
mod status_outage;
mod template_lifecycle;
mod templates;
mod undecodable;
mod watch;
mod webhook_batches;
mod webhook_dedupe;
mod webhook_outage;
mod webhook_processing;
mod webhook_secrets;
mod webhook_signing;
mod webhooks;
