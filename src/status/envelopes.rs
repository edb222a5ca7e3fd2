//! Built envelopes, reused while nothing they show has changed: a status
//! read then costs a copy, not a rebuild of every item and action.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use prost::bytes::Bytes;

use super::cache::ProjectStatus;
use crate::{
    auth::Role,
    names::{ProjectId, TypeId},
    proto::v1 as pb,
    registry::catalog_snapshot::CatalogSnapshot,
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
    /// Every field but `seq`, encoded.
    encoded: Bytes,
}

/// Whose envelope: what it shows depends on these and nothing else.
pub struct Audience<'a> {
    pub project: &'a ProjectId,
    pub role: Role,
    pub include_types: &'a [TypeId],
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
    /// The envelope for this caller at `seq`, built (and encoded) by `build`
    /// only when the project's render hash or the catalog changed since.
    pub fn get_or_build(
        &self,
        audience: &Audience<'_>,
        status: &ProjectStatus,
        catalog: &CatalogSnapshot,
        seq: i64,
        build: impl FnOnce() -> pb::StatusEnvelope,
    ) -> pb::StatusEnvelope {
        let key = Key {
            project: audience.project.clone(),
            rank: rank(audience.role),
            include_types: audience.include_types.to_vec(),
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
                return sendable(entry.encoded.clone(), seq);
            }
        }
        let encoded = build().pre_encode();
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
                encoded: encoded.clone(),
            },
        );
        sendable(encoded, seq)
    }
}

fn sendable(encoded: Bytes, seq: i64) -> pb::StatusEnvelope {
    pb::StatusEnvelope {
        seq,
        pre_encoded: Some(encoded),
        ..Default::default()
    }
}
