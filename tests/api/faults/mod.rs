//! The fault suite: the real binary under kill -9, a PostgreSQL outage,
//! several replicas and SIGTERM, checking the promises DESIGN makes (an
//! acknowledged webhook is never lost, an action runs once, a watcher sees
//! every event). `cargo test --test api faults::` runs it alone.

mod effects;
mod kill9;
mod load;
mod outage;
pub mod replica;
mod replicas;
mod sigterm;
