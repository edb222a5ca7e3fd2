//! The catalog: integration types, what their connections are configured
//! with, which actions they support, and how their webhooks are signed.

use super::model::{IntegrationType, TypeDefinition, TypeQuery};
use super::{Registry, audit_trail};
use crate::{
    audit,
    auth::Caller,
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    idempotency::RequestKey,
    names::TypeId,
    paging::PageRequest,
    store::{self, StoreError},
};

impl Registry {
    pub async fn list_types(
        &self,
        query: &TypeQuery,
        page: &PageRequest,
    ) -> Result<(Vec<IntegrationType>, String, i64), ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut items =
            store::catalog::list(&client, query, page.after.as_deref(), page.fetch_limit()).await?;
        let total = store::catalog::count(&client, query).await?;
        let next = page.finish(&mut items, |t| t.definition.id.to_string());
        Ok((items, next, total))
    }

    pub async fn get_type(&self, id: &TypeId) -> Result<IntegrationType, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::catalog::get(&client, id)
            .await?
            .ok_or_else(|| ApiError::not_found(id.name()))
    }

    pub async fn register_type(
        &self,
        caller: &Caller,
        definition: TypeDefinition,
        request: Option<RequestKey>,
    ) -> Result<IntegrationType, ApiError> {
        caller.require_platform_admin()?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let replay = |found: Option<(IntegrationType, Vec<u8>)>, request: &RequestKey| match found {
            Some((ty, digest)) => request.check_replay(&digest).map(|()| Some(ty)),
            None => Ok(None),
        };
        if let Some(request) = &request
            && let Some(ty) = replay(
                store::catalog::by_request(&client, request.id).await?,
                request,
            )?
        {
            return Ok(ty);
        }
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let inserted = store::catalog::insert(
            &tx,
            &definition,
            &new_etag(),
            request.as_ref().map(|r| (r.id, r.digest.as_slice())),
        )
        .await?;
        if let Some(ty) = inserted {
            let change = audit_trail::type_registered(&ty, request.as_ref().map(|r| r.id));
            audit::record(&tx, caller, change).await?;
            tx.commit().await.map_err(StoreError::from)?;
            tracing::info!(r#type = %ty.definition.id, "integration type registered");
            return Ok(ty);
        }
        drop(tx);
        if let Some(request) = &request
            && let Some(ty) = replay(
                store::catalog::by_request(&client, request.id).await?,
                request,
            )?
        {
            return Ok(ty);
        }
        Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "TYPE_EXISTS",
            format!("{} already exists", definition.id.name()),
        ))
    }

    /// Applies `merge` to the current type under a row lock, so concurrent
    /// updates of different fields do not overwrite each other.
    pub async fn update_type(
        &self,
        caller: &Caller,
        id: &TypeId,
        etag: Option<&str>,
        merge: impl FnOnce(&IntegrationType) -> Result<TypeDefinition, ApiError>,
    ) -> Result<IntegrationType, ApiError> {
        caller.require_platform_admin()?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::catalog::get_for_update(&tx, id)
            .await?
            .ok_or_else(|| ApiError::not_found(id.name()))?;
        check_etag(etag, &current.etag)?;
        let definition = merge(&current)?;
        let updated = store::catalog::update(&tx, &definition, &new_etag()).await?;
        audit::record(&tx, caller, audit_trail::type_updated(&current, &updated)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(r#type = %id, "integration type updated");
        Ok(updated)
    }
}
