//! GetRegistryStats: the catalog per category and connections per type and
//! state, over the projects the caller can see.

use super::{Registry, model::Category, model::ConnectionState};
use crate::{
    auth::Caller,
    error::ApiError,
    names::TypeId,
    store::{self, StoreError},
};

pub struct RegistryStats {
    pub categories: Vec<(Category, i64)>,
    pub connections: Vec<(TypeId, ConnectionState, i64)>,
    pub total_types: i64,
    pub total_connections: i64,
}

impl Registry {
    pub async fn stats(&self, caller: &Caller) -> Result<RegistryStats, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let (categories, total_types) = store::catalog::category_counts(&client).await?;
        // Platform admins see every project; others, the ones they hold a role in.
        let projects: Option<Vec<String>> = (!caller.is_platform_admin()).then(|| {
            caller
                .projects()
                .map(|(p, _)| p.as_str().to_owned())
                .collect()
        });
        let connections = store::connections::state_counts(&client, projects.as_deref()).await?;
        let total_connections = connections.iter().map(|(_, _, n)| n).sum();
        Ok(RegistryStats {
            categories,
            connections,
            total_types,
            total_connections,
        })
    }
}
