//! `GET /metrics`: the gauges read from the database and the bus are
//! brought up to date, then the registry is written in Prometheus text
//! format. A database that does not answer leaves those gauges as they
//! were, and the scrape still answers.

use std::time::Duration;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::get,
};
use deadpool_postgres::Pool;
use prometheus_client::encoding::prometheus_text;

use super::{CircuitLabels, Families, Metrics, StateLabel};
use crate::{
    status::bus::EventBus,
    store::{self, StoreError, vitals},
};

/// How long a scrape waits for the database's figures.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Scrape {
    metrics: Metrics,
    pool: Pool,
    bus: EventBus,
}

pub fn router(metrics: Metrics, pool: Pool, bus: EventBus) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { metrics, pool, bus })
}

async fn scrape(State(s): State<Scrape>) -> Response {
    let Some(families) = s.metrics.families() else {
        return (StatusCode::NOT_FOUND, "metrics are turned off\n").into_response();
    };
    read_pool(families, &s.pool);
    let head = match tokio::time::timeout(DATABASE_WAIT, read_database(families, &s.pool)).await {
        Ok(Ok(head)) => Some(head),
        Ok(Err(e)) => {
            tracing::debug!(error = %crate::error::ErrorChain(&e), "metrics: the database's figures are unavailable");
            None
        }
        Err(_) => None,
    };
    if let Some(head) = head {
        families
            .event_log_lag
            .set((head - s.bus.cache().head()).max(0));
    }
    families
        .event_log_following
        .set(i64::from(s.bus.following()));
    let mut body = String::new();
    if let Err(e) = prometheus_text::encode(&mut body, &families.registry) {
        tracing::error!(error = %e, "metrics: encoding failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], body).into_response()
}

fn read_pool(families: &Families, pool: &Pool) {
    let status = pool.status();
    let gauge = |state| {
        families
            .pool_connections
            .get_or_create(&StateLabel { state })
    };
    let in_use = status.size.saturating_sub(status.available);
    gauge("in_use").set(to_i64(in_use));
    gauge("idle").set(to_i64(status.available));
    gauge("max").set(to_i64(status.max_size));
    families.pool_waiting.set(to_i64(status.waiting));
}

/// Sets the fleet-wide gauges; returns the event log's head.
async fn read_database(families: &Families, pool: &Pool) -> Result<i64, StoreError> {
    let client = pool.get().await?;
    let queue = vitals::action_queue(&client).await?;
    let backlog = vitals::webhook_backlog(&client).await?;
    let circuits = vitals::circuits_by_provider(&client).await?;
    let (_, head) = store::status::bounds(&client).await?;
    let set = |family: &prometheus_client::metrics::family::Family<StateLabel, _>, state, n| {
        let gauge: &prometheus_client::metrics::gauge::Gauge =
            &family.get_or_create(&StateLabel { state });
        gauge.set(n);
    };
    set(&families.action_queue, "pending", queue.pending);
    set(&families.action_queue, "running", queue.running);
    set(
        &families.webhook_backlog,
        "unprocessed",
        backlog.unprocessed,
    );
    set(&families.webhook_backlog, "retrying", backlog.retrying);
    set(
        &families.webhook_backlog,
        "dead_letter",
        backlog.dead_letters,
    );
    // A provider whose last connection went away disappears.
    families.circuits.clear();
    for p in circuits {
        for (state, n) in [
            ("closed", p.connections - p.open - p.half_open),
            ("open", p.open),
            ("half_open", p.half_open),
        ] {
            families
                .circuits
                .get_or_create(&CircuitLabels {
                    provider: p.provider.clone(),
                    state,
                })
                .set(n);
        }
    }
    Ok(head)
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
