//! Automations: when an event arrives, run the right actions, once.
//!
//! - `model.rs`: automations (a draft and published versions), events and
//!   runs; `expr.rs`: the filter language of triggers and conditions.
pub mod expr;
pub mod model;
