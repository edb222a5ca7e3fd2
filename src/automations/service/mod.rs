//! The rules of the automation RPCs: who may (editors and up write,
//! publish, run, dry-run, cancel and replay; any role reads), the checks
//! a spec's names must pass in the store (connections that exist, actions
//! their types have), publishing under the publisher's role, and each
//! change's audit entry. The calls about runs are in `runs.rs`.

mod run_calls;

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::Notify;

use super::{
    AutomationConfig, audit_trail,
    model::{Automation, RunState, Source, Spec, StepKind},
    runs,
};
use crate::{
    audit,
    auth::{Caller, Role},
    error::{ApiError, ErrorCode},
    etag::{check_etag, new_etag},
    idempotency::RequestKey,
    names::{AutomationName, ConnectionName, ProjectId},
    paging::PageRequest,
    registry::Registry,
    status::bus::EventBus,
    store::{self, StoreError, automations::InsertOutcome},
};

#[derive(Clone)]
pub struct Automations {
    pool: Pool,
    bus: EventBus,
    registry: Registry,
    config: AutomationConfig,
    /// The executor's wake-up, after a run was started or freed.
    runs: Arc<Notify>,
}

/// Which version ReplayRun runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVersion {
    Run,
    Published,
}

fn not_published(name: &AutomationName) -> ApiError {
    ApiError::new(
        ErrorCode::FailedPrecondition,
        "AUTOMATION_NOT_PUBLISHED",
        format!("{name} has no published version; publish it first"),
    )
}

impl Automations {
    pub fn new(
        pool: Pool,
        bus: EventBus,
        registry: Registry,
        config: AutomationConfig,
        runs: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            bus,
            registry,
            config,
            runs,
        }
    }

    pub async fn create(
        &self,
        caller: &Caller,
        name: AutomationName,
        display_name: &str,
        draft: Spec,
        request: Option<RequestKey>,
    ) -> Result<Automation, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        check_names(&client, &draft, "automation.draft").await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let inserted = store::automations::insert(
            &tx,
            &name,
            display_name,
            &draft,
            &new_etag(),
            request.as_ref().map(|r| (r.id, r.digest.as_slice())),
        )
        .await?;
        let created = match inserted {
            InsertOutcome::Inserted(created) => created,
            InsertOutcome::RequestTaken(existing, digest) => {
                if let Some(request) = &request {
                    request.check_replay(&digest)?;
                }
                return Ok(*existing);
            }
            InsertOutcome::NameTaken => {
                return Err(ApiError::new(
                    ErrorCode::AlreadyExists,
                    "AUTOMATION_EXISTS",
                    format!("{name} already exists"),
                ));
            }
        };
        audit::record(
            &tx,
            caller,
            audit_trail::created(&created, request.map(|r| r.id)),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(automation = %name, "automation created");
        Ok(*created)
    }

    pub async fn get(
        &self,
        caller: &Caller,
        name: &AutomationName,
    ) -> Result<Automation, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::automations::get(&client, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        project: &ProjectId,
        page: &PageRequest,
    ) -> Result<(Vec<Automation>, String), ApiError> {
        caller.require(project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut found =
            store::automations::list(&client, project, page.after.as_deref(), page.fetch_limit())
                .await?;
        let next = page.finish(&mut found, |a| a.name.id.to_string());
        Ok((found, next))
    }

    /// Replaces the display name and the draft (the caller merged its mask).
    pub async fn update(
        &self,
        caller: &Caller,
        name: &AutomationName,
        display_name: &str,
        draft: Spec,
        etag: Option<&str>,
    ) -> Result<Automation, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        check_names(&client, &draft, "automation.draft").await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let before = store::automations::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &before.etag)?;
        store::automations::update(&tx, name, display_name, &draft, &new_etag()).await?;
        let after = store::automations::get(&tx, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        audit::record(&tx, caller, audit_trail::updated(&before, &after)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(after)
    }

    /// Deletes an automation; its active runs are cancelled first.
    pub async fn delete(
        &self,
        caller: &Caller,
        name: &AutomationName,
        etag: Option<&str>,
    ) -> Result<(), ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::automations::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        let open = [RunState::Pending, RunState::Running, RunState::Waiting];
        for mut run in store::automation_runs::in_states(&tx, name, &open).await? {
            runs::cancel(
                &tx,
                &mut run,
                "CANCELLED_BY_CALLER",
                "its automation was deleted",
                runs::Stop::Wait,
            )
            .await?;
        }
        store::automations::delete(&tx, name).await?;
        audit::record(&tx, caller, audit_trail::deleted(&current)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(automation = %name, "automation deleted");
        Ok(())
    }

    /// Freezes the draft as the next version. The publisher's role must
    /// allow every action the steps start: runs act with it.
    pub async fn publish(
        &self,
        caller: &Caller,
        name: &AutomationName,
        etag: Option<&str>,
    ) -> Result<Automation, ApiError> {
        let role = caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let current = store::automations::get(&tx, name, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(etag, &current.etag)?;
        check_names(&tx, &current.draft, "automation.draft").await?;
        for step in &current.draft.steps {
            if let StepKind::Action {
                connection, action, ..
            } = &step.kind
            {
                let required = action_role(&tx, connection, action).await?;
                caller.require(&name.project, required)?;
            }
        }
        let version = store::automations::publish(
            &tx,
            name,
            &current.draft,
            caller.subject(),
            role,
            &new_etag(),
        )
        .await?;
        audit::record(
            &tx,
            caller,
            audit_trail::published(&current, version, role.as_str()),
        )
        .await?;
        let published = store::automations::get(&tx, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(automation = %name, version, "automation published");
        Ok(published)
    }
}

/// The minimum role of `action` on `connection`'s type.
async fn action_role(
    client: &impl GenericClient,
    connection: &ConnectionName,
    action: &str,
) -> Result<Role, ApiError> {
    let found = store::connections::get(client, connection)
        .await?
        .ok_or_else(|| ApiError::not_found(connection))?;
    let ty = store::catalog::get(client, &found.type_id)
        .await?
        .ok_or_else(|| {
            ApiError::internal("connection's type is missing", found.type_id.to_string())
        })?;
    ty.definition
        .spec
        .action(action)
        .map(|a| a.min_role)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "action",
                format!("{} has no action {action:?}", found.type_id),
            )
        })
}

/// Every connection a spec names exists, with the actions its steps start.
async fn check_names(client: &impl GenericClient, spec: &Spec, path: &str) -> Result<(), ApiError> {
    use crate::error::FieldViolation;
    let mut v = Vec::new();
    if let Source::Connection(c) = &spec.trigger.source
        && store::connections::get(client, c).await?.is_none()
    {
        v.push(FieldViolation::new(
            format!("{path}.trigger.connection"),
            format!("{c} does not exist"),
        ));
    }
    if let Source::Type(t) = &spec.trigger.source
        && store::catalog::get(client, t).await?.is_none()
    {
        v.push(FieldViolation::new(
            format!("{path}.trigger.integration_type"),
            format!("integrationTypes/{t} does not exist"),
        ));
    }
    for (i, step) in spec.steps.iter().enumerate() {
        let StepKind::Action {
            connection, action, ..
        } = &step.kind
        else {
            continue;
        };
        let Some(found) = store::connections::get(client, connection).await? else {
            v.push(FieldViolation::new(
                format!("{path}.steps[{i}].action.connection"),
                format!("{connection} does not exist"),
            ));
            continue;
        };
        let has = store::catalog::get(client, &found.type_id)
            .await?
            .is_some_and(|ty| ty.definition.spec.action(action).is_some());
        if !has {
            v.push(FieldViolation::new(
                format!("{path}.steps[{i}].action.action"),
                format!("{} has no action {action:?}", found.type_id),
            ));
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(v))
    }
}
