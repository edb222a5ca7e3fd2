//! What each action does: the ones every connection has (probes,
//! reconnect, disconnect and sync, in `sync`) here, and the rest by the
//! connection's provider.

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use deadpool_postgres::Pool;
use serde_json::{Map, Value, json};

use super::{model::Action, progress::Progress, sync};
use crate::{
    error::{ApiError, ErrorCode},
    providers::{self, ActionCall, Call, EffectError, ProbeError, Provider, Repeat, object},
    registry::{
        Registry,
        model::TypeSpec,
        model::{Connection, ConnectionState},
        oauth::RefreshError,
    },
    status::{model::ProblemCode, prober::Prober},
    store::{self, StoreError},
};

impl From<StoreError> for EffectError {
    fn from(e: StoreError) -> Self {
        Self::transient(e.into())
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

/// How long one provider request of an action may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection with its type, provider and opened credentials.
pub struct Target {
    pub connection: Connection,
    pub spec: TypeSpec,
    pub provider: Option<&'static dyn Provider>,
    pub base_uri: String,
    pub credentials: BTreeMap<String, String>,
}

impl Target {
    pub fn call<'a>(&'a self, http: &'a reqwest::Client) -> Call<'a> {
        Call {
            http,
            base_uri: &self.base_uri,
            settings: &self.connection.settings,
            credentials: &self.credentials,
            timeout: CALL_TIMEOUT,
            now: Utc::now(),
        }
    }
}

impl Effects {
    pub fn new(pool: Pool, registry: Registry, prober: Prober) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")))
            .timeout(CALL_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            pool,
            registry,
            prober,
            http,
        }
    }

    /// What an action every connection has would do, in words, for a dry
    /// run; `None` for a provider's own action.
    pub fn plan_builtin(action: &str) -> Option<&'static str> {
        Some(match action {
            "test-connection" | "refresh" | "configure" => "a live probe of the connection",
            "reconnect" => "the connection marked active again, then probed",
            "disconnect" => "the connection's token revoked upstream and its credentials dropped",
            "sync" => "the provider's records read page by page into Patchbay",
            _ => return None,
        })
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
            "sync" => {
                let target = self.target(action).await?;
                sync::run(self, &target, action, progress).await
            }
            other => {
                let target = self.target(action).await?;
                let Some(provider) = target.provider else {
                    return Err(providers::unsupported(other));
                };
                let earlier_attempt = action.effect_started_attempt.is_some();
                let unconfirmed = earlier_attempt && provider.repeat(other) == Repeat::Unchecked;
                if !progress.effect_starting(unconfirmed).await? {
                    return Err(lease_lost());
                }
                if unconfirmed {
                    tracing::warn!(
                        "an earlier attempt may have run this effect, and the provider offers no \
                         way to check: running it again"
                    );
                    progress
                        .report(
                            action.progress_percent,
                            "an earlier attempt may have run this already; running it again",
                        )
                        .await?;
                }
                let call = ActionCall {
                    action: other,
                    id: action.name.id.as_str(),
                    earlier_attempt,
                    params: &action.params,
                    progress,
                };
                provider
                    .act(&target.call(&self.http), &call)
                    .await
                    .unwrap_or_else(|| Err(providers::unsupported(other)))
            }
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
            provider: providers::find(&spec.probe),
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
            self.registry
                .reactivate(&action.connection, &target.connection.type_id)
                .await
                .map_err(registry_failure)?;
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
        self.registry
            .mark_revoked(&action.connection, &target.connection.type_id)
            .await
            .map_err(registry_failure)?;
        Ok(object(
            json!({"state": "REVOKED", "revoked_upstream": revoked_upstream}),
        ))
    }
}

/// The attempt no longer holds the action; its end will not be recorded.
fn lease_lost() -> EffectError {
    EffectError::transient(ApiError::new(
        ErrorCode::Aborted,
        "LEASE_LOST",
        "another worker holds the action now",
    ))
}

/// A registry call that failed: worth retrying only when the database was
/// away.
fn registry_failure(error: ApiError) -> EffectError {
    if error.code() == ErrorCode::Unavailable {
        EffectError::transient(error)
    } else {
        EffectError::permanent(error)
    }
}
