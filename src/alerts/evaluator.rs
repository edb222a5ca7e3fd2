//! The owner of alert state: evaluates the rules that watch a connection
//! on each observation, inside the transaction that records it, and fires,
//! keeps or resolves alerts. A change is queued for the project's watch
//! stream and for the rule's channels in that same transaction, so an
//! alert is never announced for an outcome that was not stored, nor stored
//! without its announcement.
//!
//! Locks: evaluation locks the connection's firing alerts and never the
//! event log (its watch event is queued, and the dispatcher logs it). A
//! caller that also logs events takes the log's lock before it observes,
//! so every transaction takes the log's lock before alert rows.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::Notify;

use super::{
    alert::{Alert, ResolveReason},
    condition::{self, Facts},
    lifecycle::{self, Step},
    model::{AlertRule, Condition},
    notification::EventType,
    observation::Observation,
    payload,
};
use crate::{
    etag::new_etag,
    names::{AlertName, ConnectionName, ResourceId},
    status::events::EventPayload,
    store::{self, StoreError, alerts::NewAlert},
};

/// Firing alerts resolved by one quiet-period sweep transaction.
const QUIET_BATCH: i64 = 100;

/// What a transaction's alert changes need once it commits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Raised {
    /// Alert events were queued for the watch stream.
    pub events: bool,
    /// Notifications were queued: wake the dispatcher.
    pub notifications: bool,
}

impl Raised {
    pub fn add(&mut self, other: Self) {
        self.events |= other.events;
        self.notifications |= other.notifications;
    }
}

/// Evaluates observations; shared by probes, actions and webhooks.
#[derive(Clone, Default)]
pub struct Alerting {
    dispatch: Arc<Notify>,
    events: Arc<Notify>,
}

impl Alerting {
    /// The dispatcher's wake-up, notified after a commit that queued
    /// notifications.
    pub fn dispatch_wake(&self) -> Arc<Notify> {
        self.dispatch.clone()
    }

    /// The announcer's wake-up, notified after a commit that queued alert
    /// events.
    pub fn events_wake(&self) -> Arc<Notify> {
        self.events.clone()
    }

    /// After the commit: wake whoever has new work.
    pub fn announce(&self, raised: Raised) {
        if raised.events {
            self.events.notify_one();
        }
        if raised.notifications {
            self.dispatch.notify_one();
        }
    }

    /// Records `observation` (a probe's or an action's sample) and applies
    /// it to every rule that watches its connection.
    pub async fn observe(
        &self,
        client: &impl GenericClient,
        observation: &Observation,
    ) -> Result<Raised, StoreError> {
        let connection = &observation.connection;
        if let Some(sample) = observation.observed.sample() {
            store::health_samples::insert(client, connection, sample).await?;
        }
        let rules: Vec<AlertRule> = store::alert_rules::watching(client, connection)
            .await?
            .into_iter()
            .filter(|r| condition::applies(&r.definition.condition, &observation.observed))
            .collect();
        if rules.is_empty() {
            return Ok(Raised::default());
        }
        let facts = gather(client, connection, &rules).await?;
        let ids: Vec<&str> = rules
            .iter()
            .map(|r| r.definition.name.id.as_str())
            .collect();
        let firing = store::alerts::firing_for_update(client, connection, &ids).await?;
        let now = Utc::now();
        let mut raised = Raised::default();
        for rule in &rules {
            let current = firing
                .iter()
                .find(|(a, _)| a.rule.id == rule.definition.name.id);
            let verdict =
                condition::verdict(&rule.definition.condition, &observation.observed, &facts);
            let step = lifecycle::step(
                current.map(|(_, h)| *h),
                verdict,
                &rule.definition.resolution,
                now,
            );
            match (step, current) {
                (Step::Nothing, _) => {}
                (Step::Fire(summary), _) => {
                    // The rule may be being deleted: its row, shared, is
                    // what a deletion takes first, so the alert fires
                    // before the deletion resolves it, or not at all.
                    if !store::alert_rules::lock_shared(client, &rule.definition.name).await? {
                        continue;
                    }
                    let new = NewAlert {
                        name: &AlertName {
                            project: connection.project.clone(),
                            id: ResourceId::generate("alert"),
                        },
                        rule: &rule.definition.name,
                        connection,
                        severity: rule.definition.severity,
                        summary: &summary,
                        etag: &new_etag(),
                    };
                    // None: a concurrent observation fired it first.
                    if let Some(alert) = store::alerts::insert_firing(client, &new).await? {
                        tracing::info!(alert = %alert.name, rule = %rule.definition.name, connection = %connection, summary, "alert fired");
                        raised.add(changed(client, rule, &alert, EventType::Fired).await?);
                    }
                }
                (Step::Keep(h), Some((alert, _))) => {
                    store::alerts::keep(client, &alert.name, h).await?;
                }
                (Step::Resolve(reason), Some((alert, _))) => {
                    raised.add(resolve(client, rule, &alert.name, reason).await?);
                }
                (Step::Keep(_) | Step::Resolve(_), None) => {}
            }
        }
        Ok(raised)
    }

    /// Resolves the firing alerts of a rule being deleted.
    pub async fn rule_deleted(
        &self,
        client: &impl GenericClient,
        rule: &AlertRule,
    ) -> Result<Raised, StoreError> {
        let mut raised = Raised::default();
        for alert in store::alerts::firing_of_rule(client, &rule.definition.name).await? {
            raised.add(resolve(client, rule, &alert.name, ResolveReason::RuleDeleted).await?);
        }
        Ok(raised)
    }

    /// Resolves the firing alerts of a connection being deleted.
    pub async fn connection_deleted(
        &self,
        client: &impl GenericClient,
        connection: &ConnectionName,
    ) -> Result<Raised, StoreError> {
        let mut raised = Raised::default();
        for alert in store::alerts::firing_of_connection(client, connection).await? {
            let Some(rule) = store::alert_rules::get(client, &alert.rule, false).await? else {
                continue;
            };
            raised
                .add(resolve(client, &rule, &alert.name, ResolveReason::ConnectionDeleted).await?);
        }
        Ok(raised)
    }

    /// Resolves firing alerts whose quiet period has passed since they
    /// last held, with no observation to trigger it; run by the dispatcher.
    pub async fn sweep_quiet(&self, pool: &Pool) -> Result<usize, StoreError> {
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        let quiet = store::alerts::quiet(&tx, QUIET_BATCH).await?;
        let mut raised = Raised::default();
        for alert in &quiet {
            if let Some(rule) = store::alert_rules::get(&tx, &alert.rule, false).await? {
                raised.add(resolve(&tx, &rule, &alert.name, ResolveReason::QuietPeriod).await?);
            }
        }
        tx.commit().await?;
        self.announce(raised);
        Ok(quiet.len())
    }
}

async fn resolve(
    client: &impl GenericClient,
    rule: &AlertRule,
    name: &AlertName,
    reason: ResolveReason,
) -> Result<Raised, StoreError> {
    match store::alerts::resolve(client, name, reason, &new_etag()).await? {
        Some(alert) => {
            tracing::info!(alert = %alert.name, reason = reason.as_str(), "alert resolved");
            changed(client, rule, &alert, EventType::Resolved).await
        }
        None => Ok(Raised::default()),
    }
}

/// Queues the alert's change for the watch stream and for the rule's
/// channels.
async fn changed(
    client: &impl GenericClient,
    rule: &AlertRule,
    alert: &Alert,
    event: EventType,
) -> Result<Raised, StoreError> {
    let logged = EventPayload::AlertChanged {
        alert: Box::new(alert.clone()),
    };
    store::alert_announcements::queue(client, &alert.name.project, &logged).await?;
    let channels = &rule.definition.channels;
    let body = payload::alert(event, alert, &rule.definition.display_name);
    let alert_name = alert.name.to_string();
    store::alert_notifications::enqueue(client, channels, Some(&alert_name), event, &body).await?;
    Ok(Raised {
        events: true,
        notifications: !channels.is_empty(),
    })
}

/// Reads what the rules' conditions need, each fact once.
async fn gather(
    client: &impl GenericClient,
    connection: &ConnectionName,
    rules: &[AlertRule],
) -> Result<Facts, StoreError> {
    let mut facts = Facts::default();
    let mut streak_needed = 0i64;
    let mut windows: Vec<Duration> = Vec::new();
    let mut dead_letters = false;
    let mut held_runs = false;
    for rule in rules {
        match &rule.definition.condition {
            Condition::ConsecutiveFailures { more_than } => {
                streak_needed = streak_needed.max(i64::from(*more_than) + 1);
            }
            Condition::ErrorRate { window, .. } if !windows.contains(window) => {
                windows.push(*window);
            }
            Condition::DeadLetters { .. } => dead_letters = true,
            Condition::HeldRuns { .. } => held_runs = true,
            _ => {}
        }
    }
    if streak_needed > 0 {
        facts.recent = store::health_samples::recent(client, connection, streak_needed).await?;
    }
    for window in windows {
        let count = store::health_samples::window(client, connection, window).await?;
        facts.windows.push((window, count));
    }
    if dead_letters {
        facts.dead_letters = store::deliveries::dead_letter_count(client, connection).await?;
    }
    if held_runs {
        facts.held_runs = store::automation_runs::held_from(client, connection).await?;
    }
    Ok(facts)
}
