//! Follows the event log and fans it out: one LISTEN connection per process
//! wakes the follower (notifications coalesce: a wake-up reads everything
//! new), a polling backstop covers lost notifications, and each event is
//! folded into the [`StatusCache`] before watchers see it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use deadpool_postgres::Pool;
use futures_util::{StreamExt as _, stream};
use tokio::sync::{Notify, broadcast};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::{
    cache::{ProjectStatus, StatusCache},
    events::StoredEvent,
};
use crate::{
    names::ProjectId,
    store::{self, StoreError},
};

/// Events read per query while following.
const PAGE: i64 = 1000;

/// One event as watchers receive it: with the project's status after it
/// (for item events), so every watcher renders the same state.
#[derive(Debug)]
pub struct BusEvent {
    pub event: StoredEvent,
    pub status: Option<Arc<ProjectStatus>>,
}

#[derive(Clone)]
pub struct EventBus {
    pool: Pool,
    cache: StatusCache,
    /// One channel per watched project, so a watcher wakes only for its own
    /// project's events.
    channels: Arc<Mutex<HashMap<ProjectId, broadcast::Sender<Arc<BusEvent>>>>>,
    capacity: usize,
    /// Every event up to this seq has been sent to its channel.
    published: Arc<AtomicI64>,
    wake: Arc<Notify>,
    /// Whether the last read of the log worked: while it fails, reads are
    /// served from memory and say they may be stale.
    following: Arc<AtomicBool>,
}

pub struct BusOptions {
    /// How often the log is read even without a notification.
    pub backstop: Duration,
    /// How long events are kept for resuming watchers.
    pub retention: Duration,
}

impl EventBus {
    pub fn new(pool: Pool, cache: StatusCache, capacity: usize) -> Self {
        Self {
            pool,
            cache,
            channels: Arc::default(),
            capacity: capacity.max(1),
            published: Arc::default(),
            wake: Arc::new(Notify::new()),
            following: Arc::default(),
        }
    }

    /// False while this replica cannot read the event log (or has not yet).
    pub fn following(&self) -> bool {
        self.following.load(Ordering::Acquire)
    }

    /// The live feed of one project's events.
    pub fn subscribe(&self, project: &ProjectId) -> broadcast::Receiver<Arc<BusEvent>> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        channels
            .entry(project.clone())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Every event up to the returned seq has reached its project's channel.
    pub fn published(&self) -> i64 {
        self.published.load(Ordering::Acquire)
    }

    pub fn cache(&self) -> &StatusCache {
        &self.cache
    }

    /// Reads the log now (after a local write, say) instead of waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The cache once it has folded in everything logged so far (waiting at
    /// most a second or two; a read after a write sees the write).
    pub async fn caught_up(&self) -> &StatusCache {
        let head = async {
            let client = self.pool.get().await?;
            Ok::<_, StoreError>(store::status::bounds(&client).await?.1)
        }
        .await;
        if let Ok(head) = head {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while self.cache.head() < head && tokio::time::Instant::now() < deadline {
                self.wake();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        &self.cache
    }

    /// Loads the cache, then follows the log until `token` is cancelled.
    pub async fn run(
        self,
        database: tokio_postgres::Config,
        options: BusOptions,
        token: CancellationToken,
    ) {
        let pool = self.pool.clone();
        let listener = tokio::spawn(listen(database, self.wake.clone(), token.clone()));
        let mut loaded = self.cache.is_loaded();
        let mut backstop = tokio::time::interval(options.backstop);
        backstop.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purge = tokio::time::interval(Duration::from_secs(60));
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = if loaded {
                self.follow(&pool).await
            } else {
                self.load().await
            };
            match result {
                Ok(()) => {
                    loaded = true;
                    if !self.following.swap(true, Ordering::AcqRel) {
                        tracing::info!("following the event log");
                    }
                }
                Err(e) => {
                    self.following.store(false, Ordering::Release);
                    tracing::warn!(error = %crate::error::ErrorChain(&e), "reading the event log failed; serving status from memory, marked stale");
                }
            }
            tokio::select! {
                () = token.cancelled() => break,
                () = self.wake.notified() => {}
                _ = backstop.tick() => {}
                _ = purge.tick() => self.purge(&pool, options.retention).await,
            }
        }
        listener.abort();
    }

    /// Replaces the cache with the database's current state.
    pub async fn load(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let (items, head) = store::status::load_all(&mut client).await?;
        tracing::debug!(items = items.len(), head, "status cache loaded");
        self.cache.reset(items, head);
        self.published.store(head, Ordering::Release);
        self.following.store(true, Ordering::Release);
        Ok(())
    }

    /// Folds in and publishes every event after the cache's head.
    async fn follow(&self, pool: &Pool) -> Result<(), StoreError> {
        let client = pool.get().await?;
        loop {
            let events =
                store::status::events_after(&client, None, self.cache.head(), PAGE).await?;
            let full_page = events.len() as i64 == PAGE;
            for event in events {
                let seq = event.seq;
                let status = self.cache.apply(&event);
                let sender = self
                    .channels
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(&event.project)
                    .cloned();
                if let Some(sender) = sender {
                    // No receivers left is fine: the channel is dropped below.
                    let _ = sender.send(Arc::new(BusEvent { event, status }));
                }
                self.published.store(seq, Ordering::Release);
            }
            if !full_page {
                self.published.store(self.cache.head(), Ordering::Release);
                self.channels
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .retain(|_, sender| sender.receiver_count() > 0);
                return Ok(());
            }
        }
    }

    async fn purge(&self, pool: &Pool, retention: Duration) {
        let result = async {
            let client = pool.get().await?;
            store::status::purge(&client, retention).await
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "old status events purged"),
            Err(e) => {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "purging status events failed")
            }
        }
    }
}

/// Holds one LISTEN connection, reconnecting with backoff; every
/// notification wakes the follower.
async fn listen(database: tokio_postgres::Config, wake: Arc<Notify>, token: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    while !token.is_cancelled() {
        match database.connect(NoTls).await {
            // The client lives to the end of this arm: dropping it closes the LISTEN.
            Ok((client, mut connection)) => {
                delay = Duration::from_millis(200);
                let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
                let subscribe = store::status::listen_for_events(&client);
                tokio::pin!(subscribe);
                let mut subscribing = true;
                loop {
                    tokio::select! {
                        () = token.cancelled() => return,
                        result = &mut subscribe, if subscribing => {
                            subscribing = false;
                            if let Err(e) = result {
                                tracing::warn!(error = %crate::error::ErrorChain(&e), "LISTEN failed");
                                break;
                            }
                            // Anything logged while we were away is read now.
                            wake.notify_one();
                        }
                        message = messages.next() => match message {
                            Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "event listener connection failed");
                                break;
                            }
                            None => break,
                        },
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, retry_in = ?delay, "event listener cannot connect")
            }
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
