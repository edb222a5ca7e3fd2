//! Runs freed to start: the buffered one when the active run ends, and held
//! ones as their automation's rate limit allows.

use chrono::{DateTime, Duration as Span, Utc};
use deadpool_postgres::GenericClient;

use super::{event, overlap, runs_per_minute};
use crate::{
    automations::model::{LogEntry, Run, RunState, Version},
    status::events::EventPayload,
    store::{self, StoreError, automation_runs::Write},
};

/// After a run of `version`'s automation ended: the buffered run, if any,
/// starts now.
pub async fn promote_buffered(
    client: &impl GenericClient,
    automation: &crate::names::AutomationName,
) -> Result<Vec<EventPayload>, StoreError> {
    let waiting = [
        RunState::Pending,
        RunState::Running,
        RunState::Waiting,
        RunState::Buffered,
    ];
    let others = store::automation_runs::in_states(client, automation, &waiting).await?;
    if others.iter().any(|r| r.state.is_active()) {
        return Ok(Vec::new());
    }
    let Some(next) = others.into_iter().find(|r| r.state == RunState::Buffered) else {
        return Ok(Vec::new());
    };
    let mut next = next;
    next.state = RunState::Pending;
    next.log
        .push(LogEntry::now(-1, "starting: the run before it ended"));
    store::automation_runs::write(
        client,
        &Write {
            run: &next,
            next_at: Utc::now(),
            awaiting: None,
            admit: true,
        },
    )
    .await?;
    Ok(vec![event(&next, "starting: the run before it ended")])
}

/// What releasing held runs did.
#[derive(Default)]
pub struct Released {
    pub events: Vec<EventPayload>,
    /// The connections whose events the released runs started from.
    pub connections: std::collections::BTreeSet<crate::names::ConnectionName>,
}

/// Lets `automation`'s held runs through as its rate limit allows now,
/// oldest first, each past the overlap policy.
pub async fn release_held(
    client: &impl GenericClient,
    version: &Version,
) -> Result<Released, StoreError> {
    let automation = &version.automation;
    let held = store::automation_runs::in_states(client, automation, &[RunState::Held]).await?;
    let mut released = Released::default();
    for mut run in held {
        let (recent, oldest) =
            store::automation_runs::admitted_last_minute(client, automation).await?;
        if recent >= runs_per_minute(version) {
            // Still full: look again when the oldest start leaves the minute.
            let next_at = oldest.map_or_else(Utc::now, |t| t + Span::minutes(1));
            postpone(client, &run, next_at).await?;
            continue;
        }
        run.state = RunState::Pending;
        run.reason.clear();
        run.log
            .push(LogEntry::now(-1, "released: the rate limit allows it now"));
        released.connections.insert(run.event.connection.clone());
        let admitted = overlap(client, &mut run, version, &mut released.events).await?;
        store::automation_runs::write(
            client,
            &Write {
                run: &run,
                next_at: Utc::now(),
                awaiting: None,
                admit: admitted,
            },
        )
        .await?;
        let said = run
            .log
            .last()
            .map(|l| l.message.clone())
            .unwrap_or_default();
        released.events.push(event(&run, &said));
    }
    Ok(released)
}

async fn postpone(
    client: &impl GenericClient,
    run: &Run,
    next_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    store::automation_runs::write(
        client,
        &Write {
            run,
            next_at,
            awaiting: None,
            admit: false,
        },
    )
    .await
}
