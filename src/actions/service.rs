//! The rules of StartAction, GetAction, ListActions and CancelAction: who
//! may, idempotency on request_id, and the per-user rate limit (held across
//! replicas by counting the table under an advisory lock).

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use serde_json::{Map, Value};

use super::{
    ActionConfig, Wake, audit_trail,
    model::{Action, ActionState},
    progress,
};
use crate::{
    audit,
    auth::{Caller, Role},
    error::{ApiError, ErrorCode},
    idempotency::RequestKey,
    names::{ActionName, ConnectionName, ProjectId, ResourceId},
    paging::PageRequest,
    registry::model::ConnectionState,
    status::bus::EventBus,
    store::{self, StoreError, actions::NewAction},
};

/// A validated StartAction request.
pub struct StartInput {
    pub connection: ConnectionName,
    pub action: String,
    pub params: Map<String, Value>,
    pub key: RequestKey,
    /// Set when an automation's run starts it: the runs that led to it,
    /// ending with that run. Such starts are held to the automation's own
    /// rate limit, not the per-user one.
    pub cause_chain: Option<Vec<String>>,
}

/// An action an automation's run starts: on its connection, as the role
/// the automation was published with allows, tagged with the runs that
/// led to it (the last one the run starting it).
pub struct RunStart<'a> {
    /// `projects/{p}/automations/{a}`: who the action is requested by.
    pub automation: &'a str,
    pub role: Role,
    pub connection: &'a ConnectionName,
    pub action: &'a str,
    pub params: &'a Map<String, Value>,
    /// The same for every attempt of the step, so a retry finds its action.
    pub request_id: uuid::Uuid,
    pub cause_chain: Vec<String>,
}

/// A validated ListActions request.
pub struct ListInput {
    pub project: ProjectId,
    pub connection: Option<ResourceId>,
    pub state: Option<ActionState>,
    pub page: PageRequest,
}

#[derive(Clone)]
pub struct Actions {
    pool: Pool,
    bus: EventBus,
    config: Arc<ActionConfig>,
    wake: Wake,
}

impl Actions {
    pub fn new(pool: Pool, bus: EventBus, config: Arc<ActionConfig>, wake: Wake) -> Self {
        Self {
            pool,
            bus,
            config,
            wake,
        }
    }

    /// The minimum role of `action` on `connection`'s type.
    async fn required_role(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        connection: &ConnectionName,
        action: &str,
    ) -> Result<(Role, ConnectionState), ApiError> {
        let found = store::connections::get(client, connection)
            .await?
            .ok_or_else(|| ApiError::not_found(connection))?;
        let ty = store::catalog::get(client, &found.type_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal("connection's type is missing", found.type_id.to_string())
            })?;
        let spec = ty.definition.spec.action(action).ok_or_else(|| {
            let known: Vec<&str> = ty
                .definition
                .spec
                .actions
                .iter()
                .map(|a| a.action.as_str())
                .collect();
            ApiError::invalid_field(
                "action",
                format!(
                    "{} has no action {action:?}; it has {}",
                    found.type_id,
                    known.join(", ")
                ),
            )
        })?;
        Ok((spec.min_role, found.state))
    }

    /// Starts (or, for a step that asked before, finds) a run's action.
    pub async fn start_for_run(&self, start: RunStart<'_>) -> Result<Action, ApiError> {
        let request = crate::proto::v1::StartActionRequest {
            connection: start.connection.to_string(),
            action: start.action.to_owned(),
            request_id: start.request_id.to_string(),
            params: Some(crate::proto::json::json_to_struct(start.params)),
        };
        let mut input = super::proto::start_from_proto(&request)?;
        input.cause_chain = Some(start.cause_chain);
        let project = start.connection.project.clone();
        let caller = Caller::new(
            start.automation.to_owned(),
            [(project, start.role)].into_iter().collect(),
            false,
        )
        .with_origin(crate::auth::Origin {
            method: "AutomationService.Run".to_owned(),
            peer: String::new(),
            user_agent: format!("patchbay/{}", env!("CARGO_PKG_VERSION")),
        });
        self.start(&caller, input).await
    }

    pub async fn start(&self, caller: &Caller, input: StartInput) -> Result<Action, ApiError> {
        let project = &input.connection.project;
        caller.require(project, Role::Viewer)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let (min_role, state) = self
            .required_role(&client, &input.connection, &input.action)
            .await?;
        caller.require(project, min_role)?;
        if state == ConnectionState::Disabled {
            return Err(ApiError::new(
                ErrorCode::FailedPrecondition,
                "CONNECTION_DISABLED",
                format!("{} is disabled; enable it first", input.connection),
            ));
        }
        let tx = client.transaction().await.map_err(StoreError::from)?;
        store::actions::lock_caller(&tx, project, caller.subject()).await?;
        if let Some(existing) = store::actions::by_request(&tx, project, input.key.id).await? {
            // A replay: the same action, no second effect, not counted.
            input.key.check_replay(&existing.request_hash)?;
            return Ok(existing);
        }
        let window = self.config.rate_window;
        if input.cause_chain.is_none() {
            let (recent, resets_in) =
                store::actions::recent_starts(&tx, project, caller.subject(), window).await?;
            if recent >= i64::from(self.config.rate_limit) {
                return Err(rate_limited(
                    caller,
                    project,
                    self.config.rate_limit,
                    window,
                    resets_in,
                ));
            }
        }
        let name = ActionName {
            project: project.clone(),
            id: ResourceId::generate("act"),
        };
        let action = store::actions::insert(
            &tx,
            &NewAction {
                name: &name,
                connection: &input.connection,
                action: &input.action,
                params: &input.params,
                max_attempts: i32::try_from(self.config.max_attempts).unwrap_or(i32::MAX),
                requested_by: caller.subject(),
                request_id: input.key.id,
                request_hash: &input.key.digest,
                cause_chain: input.cause_chain.as_deref().unwrap_or_default(),
            },
        )
        .await?;
        let payload = progress::event(
            &action.name,
            &action.connection.to_string(),
            ActionState::Pending,
            0,
            "queued",
        );
        store::status::append(&tx, project, &payload).await?;
        audit::record(&tx, caller, audit_trail::started(&action)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.bus.wake();
        self.wake.notify_one();
        tracing::info!(action = %action.name, kind = %action.action, connection = %action.connection, "action queued");
        Ok(action)
    }

    pub async fn get(&self, caller: &Caller, name: &ActionName) -> Result<Action, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        store::actions::get(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        input: &ListInput,
    ) -> Result<(Vec<Action>, String), ApiError> {
        caller.require(&input.project, Role::Viewer)?;
        let after = match &input.page.after {
            None => None,
            Some(key) => Some(
                key.split_once('/')
                    .and_then(|(micros, id)| Some((micros.parse::<i64>().ok()?, id.to_owned())))
                    .ok_or_else(|| {
                        ApiError::invalid_field("page_token", "is not a token this API issued")
                    })?,
            ),
        };
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let mut actions = store::actions::list(
            &client,
            &input.project,
            input.connection.as_ref().map(ResourceId::as_str),
            input.state,
            after,
            input.page.fetch_limit(),
        )
        .await?;
        let next = input.page.finish(&mut actions, |a| {
            format!("{}/{}", a.create_time.timestamp_micros(), a.name.id)
        });
        Ok((actions, next))
    }

    /// Cancels a pending action at once. A running one is asked to stop
    /// (its worker hears of it through the event log, on any replica) and
    /// the answer waits for the outcome: CANCELLED when the effect was
    /// stopped in time, FAILED_PRECONDITION when it had already finished.
    pub async fn cancel(&self, caller: &Caller, name: &ActionName) -> Result<Action, ApiError> {
        caller.require(&name.project, Role::Viewer)?;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let existing = store::actions::get(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        // Cancelling takes the role that may start it.
        let (min_role, _) = self
            .required_role(&client, &existing.connection, &existing.action)
            .await?;
        caller.require(&name.project, min_role)?;
        // Before the request is written, so the outcome cannot be missed.
        let mut events = self.bus.subscribe(&name.project);
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let Some(action) = store::actions::cancel(&tx, name).await? else {
            return Err(finished(name, existing.state));
        };
        let message = match action.state {
            ActionState::Cancelled => "cancelled",
            _ => "cancel requested",
        };
        let payload = progress::event(
            &action.name,
            &action.connection.to_string(),
            action.state,
            action.progress_percent,
            message,
        );
        store::status::append(&tx, &name.project, &payload).await?;
        audit::record(
            &tx,
            caller,
            audit_trail::cancel_requested(&existing, &action),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.bus.wake();
        tracing::info!(action = %name, by = caller.subject(), "{message}");
        if action.state == ActionState::Cancelled {
            return Ok(action);
        }
        drop(client);
        let outcome = self.wait_for_end(name, &mut events).await?;
        match outcome.state {
            ActionState::Cancelled => Ok(outcome),
            ActionState::Succeeded | ActionState::Failed => Err(finished(name, outcome.state)),
            // Its worker neither stopped nor finished in time (it may be
            // gone: the next claim sees the request and cancels it).
            ActionState::Pending | ActionState::Running => Ok(outcome),
        }
    }

    /// The action once it has ended, or as it is after a worker's lease
    /// (the longest a live worker takes to hear of the cancel, or a dead
    /// one's action to be claimed again).
    async fn wait_for_end(
        &self,
        name: &ActionName,
        events: &mut tokio::sync::broadcast::Receiver<Arc<crate::status::bus::BusEvent>>,
    ) -> Result<Action, ApiError> {
        let deadline = tokio::time::Instant::now() + self.config.lease * 2;
        loop {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            let action = store::actions::get(&client, name)
                .await?
                .ok_or_else(|| ApiError::not_found(name))?;
            drop(client);
            if action.state.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(action);
            }
            // Wake on this action's next event; re-read at least every second.
            let next = async {
                loop {
                    match events.recv().await {
                        Ok(event) if progress::is_about(&event.event.payload, name) => return,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            std::future::pending::<()>().await;
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), next).await;
        }
    }
}

fn finished(name: &ActionName, state: ActionState) -> ApiError {
    ApiError::new(
        ErrorCode::FailedPrecondition,
        "ACTION_FINISHED",
        format!("{name} has already finished"),
    )
    .with_metadata("state", state.as_str().to_uppercase())
}

fn rate_limited(
    caller: &Caller,
    project: &ProjectId,
    limit: u32,
    window: Duration,
    resets_in: f64,
) -> ApiError {
    let retry = Duration::from_secs_f64(resets_in.max(0.0)).max(Duration::from_secs(1));
    ApiError::new(
        ErrorCode::ResourceExhausted,
        "RATE_LIMITED",
        format!(
            "at most {limit} actions per {} s per user and project; retry in {} s",
            window.as_secs(),
            retry.as_secs()
        ),
    )
    .with_retry_after(retry)
    .with_quota_violation(
        format!("users/{}/projects/{project}", caller.subject()),
        format!("{limit} StartAction calls per {} s", window.as_secs()),
    )
}
