//! Deliveries matched to automations as the webhook processor works them,
//! in its transaction: the published versions listening to the delivery's
//! connection (or its type) are tried, and each that matches gets a run,
//! at most one per version and delivery, so a delivery posted again or
//! redriven starts nothing more. Versions never change once published, so
//! their parsed specs are cached: matching costs one indexed query per
//! batch of deliveries and an evaluation per listening automation.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
};

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::{
    evaluate,
    model::{Event, RunState, RunTrigger, Version},
    runs::{self, Start},
};
use crate::{
    names::{AutomationName, ConnectionName, ProjectId, ResourceId, TypeId},
    status::events::EventPayload,
    store::{self, StoreError},
};

/// Versions kept parsed; past this the cache starts over.
const CACHE_LIMIT: usize = 10_000;

/// What a batch's deliveries started.
#[derive(Default)]
pub struct Matched {
    /// The runs' events, with their projects.
    pub events: Vec<(ProjectId, EventPayload)>,
    /// Connections whose deliveries had runs held by a rate limit: what the
    /// held-runs alert rules observe.
    pub held: BTreeSet<ConnectionName>,
}

/// A delivery the processor has understood.
pub struct Delivered<'a> {
    pub connection: &'a ConnectionName,
    pub type_id: &'a TypeId,
    pub id: &'a str,
    pub event_type: &'a str,
    pub body: &'a Value,
    /// The action whose effect caused it, by id in the project.
    pub caused_by: Option<&'a str>,
}

/// A version by (project, automation id, number).
type VersionKey = (String, String, i32);

#[derive(Clone, Default)]
pub struct Matcher {
    versions: Arc<Mutex<HashMap<VersionKey, Arc<Version>>>>,
    loop_depth: u32,
}

impl Matcher {
    pub fn new(loop_depth: u32) -> Self {
        Self {
            versions: Arc::default(),
            loop_depth,
        }
    }

    async fn version(
        &self,
        client: &impl GenericClient,
        automation: &AutomationName,
        number: i32,
    ) -> Result<Option<Arc<Version>>, StoreError> {
        let key = (
            automation.project.as_str().to_owned(),
            automation.id.as_str().to_owned(),
            number,
        );
        if let Some(found) = self.cached(&key) {
            return Ok(Some(found));
        }
        let Some(version) = store::automations::version(client, automation, number).await? else {
            return Ok(None);
        };
        let version = Arc::new(version);
        let mut cache = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, version.clone());
        Ok(Some(version))
    }

    fn cached(&self, key: &VersionKey) -> Option<Arc<Version>> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Starts a run of every automation each delivery matches; returns
    /// the runs' events (with their projects) for the processor to log
    /// with its batch, and the connections whose deliveries had runs held.
    pub async fn delivered(
        &self,
        client: &impl GenericClient,
        batch: &[Delivered<'_>],
    ) -> Result<Matched, StoreError> {
        let mut matched = Matched::default();
        if batch.is_empty() {
            return Ok(matched);
        }
        let connections: Vec<(&ConnectionName, &TypeId)> =
            batch.iter().map(|d| (d.connection, d.type_id)).collect();
        let listening = store::automations::listening(client, &connections).await?;
        let mut at = 0;
        for (index, d) in batch.iter().enumerate() {
            let start = at;
            while at < listening.len() && listening[at].index == index {
                at += 1;
            }
            if start == at {
                continue;
            }
            let (events, held) = self.one(client, d, &listening[start..at]).await?;
            for e in events {
                matched.events.push((d.connection.project.clone(), e));
            }
            if held {
                matched.held.insert(d.connection.clone());
            }
        }
        Ok(matched)
    }

    async fn one(
        &self,
        client: &impl GenericClient,
        d: &Delivered<'_>,
        listening: &[store::automations::Listening],
    ) -> Result<(Vec<EventPayload>, bool), StoreError> {
        let event = Event {
            connection: d.connection.clone(),
            event_type: d.event_type.to_owned(),
            payload: d.body.clone(),
            delivery: Some(format!("{}/deliveries/{}", d.connection, d.id)),
        };
        let doc = event.document();
        let mut cause_chain: Option<Vec<String>> = None;
        let mut events = Vec::new();
        let mut held = false;
        for l in listening {
            let Ok(id) = ResourceId::parse("automation", &l.automation) else {
                continue;
            };
            let automation = AutomationName {
                project: d.connection.project.clone(),
                id,
            };
            let Some(version) = self.version(client, &automation, l.version).await? else {
                continue;
            };
            if !evaluate::trigger_matches(&version.spec.trigger, &event, &doc, d.type_id) {
                continue;
            }
            if cause_chain.is_none() {
                cause_chain = Some(match d.caused_by {
                    Some(action) => {
                        store::automation_runs::cause_of(client, &d.connection.project, action)
                            .await?
                            .unwrap_or_default()
                    }
                    None => Vec::new(),
                });
            }
            // Every decision about an automation's runs holds its row.
            if !store::automations::lock(client, &automation).await? {
                continue;
            }
            let start = Start {
                version: &version,
                event: event.clone(),
                trigger: RunTrigger::Delivery,
                delivery_id: Some(d.id),
                cause_chain: cause_chain.clone().unwrap_or_default(),
                replay_of: None,
                request: None,
                loop_depth: self.loop_depth,
            };
            if let Some((run, logged)) = runs::admit(client, &start).await? {
                held |= run.state == RunState::Held;
                events.extend(logged);
            }
        }
        Ok((events, held))
    }
}
