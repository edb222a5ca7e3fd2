//! What each action does, against the provider through its API: probes,
//! reconnect and disconnect, a Vercel deployment, a GitHub repository
//! dispatch, and sync (in `sync`).

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use deadpool_postgres::Pool;
use serde_json::{Map, Value, json};

use super::{
    model::Action,
    progress::Progress,
    providers::{github_dispatch, vercel_deploy},
    sync,
};
use crate::{
    adapters::ProbeError,
    error::{ApiError, ErrorCode},
    registry::{
        Registry,
        catalog::TypeSpec,
        connections::{Connection, ConnectionState},
        oauth::RefreshError,
    },
    status::{items, model::ProblemCode, prober::Prober},
    store::{self, StoreError},
};

/// An attempt that failed: retried when transient, final otherwise.
#[derive(Debug)]
pub struct EffectError {
    pub error: ApiError,
    pub transient: bool,
    /// The provider's own wait, when it named one.
    pub retry_after: Option<Duration>,
}

impl EffectError {
    pub fn permanent(error: ApiError) -> Self {
        Self {
            error,
            transient: false,
            retry_after: None,
        }
    }

    pub fn transient(error: ApiError) -> Self {
        Self {
            error,
            transient: true,
            retry_after: None,
        }
    }
}

impl From<StoreError> for EffectError {
    fn from(e: StoreError) -> Self {
        Self::transient(e.into())
    }
}

impl From<ProbeError> for EffectError {
    fn from(e: ProbeError) -> Self {
        let problem = e.problem();
        let reason = problem.code.as_str();
        match &e {
            ProbeError::Transient(_) => {
                Self::transient(ApiError::unavailable(reason, problem.hint.clone()))
            }
            ProbeError::RateLimited(p) => Self {
                error: ApiError::new(ErrorCode::ResourceExhausted, reason, p.hint.clone()),
                transient: true,
                retry_after: p.retry_after,
            },
            ProbeError::Definitive(p) => Self::permanent(ApiError::new(
                ErrorCode::FailedPrecondition,
                reason,
                p.hint.clone(),
            )),
        }
    }
}

/// What effects need: the store, the registry (credentials and where each
/// provider is called), the prober and an HTTP client.
#[derive(Clone)]
pub struct Effects {
    pub(super) pool: Pool,
    registry: Registry,
    prober: Prober,
    pub(super) http: reqwest::Client,
}

/// A connection with its type and opened credentials, for provider calls.
pub struct Target {
    pub connection: Connection,
    pub spec: TypeSpec,
    pub base_uri: String,
    pub credentials: BTreeMap<String, String>,
}

impl Target {
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.connection
            .settings
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn bearer(&self) -> Result<&str, EffectError> {
        ["access_token", "token"]
            .iter()
            .find_map(|k| self.credentials.get(*k).filter(|v| !v.is_empty()))
            .map(String::as_str)
            .ok_or_else(|| {
                EffectError::permanent(ApiError::new(
                    ErrorCode::FailedPrecondition,
                    "CREDENTIALS_MISSING",
                    "the connection has no access token; set its credentials",
                ))
            })
    }

    pub fn is_oauth(&self) -> bool {
        self.credentials.contains_key("refresh_token")
    }
}

impl Effects {
    pub fn new(pool: Pool, registry: Registry, prober: Prober) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            pool,
            registry,
            prober,
            http,
        }
    }

    /// Runs `action`'s effect; its result on success.
    pub async fn run(
        &self,
        action: &Action,
        progress: &Progress,
    ) -> Result<Map<String, Value>, EffectError> {
        match action.action.as_str() {
            "test-connection" | "refresh" | "configure" => self.probe(action).await,
            "reconnect" => self.reconnect(action).await,
            "disconnect" => self.disconnect(action).await,
            "deploy" | "deploy-preview" => {
                let target = self.target(action).await?;
                progress.report(30, "creating the deployment").await?;
                vercel_deploy(&self.http, &target, action).await
            }
            "push" | "pull" => {
                let target = self.target(action).await?;
                github_dispatch(&self.http, &target, action).await
            }
            "sync" => {
                let target = self.target(action).await?;
                sync::run(self, &target, action, progress).await
            }
            other => Err(EffectError::permanent(ApiError::new(
                ErrorCode::Unimplemented,
                "ACTION_NOT_SUPPORTED",
                format!("{other} has no effect Patchbay can run"),
            ))),
        }
    }

    /// The action's connection, type, base URL and fresh credentials.
    pub async fn target(&self, action: &Action) -> Result<Target, EffectError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let connection = store::connections::get(&client, &action.connection)
            .await?
            .ok_or_else(|| EffectError::permanent(ApiError::not_found(&action.connection)))?;
        let ty = store::catalog::get(&client, &connection.type_id)
            .await?
            .ok_or_else(|| {
                EffectError::permanent(ApiError::internal(
                    "connection's type is missing",
                    connection.type_id.to_string(),
                ))
            })?;
        drop(client);
        let spec = ty.definition.spec;
        let credentials = match self
            .registry
            .fresh_credentials(&connection.name, &connection.type_id, &spec, &self.http)
            .await
        {
            Ok(credentials) => credentials.unwrap_or_default(),
            Err(RefreshError::Revoked) => {
                return Err(EffectError::permanent(ApiError::new(
                    ErrorCode::FailedPrecondition,
                    ProblemCode::OauthRevoked.as_str(),
                    "the provider refused to refresh the token; reconnect the integration",
                )));
            }
            Err(RefreshError::Unreachable(_) | RefreshError::Provider(_)) => {
                return Err(EffectError::transient(ApiError::unavailable(
                    ProblemCode::Unreachable.as_str(),
                    "the provider's token endpoint is not answering",
                )));
            }
            Err(RefreshError::Store(e)) => return Err(e.into()),
            Err(RefreshError::Credentials(e)) => return Err(EffectError::permanent(e)),
        };
        let base_uri =
            self.registry
                .base_urls()
                .api(connection.type_id.as_str(), &spec, &connection.settings);
        Ok(Target {
            connection,
            spec,
            base_uri,
            credentials,
        })
    }

    /// Probes the provider now and reports its answer: never the cached
    /// status, nor the stale fallback a failed probe leaves for readers. A
    /// probe of the connection in flight is waited for (it costs no
    /// attempt); a provider that fails the probe fails the action at once,
    /// with the problem code as its reason, unless it asked for a wait.
    async fn probe(&self, action: &Action) -> Result<Map<String, Value>, EffectError> {
        let probe = self
            .prober
            .probe_now(&action.connection)
            .await
            .map_err(|e| {
                let transient = e.code() == ErrorCode::Unavailable;
                EffectError {
                    error: e,
                    transient,
                    retry_after: None,
                }
            })?;
        let observation = match probe.answer {
            Ok(observation) => observation,
            Err(ProbeError::RateLimited(problem)) => {
                return Err(ProbeError::RateLimited(problem).into());
            }
            Err(failed) => {
                let problem = failed.problem();
                let code = match failed {
                    ProbeError::Transient(_) => ErrorCode::Unavailable,
                    _ => ErrorCode::FailedPrecondition,
                };
                return Err(EffectError::permanent(
                    ApiError::new(code, problem.code.as_str(), problem.hint.clone())
                        .with_metadata("status", "ERROR"),
                ));
            }
        };
        let level = serde_json::to_value(observation.level).unwrap_or(Value::Null);
        let mut result = json!({
            "status": level.as_str().unwrap_or_default().to_uppercase(),
            "summary": observation.summary,
        });
        result["latency_ms"] = json!(u64::try_from(probe.latency.as_millis()).unwrap_or(u64::MAX));
        if let Some(problem) = &observation.problem {
            result["problem"] = json!({"code": problem.code.as_str(), "hint": problem.hint});
        }
        Ok(object(result))
    }

    /// Re-activates a connection whose credentials are complete, then probes.
    async fn reconnect(&self, action: &Action) -> Result<Map<String, Value>, EffectError> {
        let target = self.target(action).await?;
        if !target
            .spec
            .credentials_complete(|k| target.credentials.contains_key(k))
        {
            return Err(EffectError::permanent(ApiError::new(
                ErrorCode::FailedPrecondition,
                "CREDENTIALS_MISSING",
                "the connection's credentials are incomplete; set them, then reconnect",
            )));
        }
        if target.connection.state != ConnectionState::Active {
            let mut client = self.pool.get().await.map_err(StoreError::from)?;
            let tx = client.transaction().await.map_err(StoreError::from)?;
            store::connection_secrets::set_state(&tx, &action.connection, ConnectionState::Active)
                .await?;
            let item = items::for_state(
                &action.connection,
                &target.connection.type_id,
                ConnectionState::Active,
                Utc::now(),
            );
            store::status::record_item(&tx, &action.connection, &item, true).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        self.probe(action).await
    }

    /// Revokes the token upstream (where the type can) and marks the
    /// connection REVOKED, dropping its credentials.
    async fn disconnect(&self, action: &Action) -> Result<Map<String, Value>, EffectError> {
        let target = self.target(action).await?;
        let revoked_upstream = self
            .registry
            .revoke_upstream(
                &action.connection,
                &target.connection.type_id,
                &target.spec,
                &target.credentials,
            )
            .await;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        store::connection_secrets::revoke(&tx, &action.connection).await?;
        let item = items::for_state(
            &action.connection,
            &target.connection.type_id,
            ConnectionState::Revoked,
            Utc::now(),
        );
        store::status::record_item(&tx, &action.connection, &item, false).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(object(
            json!({"state": "REVOKED", "revoked_upstream": revoked_upstream}),
        ))
    }
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
