//! Every project's status, in memory: the fold of the event log. Reads are
//! served from here; no provider and no database is on the request path.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use super::{
    events::{EventPayload, StoredEvent},
    model::{self, ItemStatus, Level},
};
use crate::names::{ConnectionName, ProjectId};

/// One project's items, sorted by connection name, with their summary.
#[derive(Debug, Clone)]
pub struct ProjectStatus {
    pub items: Vec<ItemStatus>,
    pub overall: Level,
    pub hash: String,
    pub render_hash: String,
}

impl ProjectStatus {
    fn new(mut items: Vec<ItemStatus>) -> Self {
        items.sort_by_key(ItemStatus::sort_key);
        Self {
            overall: model::overall(&items),
            hash: model::content_hash(&items),
            render_hash: model::render_hash(&items),
            items,
        }
    }

    pub fn empty() -> Self {
        Self::new(Vec::new())
    }

    pub fn item(&self, name: &ConnectionName) -> Option<&ItemStatus> {
        self.items
            .iter()
            .find(|i| i.connection.as_ref() == Some(name))
    }
}

#[derive(Default)]
struct Inner {
    projects: HashMap<ProjectId, Arc<ProjectStatus>>,
    /// The last event folded in.
    head: i64,
    loaded: bool,
}

/// Shared by every handler; written only by the event bus.
#[derive(Clone, Default)]
pub struct StatusCache {
    inner: Arc<RwLock<Inner>>,
}

impl StatusCache {
    /// Replaces everything with a snapshot consistent with `head`.
    pub fn reset(&self, items: Vec<ItemStatus>, head: i64) {
        let mut by_project: HashMap<ProjectId, Vec<ItemStatus>> = HashMap::new();
        for item in items {
            if let Some(name) = &item.connection {
                by_project
                    .entry(name.project.clone())
                    .or_default()
                    .push(item);
            }
        }
        let projects = by_project
            .into_iter()
            .map(|(p, items)| (p, Arc::new(ProjectStatus::new(items))))
            .collect();
        let mut inner = self.write();
        *inner = Inner {
            projects,
            head,
            loaded: true,
        };
    }

    /// Folds in one event (in seq order); returns the project's status after it.
    pub fn apply(&self, event: &StoredEvent) -> Option<Arc<ProjectStatus>> {
        let mut inner = self.write();
        if event.seq <= inner.head {
            return None;
        }
        inner.head = event.seq;
        let changed = match &event.payload {
            EventPayload::ItemChanged { item, .. } => {
                let name = item.connection.as_ref()?;
                let current = inner
                    .projects
                    .get(&event.project)
                    .map(|p| p.items.clone())
                    .unwrap_or_default();
                let mut items: Vec<ItemStatus> = current
                    .into_iter()
                    .filter(|i| i.connection.as_ref() != Some(name))
                    .collect();
                items.push(item.clone());
                Some(items)
            }
            EventPayload::ItemRemoved { connection, .. } => {
                let current = inner
                    .projects
                    .get(&event.project)
                    .map(|p| p.items.clone())
                    .unwrap_or_default();
                Some(
                    current
                        .into_iter()
                        .filter(|i| i.connection.as_ref() != Some(connection))
                        .collect(),
                )
            }
            EventPayload::ActionProgress { .. }
            | EventPayload::WebhookReceived { .. }
            | EventPayload::AlertChanged { .. }
            | EventPayload::RunChanged { .. } => None,
        };
        if let Some(items) = changed {
            let status = Arc::new(ProjectStatus::new(items));
            inner.projects.insert(event.project.clone(), status.clone());
            return Some(status);
        }
        inner.projects.get(&event.project).cloned()
    }

    /// The project's status and the log head it reflects.
    pub fn project(&self, project: &ProjectId) -> (Arc<ProjectStatus>, i64) {
        let inner = self.read();
        let status = inner
            .projects
            .get(project)
            .cloned()
            .unwrap_or_else(empty_project);
        (status, inner.head)
    }

    pub fn is_loaded(&self) -> bool {
        self.read().loaded
    }

    pub fn head(&self) -> i64 {
        self.read().head
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-written:
        // every write replaces whole values.
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The status of a project with no connections, built (and hashed) once.
fn empty_project() -> Arc<ProjectStatus> {
    static EMPTY: std::sync::OnceLock<Arc<ProjectStatus>> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| Arc::new(ProjectStatus::empty()))
        .clone()
}
