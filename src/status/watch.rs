//! WatchProjectStatus, on the Kubernetes and etcd watch contracts: a
//! snapshot then `snapshot_end`, or a replay from `resume_from`; then live
//! events, heartbeats carrying the head, and a catch-up from the log when a
//! slow consumer falls behind. No event is lost or sent twice.

use std::{collections::VecDeque, pin::Pin, sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use futures_util::{Stream, stream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::{
    bus::{BusEvent, EventBus},
    events::{EventPayload, StoredEvent},
    proto,
};
use crate::{
    auth::Role,
    error::{ApiError, ErrorCode},
    metrics::{Metrics, WatchGuard},
    names::{ProjectId, TypeId},
    proto::v1 as pb,
    registry::catalog_snapshot::CatalogSnapshot,
    store,
};

/// Events read per query while catching up.
const CATCH_UP_PAGE: i64 = 500;
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

pub type UpdateStream = Pin<Box<dyn Stream<Item = Result<pb::StatusUpdate, tonic::Status>> + Send>>;

/// What every watch shares.
#[derive(Clone)]
pub struct Watches {
    pub bus: EventBus,
    pub pool: Pool,
    pub catalog: CatalogSnapshot,
    /// Cancelled at shutdown: streams end with UNAVAILABLE.
    pub shutdown: CancellationToken,
    pub metrics: Metrics,
}

pub struct WatchParams {
    pub project: ProjectId,
    pub role: Role,
    pub resume_from: Option<i64>,
    pub heartbeat: Duration,
    pub include_types: Vec<TypeId>,
}

struct State {
    watches: Watches,
    params: WatchParams,
    rx: broadcast::Receiver<Arc<BusEvent>>,
    queue: VecDeque<pb::StatusUpdate>,
    /// Every event at or below this was delivered (or is not this project's).
    cursor: i64,
    /// Reading the log rather than the live feed.
    catching_up: bool,
    heartbeat: tokio::time::Interval,
    done: bool,
    /// Counts the stream as open until it is dropped.
    _open: WatchGuard,
}

fn expired(oldest: i64) -> ApiError {
    ApiError::new(
        ErrorCode::OutOfRange,
        "RESUME_POSITION_EXPIRED",
        "the resume position is older than the retained event log; watch again without resume_from",
    )
    .with_metadata("oldest_seq", oldest.to_string())
}

fn update(seq: i64, event: pb::status_update::Event) -> pb::StatusUpdate {
    pb::StatusUpdate {
        seq,
        event: Some(event),
    }
}

impl Watches {
    pub async fn open(&self, params: WatchParams) -> Result<UpdateStream, ApiError> {
        // Subscribe first: nothing after the snapshot can slip past.
        let rx = self.bus.subscribe(&params.project);
        let mut queue = VecDeque::new();
        let (cursor, catching_up) = match params.resume_from {
            None => {
                // The snapshot includes every write committed before the watch.
                let (status, head) = self.bus.caught_up().await.project(&params.project);
                let envelope = proto::envelope(
                    &params.project,
                    &status,
                    head,
                    params.role,
                    &params.include_types,
                    &self.catalog,
                    "",
                );
                queue.push_back(update(head, pb::status_update::Event::Snapshot(envelope)));
                queue.push_back(update(
                    head,
                    pb::status_update::Event::SnapshotEnd(pb::SnapshotEnd {}),
                ));
                (head, false)
            }
            Some(from) => {
                let client = self.pool.get().await.map_err(store::StoreError::from)?;
                let (oldest, _) = store::status::bounds(&client).await?;
                if let Some(oldest) = oldest
                    && from < oldest - 1
                {
                    return Err(expired(oldest));
                }
                (from, true)
            }
        };
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + params.heartbeat,
            params.heartbeat,
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let state = State {
            watches: self.clone(),
            params,
            rx,
            queue,
            cursor,
            catching_up,
            heartbeat,
            done: false,
            _open: self.metrics.watch_opened(),
        };
        Ok(Box::pin(stream::unfold(state, next)))
    }
}

async fn next(mut s: State) -> Option<(Result<pb::StatusUpdate, tonic::Status>, State)> {
    loop {
        if let Some(update) = s.queue.pop_front() {
            return Some((Ok(update), s));
        }
        if s.done {
            return None;
        }
        if s.catching_up {
            match catch_up(&mut s).await {
                Ok(()) => continue,
                Err(e) => {
                    s.done = true;
                    return Some((Err(e.into()), s));
                }
            }
        }
        tokio::select! {
            () = s.watches.shutdown.cancelled() => {
                s.done = true;
                return Some((Err(tonic::Status::unavailable("the server is shutting down; watch again with resume_from")), s));
            }
            _ = s.heartbeat.tick() => {
                // Read the published head first, then drain: every event of
                // ours up to it is then delivered before the heartbeat says so.
                let published = s.watches.bus.published();
                loop {
                    match s.rx.try_recv() {
                        Ok(bus_event) => receive(&mut s, &bus_event),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            s.catching_up = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if !s.catching_up {
                    s.cursor = s.cursor.max(published);
                    let seq = s.cursor;
                    s.queue.push_back(update(seq, pb::status_update::Event::Heartbeat(pb::Heartbeat {})));
                }
            }
            received = s.rx.recv() => match received {
                Ok(bus_event) => receive(&mut s, &bus_event),
                // Fell behind the live feed: read the log from the cursor.
                Err(RecvError::Lagged(_)) => s.catching_up = true,
                Err(RecvError::Closed) => s.done = true,
            },
        }
    }
}

/// Queues one live event unless the log already delivered it.
fn receive(s: &mut State, bus_event: &BusEvent) {
    let event = &bus_event.event;
    if event.seq > s.cursor {
        s.cursor = event.seq;
        let converted = convert(s, event);
        s.queue.push_back(converted);
    }
}

/// Reads one page of this project's events after the cursor; switches back
/// to the live feed when the log has nothing newer.
async fn catch_up(s: &mut State) -> Result<(), ApiError> {
    let client = s
        .watches
        .pool
        .get()
        .await
        .map_err(store::StoreError::from)?;
    // Bounds first: every event up to `head` is committed, so an empty page
    // below means none of them is this project's.
    let (oldest, head) = store::status::bounds(&client).await?;
    let page =
        store::status::events_after(&client, Some(&s.params.project), s.cursor, CATCH_UP_PAGE)
            .await?;
    if let Some(oldest) = oldest
        && s.cursor < oldest - 1
    {
        return Err(expired(oldest));
    }
    if page.is_empty() {
        // Events of other projects up to the head are behind us too.
        s.cursor = s.cursor.max(head);
        s.catching_up = false;
        return Ok(());
    }
    for event in &page {
        s.cursor = event.seq;
        let converted = convert(s, event);
        s.queue.push_back(converted);
    }
    Ok(())
}

fn convert(s: &State, event: &StoredEvent) -> pb::StatusUpdate {
    use pb::status_update::Event;
    let role = s.params.role;
    let catalog = &s.watches.catalog;
    let body = match &event.payload {
        EventPayload::ItemChanged {
            item,
            overall,
            hash,
        } => Event::ItemChanged(pb::ItemChanged {
            item: Some(proto::item(item, role, catalog)),
            overall: proto::level(*overall).into(),
            hash: hash.clone(),
        }),
        EventPayload::ItemRemoved {
            connection,
            overall,
            hash,
        } => Event::ItemRemoved(pb::ItemRemoved {
            connection: connection.to_string(),
            overall: proto::level(*overall).into(),
            hash: hash.clone(),
        }),
        EventPayload::ActionProgress {
            action,
            connection,
            state,
            percent,
            message,
        } => Event::ActionProgress(pb::ActionProgress {
            action: action.clone(),
            connection: connection.clone(),
            state: pb::ActionState::from(*state).into(),
            percent: *percent,
            message: message.clone(),
        }),
        EventPayload::WebhookReceived {
            connection,
            delivery,
            event_type,
            receive_time,
        } => Event::WebhookReceived(pb::WebhookReceived {
            connection: connection.clone(),
            delivery: delivery.clone(),
            event_type: event_type.clone(),
            receive_time: Some(crate::proto::time::timestamp(*receive_time)),
        }),
        EventPayload::AlertChanged { alert } => Event::Alert(pb::AlertEvent {
            alert: Some(crate::alerts::alert_proto(alert)),
        }),
        EventPayload::RunChanged {
            run,
            state,
            step,
            message,
        } => Event::Run(pb::RunEvent {
            run: run.clone(),
            state: crate::automations::run_state_to_proto(*state).into(),
            step: *step,
            message: message.clone(),
        }),
    };
    update(event.seq, body)
}
