//! What providers answer: a probe's observation or classified failure, an
//! action's failure, a sync page, and what a webhook says about health.

use std::time::Duration;

use serde_json::Value;

use crate::{
    error::{ApiError, ErrorCode},
    status::model::{EnvironmentStatus, Level, Problem, ProblemCode},
};

/// A successful probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub level: Level,
    /// For owners, admins and editors: names, URLs, details.
    pub summary: String,
    /// For viewers: nothing that names or locates anything.
    pub redacted_summary: String,
    pub environments: Vec<EnvironmentStatus>,
    /// A problem short of failure, e.g. an API budget nearly spent.
    pub problem: Option<Problem>,
    /// What the provider reported left of its rate limit (the scarcest
    /// budget when it reports several).
    pub rate_limit_remaining: Option<i64>,
}

impl Observation {
    pub fn new(level: Level, summary: impl Into<String>, redacted: impl Into<String>) -> Self {
        Self {
            level,
            summary: summary.into(),
            redacted_summary: redacted.into(),
            environments: Vec::new(),
            problem: None,
            rate_limit_remaining: None,
        }
    }

    /// The provider's remaining rate limit, as its headers said.
    pub fn with_rate_limit_remaining(self, left: Option<i64>) -> Self {
        Self {
            rate_limit_remaining: left,
            ..self
        }
    }

    /// Reachable, but with under a tenth of the provider's API budget left:
    /// a warning that names the budget, before calls start being refused.
    pub fn budget_nearly_spent(self, redacted: &str, hint: &str) -> Self {
        Self {
            level: Level::Warning,
            redacted_summary: redacted.to_owned(),
            problem: Some(problem(ProblemCode::RateLimited, hint)),
            ..self
        }
    }
}

/// A failed provider call, by what it means for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The provider answered, and the answer is the status (bad token,
    /// missing repository): shown as ERROR at once.
    Definitive(Problem),
    /// The provider could not be asked (timeout, refused, 5xx): the last good
    /// status is served as stale, and repeats open the circuit.
    Transient(Problem),
    /// The provider's budget is spent: wait `retry_after`; opens no circuit.
    RateLimited(Problem),
}

impl ProbeError {
    pub fn problem(&self) -> &Problem {
        match self {
            Self::Definitive(p) | Self::Transient(p) | Self::RateLimited(p) => p,
        }
    }

    pub fn misconfigured(hint: impl Into<String>) -> Self {
        Self::Definitive(problem(ProblemCode::Misconfigured, hint))
    }
}

pub fn problem(code: ProblemCode, hint: impl Into<String>) -> Problem {
    Problem {
        code,
        hint: hint.into(),
        retry_after: None,
    }
}

/// An action's attempt that failed: retried when transient, final otherwise.
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

/// One page of records: `(external id, record)` pairs, and where the next
/// page starts.
pub struct SyncPage {
    pub records: Vec<(String, Value)>,
    pub next: Option<String>,
}

impl SyncPage {
    /// The records of a provider's array, each keyed by its `id_field`.
    pub fn records(list: &Value, id_field: &str) -> Vec<(String, Value)> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|record| Some((record[id_field].as_str()?.to_owned(), record.clone())))
            .collect()
    }
}

/// What a webhook event says about its connection's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// A deployment failed (Vercel `deployment.error`): shown as ERROR now.
    DeploymentFailed {
        environment: String,
        url: Option<String>,
    },
    /// Something changed upstream (a push, a new deployment): probe again
    /// now rather than at the next TTL.
    Changed,
}

/// How long ago, in the words summaries use.
pub fn age_words(days: i64, hours: i64) -> String {
    match (days, hours) {
        (0, 0) => "under an hour ago".to_owned(),
        (0, 1) => "1 hour ago".to_owned(),
        (0, h) => format!("{h} hours ago"),
        (1, _) => "1 day ago".to_owned(),
        (d, _) => format!("{d} days ago"),
    }
}

/// An action's result: `value`'s fields (a non-object gives none).
pub fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
