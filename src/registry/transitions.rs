//! A connection's state changes. Whatever writes a connection's state
//! (creation, an update, new credentials, reconnect, disconnect) records
//! the status item that follows from it through [`state_changed`], in the
//! same transaction: watchers never see a state without its item. Actions
//! change state only through the registry methods here.

use chrono::Utc;
use deadpool_postgres::GenericClient;

use super::{Registry, model::ConnectionState};
use crate::{
    error::ApiError,
    names::{ConnectionName, TypeId},
    status::items,
    store::{self, StoreError},
};

/// Records the status item `state` implies for the connection, and asks
/// for a probe at once unless the state rules one out.
pub(super) async fn state_changed(
    tx: &impl GenericClient,
    name: &ConnectionName,
    type_id: &TypeId,
    state: ConnectionState,
) -> Result<(), StoreError> {
    let item = items::for_state(name, type_id, state, Utc::now());
    let probe_now = state != ConnectionState::Revoked;
    store::status::record_item(tx, name, &item, probe_now).await?;
    Ok(())
}

impl Registry {
    /// Marks a connection ACTIVE again (reconnect), with its item.
    pub async fn reactivate(
        &self,
        name: &ConnectionName,
        type_id: &TypeId,
    ) -> Result<(), ApiError> {
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        store::connections::set_state(&tx, name, ConnectionState::Active).await?;
        state_changed(&tx, name, type_id, ConnectionState::Active).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(connection = %name, "connection reactivated");
        Ok(())
    }

    /// Drops a connection's credentials and marks it REVOKED (disconnect),
    /// with its item. Revoking upstream is the caller's, before this.
    pub async fn mark_revoked(
        &self,
        name: &ConnectionName,
        type_id: &TypeId,
    ) -> Result<(), ApiError> {
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        store::connections::revoke(&tx, name).await?;
        state_changed(&tx, name, type_id, ConnectionState::Revoked).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(connection = %name, "connection revoked");
        Ok(())
    }
}
