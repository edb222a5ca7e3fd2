//! The rules of the alert-rule RPCs: who may (editors and up write, any
//! role reads), idempotent creation, etags, scope checks, the project's
//! default rules and each change's audit entry.

use deadpool_postgres::{GenericClient, Pool};

use super::{
    Alerting, audit_trail, channels, defaults,
    model::{AlertRule, RuleDefinition, Scope},
};
use crate::{
    audit,
    auth::{Caller, Role},
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    idempotency::RequestKey,
    names::{AlertRuleName, ConnectionName, ProjectId},
    paging::PageRequest,
    store::{self, StoreError, alert_rules::InsertOutcome},
};

#[derive(Clone)]
pub struct AlertRules {
    pool: Pool,
    alerting: Alerting,
}

impl AlertRules {
    pub fn new(pool: Pool, alerting: Alerting) -> Self {
        Self { pool, alerting }
    }

    pub async fn create(
        &self,
        caller: &Caller,
        definition: RuleDefinition,
        request: Option<RequestKey>,
    ) -> Result<AlertRule, ApiError> {
        let project = definition.name.project.clone();
        caller.require(&project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        if let Some(found) = self.replay(&client, &project, request.as_ref()).await? {
            return Ok(found);
        }
        check_scope(&client, &definition).await?;
        channels::check_channels_exist(&client, &project, &definition.channels).await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let seeded = defaults::seed(&tx, &project).await?;
        let request_ref = request.as_ref().map(|r| (r.id, r.digest.as_slice()));
        match store::alert_rules::insert(&tx, &definition, false, &new_etag(), request_ref).await? {
            InsertOutcome::Inserted(rule) => {
                let change = audit_trail::created(&rule, request.as_ref().map(|r| r.id), &seeded);
                audit::record(&tx, caller, change).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(*rule)
            }
            InsertOutcome::NameTaken => Err(ApiError::new(
                ErrorCode::AlreadyExists,
                "ALERT_RULE_EXISTS",
                format!("{} already exists", definition.name),
            )),
            InsertOutcome::RequestTaken => {
                // Lost a race with a request carrying the same id.
                drop(tx);
                self.replay(&client, &project, request.as_ref())
                    .await?
                    .ok_or_else(|| {
                        ApiError::internal("request id conflict without a row", "concurrent delete")
                    })
            }
        }
    }

    /// The rule an earlier request with this key created, if any.
    async fn replay(
        &self,
        client: &impl GenericClient,
        project: &ProjectId,
        request: Option<&RequestKey>,
    ) -> Result<Option<AlertRule>, ApiError> {
        let Some(request) = request else {
            return Ok(None);
        };
        match store::alert_rules::by_request(client, project, request.id).await? {
            Some((rule, digest)) => {
                request.check_replay(&digest)?;
                Ok(Some(rule))
            }
            None => Ok(None),
        }
    }

    pub async fn get(&self, caller: &Caller, name: &AlertRuleName) -> Result<AlertRule, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::alert_rules::get(&client, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        project: &ProjectId,
        page: &PageRequest,
    ) -> Result<(Vec<AlertRule>, String), ApiError> {
        caller.require(project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut rules =
            store::alert_rules::list(&client, project, page.after.as_deref(), page.fetch_limit())
                .await?;
        let next = page.finish(&mut rules, |r| r.definition.name.id.to_string());
        Ok((rules, next))
    }

    /// Applies `merge` to the current rule under a row lock.
    pub async fn update(
        &self,
        caller: &Caller,
        name: &AlertRuleName,
        etag: Option<&str>,
        merge: impl FnOnce(&AlertRule) -> Result<RuleDefinition, ApiError>,
    ) -> Result<AlertRule, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::alert_rules::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        let definition = merge(&current)?;
        if definition.scope != current.definition.scope {
            check_scope(&tx, &definition).await?;
        }
        if definition.channels != current.definition.channels {
            channels::check_channels_exist(&tx, &name.project, &definition.channels).await?;
        }
        let updated = store::alert_rules::update(&tx, &definition, &new_etag()).await?;
        audit::record(&tx, caller, audit_trail::updated(&current, &updated)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(updated)
    }

    pub async fn delete(
        &self,
        caller: &Caller,
        name: &AlertRuleName,
        etag: Option<&str>,
    ) -> Result<(), ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::alert_rules::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        let raised = self.alerting.rule_deleted(&tx, &current).await?;
        store::alert_rules::delete(&tx, name).await?;
        audit::record(&tx, caller, audit_trail::deleted(&current)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.alerting.announce(raised);
        Ok(())
    }
}

/// A rule may watch only a connection or a type that exists.
async fn check_scope(client: &impl GenericClient, d: &RuleDefinition) -> Result<(), ApiError> {
    let exists = match &d.scope {
        Scope::Project => true,
        Scope::Connection(id) => {
            let name = ConnectionName {
                project: d.name.project.clone(),
                id: id.clone(),
            };
            store::connections::get(client, &name).await?.is_some()
        }
        Scope::Type(t) => store::catalog::get(client, t).await?.is_some(),
    };
    if exists {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "alert_rule.scope",
            "names no connection or integration type that exists",
        ))
    }
}
