//! Built envelopes, reused while nothing they show has changed: a status
//! read then costs a copy, not a rebuild of every item and action.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::{cache::ProjectStatus, catalog::CatalogSnapshot};
use crate::{
    auth::Role,
    names::{ProjectId, TypeId},
    proto::v1 as pb,
};

/// Envelopes kept at most; emptied when full.
const CAPACITY: usize = 4096;

#[derive(Hash, PartialEq, Eq)]
struct Key {
    project: ProjectId,
    /// Viewer, editor, or admin and owner (who see the same).
    rank: u8,
    include_types: Vec<TypeId>,
}

struct Entry {
    render_hash: String,
    catalog_version: u64,
    envelope: Arc<pb::StatusEnvelope>,
}

#[derive(Clone, Default)]
pub struct EnvelopeCache {
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 0,
        Role::Editor => 1,
        Role::Admin | Role::Owner => 2,
    }
}

impl EnvelopeCache {
    /// The envelope for this caller, built by `build` only when the project's
    /// render hash or the catalog changed since the last build.
    pub fn get_or_build(
        &self,
        project: &ProjectId,
        role: Role,
        include_types: &[TypeId],
        status: &ProjectStatus,
        catalog: &CatalogSnapshot,
        build: impl FnOnce() -> pb::StatusEnvelope,
    ) -> Arc<pb::StatusEnvelope> {
        let key = Key {
            project: project.clone(),
            rank: rank(role),
            include_types: include_types.to_vec(),
        };
        let catalog_version = catalog.version();
        {
            let entries = self
                .entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(entry) = entries.get(&key)
                && entry.render_hash == status.render_hash
                && entry.catalog_version == catalog_version
            {
                return entry.envelope.clone();
            }
        }
        let envelope = Arc::new(build());
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                render_hash: status.render_hash.clone(),
                catalog_version,
                envelope: envelope.clone(),
            },
        );
        envelope
    }
}
