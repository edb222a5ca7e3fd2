//! The catalog's types in memory, for what must not wait on the database:
//! the actions each status item offers, and which provider reads a
//! webhook. Refreshed in the background.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

use crate::{
    names::TypeId,
    paging::MAX_PAGE_SIZE,
    providers::Provider,
    registry::model::{TypeQuery, TypeSpec},
    store,
};

#[derive(Clone, Default)]
pub struct CatalogSnapshot {
    types: Arc<RwLock<HashMap<TypeId, Arc<TypeSpec>>>>,
    /// Bumped whenever the loaded catalog differs from the one before.
    version: Arc<AtomicU64>,
}

impl CatalogSnapshot {
    pub fn spec(&self, id: &TypeId) -> Option<Arc<TypeSpec>> {
        self.types
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The provider of the type `type_id` names, when the type is known.
    pub fn provider(&self, type_id: &str) -> Option<&'static dyn Provider> {
        let spec = self.spec(&TypeId::parse(type_id).ok()?)?;
        crate::providers::find(&spec.probe)
    }

    /// Whether `type_id` is a type this snapshot holds.
    pub fn knows(&self, type_id: &str) -> bool {
        TypeId::parse(type_id).is_ok_and(|id| self.spec(&id).is_some())
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub async fn refresh(&self, pool: &Pool) -> Result<(), store::StoreError> {
        let client = pool.get().await?;
        let mut loaded = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = store::catalog::list(
                &client,
                &TypeQuery::default(),
                after.as_deref(),
                MAX_PAGE_SIZE as i64,
            )
            .await?;
            let full = page.len() == MAX_PAGE_SIZE;
            after = page.last().map(|t| t.definition.id.to_string());
            for ty in page {
                loaded.insert(ty.definition.id.clone(), Arc::new(ty.definition.spec));
            }
            if !full {
                break;
            }
        }
        *self
            .types
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
        Ok(())
    }

    /// Reloads every `every` until cancelled.
    pub async fn run(self, pool: Pool, every: Duration, token: CancellationToken) {
        loop {
            if let Err(e) = self.refresh(&pool).await {
                tracing::debug!(error = %crate::error::ErrorChain(&e), "catalog refresh failed");
            }
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
