//! AlertService: rules that decide when an integration's trouble becomes an
//! alert (`rules.rs`, with three defaults per project in `defaults.rs`),
//! evaluated as probes, actions and deliveries are recorded
//! (`evaluator.rs`), and the channels that hear of it, fed by an outbox
//! any replica delivers (`dispatch.rs`); alert changes reach the watch
//! stream through `announcer.rs`.

pub mod alert;
mod alert_log;
mod alert_proto;
pub mod announcer;
pub mod audit_trail;
mod channel_proto;
mod channels;
pub mod condition;
pub mod defaults;
pub mod delivery;
pub mod dispatch;
pub mod evaluator;
mod grpc;
mod lifecycle;
pub mod model;
pub mod notification;
pub mod observation;
pub mod outbound;
mod payload;
mod proto;
mod public_dns;
mod rules;

pub use alert_log::AlertLog;
pub use alert_proto::alert as alert_proto;
pub use channels::{Channels, seal_context as channel_seal_context};
pub use evaluator::Alerting;
pub use grpc::AlertsGrpc;
pub use rules::AlertRules;
