//! The RPCs about runs: starting one by hand, dry runs, reading, cancelling
//! and replaying.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::{Automations, ReplayVersion, not_published};
use crate::{
    audit,
    auth::{Caller, Role},
    automations::{
        audit_trail,
        dry_run::{self, DryRun, Target},
        model::{Event, Run, RunState, RunTrigger, Source, StepKind, Version},
        runs::{self, Start},
    },
    error::{ApiError, ErrorCode},
    idempotency::RequestKey,
    names::{AutomationName, ConnectionName, RunName},
    paging::PageRequest,
    store::{self, StoreError},
};

impl Automations {
    /// The trigger's connection, the default of a sample event's.
    pub async fn trigger_connection(
        &self,
        name: &AutomationName,
    ) -> Result<Option<ConnectionName>, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let Some(a) = store::automations::get(&client, name, false).await? else {
            return Ok(None);
        };
        let spec = a.published.as_ref().map_or(&a.draft, |v| &v.spec);
        Ok(match &spec.trigger.source {
            Source::Connection(c) => Some(c.clone()),
            Source::Type(_) => None,
        })
    }

    /// Starts a run of the published version with a sample event. The
    /// trigger is not consulted: the caller asked for the run.
    pub async fn run(
        &self,
        caller: &Caller,
        name: &AutomationName,
        event: Event,
        request: Option<RequestKey>,
    ) -> Result<Run, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        if !store::automations::lock(&tx, name).await? {
            return Err(ApiError::not_found(name));
        }
        if let Some(found) = replayed(&tx, name, request.as_ref()).await? {
            return Ok(found);
        }
        let current = store::automations::get(&tx, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let version = current.published.ok_or_else(|| not_published(name))?;
        let run = self
            .start(
                &tx,
                caller,
                &version,
                event,
                RunTrigger::Manual,
                None,
                request,
            )
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.bus.wake();
        self.runs.notify_one();
        Ok(run)
    }

    /// Admits a run in `tx` and records it; the caller commits.
    #[allow(clippy::too_many_arguments)]
    async fn start(
        &self,
        tx: &impl GenericClient,
        caller: &Caller,
        version: &Version,
        event: Event,
        trigger: RunTrigger,
        replay_of: Option<String>,
        request: Option<RequestKey>,
    ) -> Result<Run, ApiError> {
        let start = Start {
            version,
            event,
            trigger,
            delivery_id: None,
            cause_chain: Vec::new(),
            replay_of,
            request: request.as_ref(),
            loop_depth: self.config.loop_depth,
        };
        let (run, events) = runs::admit(tx, &start).await?.ok_or_else(|| {
            ApiError::internal("a new run collided", version.automation.to_string())
        })?;
        for e in &events {
            store::status::append(tx, &version.automation.project, e).await?;
        }
        audit::record(tx, caller, audit_trail::run(&run, request.map(|r| r.id))).await?;
        Ok(run)
    }

    /// What a run would do with `event`, against the published version or
    /// the draft, with no effect.
    pub async fn dry_run(
        &self,
        caller: &Caller,
        name: &AutomationName,
        event: &Event,
        draft: bool,
    ) -> Result<DryRun, ApiError> {
        caller.require(&name.project, Role::Editor)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let current = store::automations::get(&client, name, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let (spec, version) = match (&current.published, draft) {
            (_, true) => (&current.draft, 0),
            (Some(v), false) => (&v.spec, v.number),
            (None, false) => return Err(not_published(name)),
        };
        let mut targets = HashMap::new();
        let named = spec.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Action { connection, .. } => Some(connection),
            _ => None,
        });
        for connection in std::iter::once(&event.connection).chain(named) {
            if targets.contains_key(connection) {
                continue;
            }
            if let Some(target) = self.target(&client, connection).await? {
                targets.insert(connection.clone(), target);
            }
        }
        Ok(dry_run::plan(spec, version, event, &targets))
    }

    async fn target(
        &self,
        client: &impl GenericClient,
        name: &ConnectionName,
    ) -> Result<Option<Target>, ApiError> {
        let Some(connection) = store::connections::get(client, name).await? else {
            return Ok(None);
        };
        let Some(ty) = store::catalog::get(client, &connection.type_id).await? else {
            return Ok(None);
        };
        let base_uri = self.registry.base_urls().api(
            connection.type_id.as_str(),
            &ty.definition.spec,
            &connection.settings,
        );
        Ok(Some(Target {
            type_id: connection.type_id,
            spec: ty.definition.spec,
            base_uri,
            settings: connection.settings,
        }))
    }

    pub async fn get_run(&self, caller: &Caller, name: &RunName) -> Result<Run, ApiError> {
        caller.require(&name.automation.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::automation_runs::get(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn list_runs(
        &self,
        caller: &Caller,
        automation: &AutomationName,
        state: Option<RunState>,
        page: &PageRequest,
    ) -> Result<(Vec<Run>, String), ApiError> {
        caller.require(&automation.project, Role::Viewer)?;
        let after = match &page.after {
            None => None,
            Some(key) => Some(
                key.split_once('/')
                    .and_then(|(micros, id)| {
                        let t = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
                        Some((t, id.to_owned()))
                    })
                    .ok_or_else(|| {
                        ApiError::invalid_field("page_token", "is not a token this API issued")
                    })?,
            ),
        };
        let client = self.pool.get().await.map_err(StoreError::from)?;
        if store::automations::get(&client, automation, false)
            .await?
            .is_none()
        {
            return Err(ApiError::not_found(automation));
        }
        let mut found = store::automation_runs::list(
            &client,
            automation,
            state,
            after.as_ref().map(|(t, id)| (*t, id.as_str())),
            page.fetch_limit(),
        )
        .await?;
        let next = page.finish(&mut found, |r| {
            format!("{}/{}", r.create_time.timestamp_micros(), r.name.id)
        });
        Ok((found, next))
    }

    pub async fn cancel_run(&self, caller: &Caller, name: &RunName) -> Result<Run, ApiError> {
        let automation = &name.automation;
        caller.require(&automation.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        if !store::automations::lock(&tx, automation).await? {
            return Err(ApiError::not_found(name));
        }
        let mut run = store::automation_runs::get(&tx, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        if run.state.is_final() {
            return Err(ApiError::new(
                ErrorCode::FailedPrecondition,
                "RUN_FINISHED",
                format!("{name} already ended ({})", run.state.as_str()),
            ));
        }
        let event = runs::cancel(
            &tx,
            &mut run,
            "CANCELLED_BY_CALLER",
            "cancelled by a caller",
            runs::Stop::Wait,
        )
        .await?;
        store::status::append(&tx, &automation.project, &event).await?;
        for e in runs::promote_buffered(&tx, automation).await? {
            store::status::append(&tx, &automation.project, &e).await?;
        }
        audit::record(&tx, caller, audit_trail::run(&run, None)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.bus.wake();
        self.runs.notify_one();
        Ok(run)
    }

    /// Runs a finished run's event again, as a new run of the version the
    /// caller chose.
    pub async fn replay(
        &self,
        caller: &Caller,
        name: &RunName,
        version: ReplayVersion,
        request: Option<RequestKey>,
    ) -> Result<Run, ApiError> {
        let automation = &name.automation;
        caller.require(&automation.project, Role::Editor)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        if !store::automations::lock(&tx, automation).await? {
            return Err(ApiError::not_found(name));
        }
        if let Some(found) = replayed(&tx, automation, request.as_ref()).await? {
            return Ok(found);
        }
        let original = store::automation_runs::get(&tx, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        if !original.state.is_final() {
            return Err(ApiError::new(
                ErrorCode::FailedPrecondition,
                "RUN_NOT_FINISHED",
                format!("{name} has not ended; replay it once it has"),
            ));
        }
        let number = match version {
            ReplayVersion::Run => original.version,
            ReplayVersion::Published => {
                store::automations::get(&tx, automation, false)
                    .await?
                    .and_then(|a| a.published)
                    .ok_or_else(|| not_published(automation))?
                    .number
            }
        };
        let chosen = store::automations::version(&tx, automation, number)
            .await?
            .ok_or_else(|| ApiError::internal("a run's version is missing", name.to_string()))?;
        let mut event = original.event.clone();
        event.delivery = None;
        let run = self
            .start(
                &tx,
                caller,
                &chosen,
                event,
                RunTrigger::Replay,
                Some(name.to_string()),
                request,
            )
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.bus.wake();
        self.runs.notify_one();
        Ok(run)
    }
}

/// The run a request id started before, when this is a retry of it.
async fn replayed(
    client: &impl GenericClient,
    automation: &AutomationName,
    request: Option<&RequestKey>,
) -> Result<Option<Run>, ApiError> {
    let Some(request) = request else {
        return Ok(None);
    };
    match store::automation_runs::by_request(client, automation, request.id).await? {
        Some((run, digest)) => {
            request.check_replay(&digest)?;
            Ok(Some(run))
        }
        None => Ok(None),
    }
}
