//! The second step: the background work every replica runs, each loop
//! stopping when the shutdown token is cancelled.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::{
    ServerConfig,
    build::{Jobs, Services},
};
use crate::status::bus::BusOptions;

/// How often the catalog snapshot is read again.
const CATALOG_REFRESH: Duration = Duration::from_secs(5);

/// The running background loops.
pub(super) struct Background {
    /// The health monitor: awaited first at shutdown, so health says
    /// NOT_SERVING before anything else stops.
    pub monitor: JoinHandle<()>,
    pub loops: Vec<JoinHandle<()>>,
}

pub(super) fn spawn(services: &Services, jobs: Jobs, config: &ServerConfig) -> Background {
    let token = &services.token;
    let monitor = tokio::spawn(services.monitor.clone().run(token.clone()));
    let loops = vec![
        tokio::spawn(jobs.bus.run(
            config.database.clone(),
            BusOptions {
                backstop: config.status.event_backstop,
                retention: config.status.event_retention,
            },
            token.clone(),
        )),
        tokio::spawn(
            jobs.catalog
                .run(services.pool.clone(), CATALOG_REFRESH, token.clone()),
        ),
        tokio::spawn(jobs.prober.run(token.clone())),
        tokio::spawn(jobs.processor.run(token.clone())),
        tokio::spawn(jobs.workers.run(token.clone())),
        tokio::spawn(jobs.refusals.run(
            services.pool.clone(),
            config.webhooks.refusal_flush,
            token.clone(),
        )),
        tokio::spawn(jobs.cleanup.run(token.clone())),
        tokio::spawn(jobs.dispatcher.run(token.clone())),
        tokio::spawn(jobs.announcer.run(token.clone())),
        tokio::spawn(jobs.executor.run(token.clone())),
    ];
    Background { monitor, loops }
}
