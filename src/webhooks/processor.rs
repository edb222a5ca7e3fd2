//! Processes stored deliveries: normalizes each, attaches it to its
//! connection (last webhook time, status where the event says something
//! about health), publishes `webhook_received` on the project's watch
//! stream, and retries failures with backoff until they are dead-lettered.
//!
//! First attempts follow the deliveries in commit order from a cursor
//! (see migration 0007), so a delivery that is processed at once is never
//! rewritten; only failures change a delivery's row. A batch is processed
//! in one transaction that holds the processing turn (a transaction
//! advisory lock): replicas take turns, and a replica that dies mid-batch
//! leaves the batch to the others. Event appends are serialized anyway (one
//! log order), so turns cost no parallelism. Each batch's deliveries are
//! matched to the automations listening to their connections in the same
//! transaction, so a delivery starts its runs exactly when it is processed.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{WebhookConfig, normalize::normalize};
use crate::{
    alerts::{
        Alerting,
        evaluator::Raised,
        observation::{Observation, Observed},
    },
    automations::trigger::{Delivered, Matcher},
    backoff::backoff,
    metrics::{Metrics, ProcessedCounts},
    names::{ConnectionName, ProjectId, TypeId},
    providers::Health,
    registry::catalog_snapshot::CatalogSnapshot,
    status::{
        bus::EventBus,
        events::EventPayload,
        model::{EnvironmentStatus, Level},
    },
    store::{self, StoreError, deliveries::DueDelivery},
};

/// Deliveries per processing transaction.
const BATCH: i64 = 2000;
/// How long a wake-up waits for more deliveries before processing.
const LINGER: Duration = Duration::from_millis(100);
/// How often old dedupe records are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct Processor {
    pool: Pool,
    bus: EventBus,
    config: Arc<WebhookConfig>,
    /// Notified by the writer after each committed batch.
    stored: Arc<Notify>,
    /// Which provider reads each type's deliveries.
    types: CatalogSnapshot,
    metrics: Metrics,
    alerting: Alerting,
    automations: Matcher,
    /// Woken when deliveries started runs.
    runs_wake: Arc<Notify>,
}

impl Processor {
    pub fn new(
        pool: Pool,
        bus: EventBus,
        config: Arc<WebhookConfig>,
        stored: Arc<Notify>,
        types: CatalogSnapshot,
        metrics: Metrics,
        alerting: Alerting,
    ) -> Self {
        Self {
            pool,
            bus,
            config,
            stored,
            types,
            metrics,
            alerting,
            automations: Matcher::default(),
            runs_wake: Arc::default(),
        }
    }

    /// Matches deliveries to automations with `matcher`, waking `runs`
    /// when they start runs.
    pub fn with_automations(self, matcher: Matcher, runs: Arc<Notify>) -> Self {
        Self {
            automations: matcher,
            runs_wake: runs,
            ..self
        }
    }

    pub async fn run(self, token: CancellationToken) {
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = self.stored.notified() => {
                    // Let a busy stream of deliveries gather: one processing
                    // transaction per many deliveries, not per commit.
                    tokio::time::sleep(LINGER).await;
                }
                () = tokio::time::sleep(self.config.poll) => {}
            }
            loop {
                match self.process_batch().await {
                    Ok(n) if n == BATCH as usize => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %crate::error::ErrorChain(&e), "processing webhook deliveries failed");
                        break;
                    }
                }
            }
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                last_purge = Some(tokio::time::Instant::now());
                self.purge().await;
            }
        }
    }

    /// Processes one batch: the deliveries after the cursor (first
    /// attempts) and the failed ones whose retry is due. Returns the larger
    /// of the two counts (0 when another replica has the turn: it carries on
    /// until nothing is due). Events and state changes are written with one
    /// statement each; a first attempt that succeeds writes nothing to its
    /// delivery.
    pub async fn process_batch(&self) -> Result<usize, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if !store::deliveries::take_processing_turn(&tx).await? {
            return Ok(0);
        }
        let cursor = store::deliveries::cursor(&tx).await?;
        let fresh = store::deliveries::after_cursor(&tx, cursor, BATCH).await?;
        let retries = store::deliveries::retries_due(&tx, BATCH).await?;
        // A type registered since the snapshot was loaded: load it again,
        // once, so its deliveries are read by their provider.
        let unknown = fresh
            .iter()
            .chain(&retries)
            .filter_map(|d| d.type_id.as_deref())
            .any(|t| !self.types.knows(t));
        if unknown {
            self.types.refresh(&self.pool).await?;
        }
        let mut done = Done::default();
        for delivery in &fresh {
            self.process(&tx, delivery, &mut done).await?;
        }
        let mut retried = Vec::new();
        for delivery in &retries {
            if self.process(&tx, delivery, &mut done).await? {
                retried.push(delivery.id.as_str());
            }
        }
        store::deliveries::mark_retries_processed(&tx, &retried).await?;
        if let Some(last) = fresh.last() {
            store::deliveries::advance_cursor(&tx, last.seq).await?;
        }
        for (connection, at) in done.latest {
            store::deliveries::touch_connection(&tx, connection, at).await?;
        }
        let batch: Vec<Delivered<'_>> = done
            .to_match
            .drain(..)
            .map(|m| Delivered {
                connection: &m.delivery.connection,
                type_id: m.type_id,
                id: &m.delivery.id,
                event_type: m.event_type,
                body: m.body,
                caused_by: m.caused_by,
            })
            .collect();
        let matched = self.automations.delivered(&tx, batch).await?;
        let started_runs = !matched.events.is_empty();
        let mut events: Vec<(&ProjectId, EventPayload)> = std::mem::take(&mut done.events);
        events.extend(matched.events.iter().map(|(p, e)| (p, e.clone())));
        // Last: the event lock is held from here to the commit, and other
        // event writers (probes, actions) wait on it.
        store::status::append_many(&tx, &events).await?;
        // After the log's lock (rarely: only when deliveries died), so
        // alert rows are never held while waiting for it.
        let mut raised = Raised::default();
        let dead = done
            .dead_lettered
            .into_iter()
            .map(|c| (c, Observed::DeadLetters));
        let held = matched.held.iter().map(|c| (c, Observed::HeldRuns));
        for (connection, observed) in dead.chain(held) {
            let observation = Observation {
                connection: connection.clone(),
                observed,
            };
            raised.add(self.alerting.observe(&tx, &observation).await?);
        }
        tx.commit().await?;
        self.alerting.announce(raised);
        self.metrics.webhooks_processed(done.counts);
        if !events.is_empty() {
            self.bus.wake();
        }
        if started_runs {
            self.runs_wake.notify_one();
        }
        Ok(fresh.len().max(retries.len()))
    }

    /// One delivery: true when it was processed, false when its failure was
    /// recorded for a retry or the dead letters.
    async fn process<'a>(
        &self,
        tx: &impl GenericClient,
        delivery: &'a DueDelivery,
        done: &mut Done<'a>,
    ) -> Result<bool, StoreError> {
        let Some(type_id) = delivery.type_id.as_deref() else {
            // The connection is gone: nothing to attach to.
            return Ok(true);
        };
        let provider = self.types.provider(type_id);
        match normalize(provider, &delivery.event_type, &delivery.body) {
            Ok(normalized) => {
                if let Some(health) = &normalized.health {
                    apply_health(tx, &delivery.connection, health).await?;
                }
                done.events.push((
                    &delivery.connection.project,
                    received(delivery, &normalized.event_type),
                ));
                if let Ok(type_id) = TypeId::parse(type_id) {
                    done.to_match.push(ToMatch {
                        delivery,
                        type_id,
                        event_type: normalized.event_type,
                        body: normalized.body,
                        caused_by: normalized.caused_by,
                    });
                }
                let at = done
                    .latest
                    .entry(&delivery.connection)
                    .or_insert(delivery.receive_time);
                *at = (*at).max(delivery.receive_time);
                done.counts.processed += 1;
                Ok(true)
            }
            Err(why) => {
                if self.fail(tx, delivery, &why).await? {
                    done.counts.retrying += 1;
                } else {
                    done.counts.dead_lettered += 1;
                    done.dead_lettered.insert(&delivery.connection);
                }
                Ok(false)
            }
        }
    }

    /// Records a failed attempt: true when it will be retried, false when
    /// it was the last.
    async fn fail(
        &self,
        client: &impl GenericClient,
        delivery: &DueDelivery,
        why: &str,
    ) -> Result<bool, StoreError> {
        let attempt = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
        let retry_in =
            (attempt < self.config.max_attempts).then(|| backoff(self.config.retry_base, attempt));
        if retry_in.is_none() {
            tracing::warn!(connection = %delivery.connection, delivery = %delivery.id, attempts = attempt, error = why, "webhook delivery dead-lettered");
        } else {
            tracing::info!(connection = %delivery.connection, delivery = %delivery.id, attempt, error = why, "webhook delivery will be retried");
        }
        store::deliveries::mark_failed(client, &delivery.id, why, retry_in).await?;
        Ok(retry_in.is_some())
    }

    async fn purge(&self) {
        let purged = async {
            let client = self.pool.get().await?;
            store::deliveries::purge(&client, self.config.dedupe_retention).await
        }
        .await;
        match purged {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "purged old webhook dedupe records"),
            Err(e) => {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "purging webhook deliveries failed")
            }
        }
    }
}

/// What a batch's processed deliveries leave to write.
#[derive(Default)]
struct Done<'a> {
    events: Vec<(&'a ProjectId, EventPayload)>,
    /// The newest delivery per connection.
    latest: HashMap<&'a ConnectionName, DateTime<Utc>>,
    /// Counted once the batch commits.
    counts: ProcessedCounts,
    /// Connections with a delivery dead-lettered in this batch.
    dead_lettered: std::collections::BTreeSet<&'a ConnectionName>,
    /// Processed deliveries, for the automations listening to them.
    to_match: Vec<ToMatch<'a>>,
}

/// A processed delivery as automations read it.
struct ToMatch<'a> {
    delivery: &'a DueDelivery,
    type_id: TypeId,
    event_type: String,
    body: serde_json::Value,
    caused_by: Option<String>,
}

fn received(delivery: &DueDelivery, event_type: &str) -> EventPayload {
    EventPayload::WebhookReceived {
        connection: delivery.connection.to_string(),
        delivery: format!("{}/deliveries/{}", delivery.connection, delivery.id),
        event_type: event_type.to_owned(),
        receive_time: delivery.receive_time,
    }
}

async fn apply_health(
    client: &impl GenericClient,
    connection: &ConnectionName,
    health: &Health,
) -> Result<(), StoreError> {
    match health {
        Health::Changed => store::status::probe_soon(client, connection).await,
        Health::DeploymentFailed { environment, url } => {
            let Some(mut item) = store::status::item_for_update(client, connection).await? else {
                return Ok(());
            };
            let summary = format!("The latest {environment} deployment failed");
            let env = EnvironmentStatus {
                name: environment.clone(),
                level: Level::Error,
                summary: summary.clone(),
                url: url.clone(),
                last_deploy_at: Some(Utc::now()),
            };
            match item
                .environments
                .iter_mut()
                .find(|e| e.name == *environment)
            {
                Some(existing) => *existing = env,
                None => item.environments.push(env),
            }
            item.level = Level::Error;
            item.summary = summary;
            item.redacted_summary = "A deployment failed".to_owned();
            item.updated_at = Utc::now();
            item.stale = false;
            // A probe soon confirms (or corrects) what the event said.
            store::status::record_item(client, connection, &item, true).await?;
            Ok(())
        }
    }
}
