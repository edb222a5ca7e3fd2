//! GetServiceHealth: each component measured now, HEALTHY, DEGRADED or
//! UNHEALTHY with what was found. A component whose figures cannot be
//! read (the database is away) is UNHEALTHY, never left out.

use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

use crate::{
    status::bus::EventBus,
    store::{self, StoreError, migrate, vitals},
};

/// How long one component's check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A database round trip slower than this is DEGRADED.
const SLOW_DATABASE: Duration = Duration::from_millis(250);
/// Events the follower may be behind the log's head before it is DEGRADED.
const EVENT_LAG: i64 = 1000;
/// A pending action older than this means the workers are not keeping up.
const STUCK_ACTION: Duration = Duration::from_secs(60);
/// Unprocessed deliveries beyond this are a backlog.
const WEBHOOK_BACKLOG: i64 = 1000;
/// A replica whose heartbeat is older than this is gone.
const REPLICA_ALIVE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthState {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub state: HealthState,
    pub detail: String,
    pub latency: Option<Duration>,
}

impl Component {
    fn new(name: impl Into<String>, state: HealthState, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            state,
            detail: detail.into(),
            latency: None,
        }
    }

    fn unreadable(name: &str, error: &StoreError) -> Self {
        tracing::warn!(component = name, error = %crate::error::ErrorChain(error), "health check failed");
        Self::new(
            name,
            HealthState::Unhealthy,
            "could not be read: the database did not answer",
        )
    }
}

/// Every component, in a fixed order, and the worst state among them.
pub async fn check(pool: &Pool, bus: &EventBus) -> (Vec<Component>, HealthState) {
    let mut components = vec![database(pool).await];
    let reachable = components[0].state != HealthState::Unhealthy;
    let figures = async {
        let client = pool.get().await?;
        let applied = migrate::applied_version(&client).await?;
        let head = store::status::bounds(&client).await?.1;
        let queue = vitals::action_queue(&client).await?;
        let backlog = vitals::webhook_backlog(&client).await?;
        let circuits = vitals::circuits_by_provider(&client).await?;
        let replicas = vitals::live_replicas(&client, REPLICA_ALIVE).await?;
        Ok::<_, StoreError>((applied, head, queue, backlog, circuits, replicas))
    };
    let unanswered = || StoreError::Unavailable("the database did not answer in time".into());
    let figures = if reachable {
        tokio::time::timeout(CHECK_TIMEOUT, figures)
            .await
            .unwrap_or_else(|_| Err(unanswered()))
    } else {
        Err(unanswered())
    };
    match figures {
        Ok((applied, head, queue, backlog, circuits, replicas)) => {
            components.push(migrations(applied));
            components.push(event_log(bus, head));
            components.push(action_queue(&queue));
            components.push(webhook_backlog(&backlog));
            components.extend(circuits.iter().map(provider_circuits));
            components.push(live_replicas(replicas));
        }
        Err(e) => {
            for name in [
                "migrations",
                "event_log",
                "action_queue",
                "webhook_backlog",
                "replicas",
            ] {
                components.push(Component::unreadable(name, &e));
            }
        }
    }
    let overall = components
        .iter()
        .map(|c| c.state)
        .max()
        .unwrap_or(HealthState::Healthy);
    (components, overall)
}

async fn database(pool: &Pool) -> Component {
    let started = Instant::now();
    let ping = tokio::time::timeout(CHECK_TIMEOUT, store::ping(pool)).await;
    let latency = started.elapsed();
    let mut component = match ping {
        Ok(Ok(_)) if latency > SLOW_DATABASE => Component::new(
            "database",
            HealthState::Degraded,
            format!("slow: a round trip took {} ms", latency.as_millis()),
        ),
        Ok(Ok(_)) => Component::new(
            "database",
            HealthState::Healthy,
            format!("a round trip took {} ms", latency.as_millis()),
        ),
        Ok(Err(e)) => Component::unreadable("database", &e),
        Err(_) => Component::new(
            "database",
            HealthState::Unhealthy,
            format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
        ),
    };
    component.latency = Some(latency);
    component
}

fn migrations(applied: Option<i64>) -> Component {
    let known = migrate::latest_version();
    match applied {
        Some(v) if v == known => Component::new(
            "migrations",
            HealthState::Healthy,
            format!("schema version {v}, as this binary expects"),
        ),
        Some(v) if v > known => Component::new(
            "migrations",
            HealthState::Degraded,
            format!(
                "schema version {v} is newer than this binary's {known}: a newer replica migrated; upgrade this one"
            ),
        ),
        Some(v) => Component::new(
            "migrations",
            HealthState::Unhealthy,
            format!("schema version {v}, this binary needs {known}: run `patchbay migrate`"),
        ),
        None => Component::new(
            "migrations",
            HealthState::Unhealthy,
            format!("no migrations applied; this binary needs {known}: run `patchbay migrate`"),
        ),
    }
}

fn event_log(bus: &EventBus, head: i64) -> Component {
    let read = bus.cache().head();
    let lag = (head - read).max(0);
    if !bus.following() {
        return Component::new(
            "event_log",
            HealthState::Unhealthy,
            format!("not following the log ({lag} events behind); status reads may be stale"),
        );
    }
    let state = if lag > EVENT_LAG {
        HealthState::Degraded
    } else {
        HealthState::Healthy
    };
    Component::new(
        "event_log",
        state,
        format!("following; {lag} events behind the head ({head})"),
    )
}

fn action_queue(queue: &vitals::ActionQueue) -> Component {
    let oldest = queue.oldest_pending.unwrap_or_default();
    let state = if oldest > STUCK_ACTION {
        HealthState::Degraded
    } else {
        HealthState::Healthy
    };
    let age = match queue.oldest_pending {
        Some(age) => format!("; the oldest has waited {} s", age.as_secs()),
        None => String::new(),
    };
    Component::new(
        "action_queue",
        state,
        format!("{} pending, {} running{age}", queue.pending, queue.running),
    )
}

fn webhook_backlog(backlog: &vitals::WebhookBacklog) -> Component {
    let state = if backlog.dead_letters > 0 || backlog.unprocessed > WEBHOOK_BACKLOG {
        HealthState::Degraded
    } else {
        HealthState::Healthy
    };
    Component::new(
        "webhook_backlog",
        state,
        format!(
            "{} waiting, {} retrying, {} dead letters",
            backlog.unprocessed, backlog.retrying, backlog.dead_letters
        ),
    )
}

fn provider_circuits(circuits: &vitals::ProviderCircuits) -> Component {
    let state = if circuits.open > 0 || circuits.half_open > 0 {
        HealthState::Degraded
    } else {
        HealthState::Healthy
    };
    Component::new(
        format!("provider/{}", circuits.provider),
        state,
        format!(
            "{} of {} circuits open, {} half-open",
            circuits.open, circuits.connections, circuits.half_open
        ),
    )
}

fn live_replicas(count: i64) -> Component {
    let state = if count > 0 {
        HealthState::Healthy
    } else {
        HealthState::Unhealthy
    };
    Component::new(
        "replicas",
        state,
        format!(
            "{count} live (heartbeat within {} s)",
            REPLICA_ALIVE.as_secs()
        ),
    )
}
