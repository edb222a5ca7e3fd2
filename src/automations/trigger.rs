//! Deliveries matched to automations as the webhook processor works them,
//! in its transaction: the published versions listening to the delivery's
//! connection (or its type) are tried, and each that matches gets a run,
//! at most one per version and delivery, so a delivery posted again or
//! redriven starts nothing more. Versions never change once published, so
//! their parsed specs are cached: matching costs one indexed query per
//! batch of deliveries, and per delivery a lookup of the values the
//! filters require (see `expr::Prefilter`) and an evaluation of only the
//! automations that lookup leaves.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
};

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::{
    evaluate,
    expr::Prefilter,
    model::{Event, EventView, RunState, RunTrigger, Version},
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
    pub type_id: TypeId,
    pub id: &'a str,
    pub event_type: String,
    /// Its parsed body, handed over: matching reads it without a copy.
    pub body: Value,
    /// The action whose effect caused it, by id in the project.
    pub caused_by: Option<String>,
}

/// A version by (project, automation id, number).
type VersionKey = (String, String, i32);

/// What listens to one connection, ready to match against.
struct Set {
    key: Vec<(String, i32)>,
    versions: Vec<Arc<Version>>,
    prefilter: Prefilter,
}

#[derive(Clone, Default)]
pub struct Matcher {
    versions: Arc<Mutex<HashMap<VersionKey, Arc<Version>>>>,
    sets: Arc<Mutex<HashMap<ConnectionName, Arc<Set>>>>,
    loop_depth: u32,
}

impl Matcher {
    pub fn new(loop_depth: u32) -> Self {
        Self {
            versions: Arc::default(),
            sets: Arc::default(),
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

    /// The versions listening to `connection` (`key`: their automation ids
    /// and numbers, as the store listed them) and their prefilter: built
    /// once, and again only when what listens changes.
    async fn set(
        &self,
        client: &impl GenericClient,
        connection: &ConnectionName,
        key: Vec<(String, i32)>,
    ) -> Result<Arc<Set>, StoreError> {
        let found = self
            .sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(connection)
            .filter(|s| s.key == key)
            .cloned();
        if let Some(found) = found {
            return Ok(found);
        }
        let mut versions = Vec::with_capacity(key.len());
        for (id, number) in &key {
            let Ok(id) = ResourceId::parse("automation", id) else {
                continue;
            };
            let automation = AutomationName {
                project: connection.project.clone(),
                id,
            };
            if let Some(version) = self.version(client, &automation, *number).await? {
                versions.push(version);
            }
        }
        let prefilter = Prefilter::new(versions.iter().map(|v| v.spec.trigger.filter.as_ref()));
        let set = Arc::new(Set {
            key,
            versions,
            prefilter,
        });
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        if sets.len() >= CACHE_LIMIT {
            sets.clear();
        }
        sets.insert(connection.clone(), set.clone());
        Ok(set)
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
    /// One query finds what listens to the batch's distinct connections;
    /// their versions are resolved once per batch, not per delivery.
    pub async fn delivered(
        &self,
        client: &impl GenericClient,
        batch: Vec<Delivered<'_>>,
    ) -> Result<Matched, StoreError> {
        let mut matched = Matched::default();
        let mut distinct: Vec<(&ConnectionName, TypeId)> = Vec::new();
        let mut index: HashMap<&ConnectionName, usize> = HashMap::new();
        for d in &batch {
            index.entry(d.connection).or_insert_with(|| {
                distinct.push((d.connection, d.type_id.clone()));
                distinct.len() - 1
            });
        }
        if distinct.is_empty() {
            return Ok(matched);
        }
        let pairs: Vec<(&ConnectionName, &TypeId)> =
            distinct.iter().map(|(c, t)| (*c, t)).collect();
        let listening = store::automations::listening(client, &pairs).await?;
        if listening.is_empty() {
            return Ok(matched);
        }
        let mut grouped: Vec<Vec<(String, i32)>> = vec![Vec::new(); distinct.len()];
        for l in listening {
            if let Some(group) = grouped.get_mut(l.index) {
                group.push((l.automation, l.version));
            }
        }
        let mut sets: Vec<Option<Arc<Set>>> = Vec::with_capacity(distinct.len());
        for (key, (connection, _)) in grouped.into_iter().zip(&distinct) {
            sets.push(if key.is_empty() {
                None
            } else {
                Some(self.set(client, connection, key).await?)
            });
        }
        for d in batch {
            let Some(Some(set)) = index.get(d.connection).map(|i| &sets[*i]) else {
                continue;
            };
            let project = d.connection.project.clone();
            let connection = d.connection.clone();
            let (events, held) = self.one(client, d, &set.versions, &set.prefilter).await?;
            matched
                .events
                .extend(events.into_iter().map(|e| (project.clone(), e)));
            if held {
                matched.held.insert(connection);
            }
        }
        Ok(matched)
    }

    async fn one(
        &self,
        client: &impl GenericClient,
        d: Delivered<'_>,
        listening: &[Arc<Version>],
        prefilter: &Prefilter,
    ) -> Result<(Vec<EventPayload>, bool), StoreError> {
        let delivery = format!("{}/deliveries/{}", d.connection, d.id);
        let hits: Vec<&Arc<Version>> = {
            let view = EventView::new(d.connection, &d.event_type, &d.body, Some(&delivery));
            prefilter
                .candidates(&view)
                .into_iter()
                .filter_map(|at| listening.get(at))
                .filter(|v| {
                    evaluate::trigger_matches(
                        &v.spec.trigger,
                        d.connection,
                        &d.event_type,
                        &view,
                        &d.type_id,
                    )
                })
                .collect()
        };
        if hits.is_empty() {
            return Ok((Vec::new(), false));
        }
        let event = Event {
            connection: d.connection.clone(),
            event_type: d.event_type,
            payload: d.body,
            delivery: Some(delivery),
        };
        let cause_chain = match &d.caused_by {
            Some(action) => store::automation_runs::cause_of(client, &d.connection.project, action)
                .await?
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut events = Vec::new();
        let mut held = false;
        for version in hits {
            // Every decision about an automation's runs holds its row.
            if !store::automations::lock(client, &version.automation).await? {
                continue;
            }
            let start = Start {
                version,
                event: event.clone(),
                trigger: RunTrigger::Delivery,
                delivery_id: Some(d.id),
                cause_chain: cause_chain.clone(),
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
