//! DiagnoseConnection's checks: each PASS, WARN or FAIL with a fixed
//! reason, what was found, and what to do, naming the setting, credential
//! or action. Configuration and credentials in `setup`, webhooks in
//! `inbound`, the live probe and recent failures in `live`.

mod inbound;
mod live;
mod setup;

use std::time::Duration;

use chrono::Utc;

use super::service::Diagnostics;
use crate::{
    error::ApiError,
    names::ConnectionName,
    store::{self, StoreError},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    pub reason: &'static str,
    pub message: String,
    pub remediation: String,
    pub action: Option<&'static str>,
}

impl Check {
    pub fn pass(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Pass,
            reason: "OK",
            message: message.into(),
            remediation: String::new(),
            action: None,
        }
    }

    pub fn warn(name: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Warn,
            reason,
            ..Self::pass(name, message)
        }
    }

    pub fn fail(name: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Fail,
            reason,
            ..Self::pass(name, message)
        }
    }

    pub fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = remediation.into();
        self
    }

    pub fn run(mut self, action: &'static str) -> Self {
        self.action = Some(action);
        self
    }
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub connection: ConnectionName,
    pub checks: Vec<Check>,
}

impl Diagnosis {
    pub fn worst(&self) -> Outcome {
        self.checks
            .iter()
            .map(|c| c.outcome)
            .max()
            .unwrap_or(Outcome::Pass)
    }

    /// What to do, failures first.
    pub fn recommendations(&self) -> Vec<String> {
        let mut ordered: Vec<&Check> = self
            .checks
            .iter()
            .filter(|c| c.outcome != Outcome::Pass && !c.remediation.is_empty())
            .collect();
        ordered.sort_by_key(|c| std::cmp::Reverse(c.outcome));
        ordered.iter().map(|c| c.remediation.clone()).collect()
    }

    pub fn critical_issues(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| format!("{}: {}", c.name, c.message))
            .collect()
    }
}

impl Diagnostics {
    /// Every check on `name`; the live probe gets at most `probe_budget`.
    pub(super) async fn checks(
        &self,
        name: &ConnectionName,
        probe_budget: Duration,
    ) -> Result<Diagnosis, ApiError> {
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let connection = store::connections::get(&client, name)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let ty = store::catalog::get(&client, &connection.type_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal(
                    "connection's type is missing",
                    connection.type_id.to_string(),
                )
            })?;
        let since = Utc::now() - chrono::Duration::days(1);
        let refusals = store::webhook_refusals::since(&client, name, since).await?;
        let (dead_letters, failed_actions) =
            store::vitals::connection_failures(&client, name, since).await?;
        drop(client);
        let spec = &ty.definition.spec;
        let mut checks = vec![setup::settings(spec, &connection)];
        checks.extend(self.credential_checks(spec, &connection).await);
        checks.extend(inbound::checks(spec, &connection, &refusals));
        checks.extend(self.live_checks(&connection, probe_budget).await);
        checks.extend(live::recent_failures(dead_letters, failed_actions));
        Ok(Diagnosis {
            connection: name.clone(),
            checks,
        })
    }
}
