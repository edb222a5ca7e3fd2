//! What the evaluator is told: a probe's or an action's outcome, or a
//! change in a connection's dead letters. Each is observed in the
//! transaction that records it.

use crate::{names::ConnectionName, status::model::Level};

/// One probe or action outcome, as health history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub source: Source,
    pub ok: bool,
    /// The problem code of a failure, or of a warning short of one.
    pub reason: Option<String>,
    /// What the provider reported left of its rate limit.
    pub rate_limit_remaining: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Probe,
    Action,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::Action => "action",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// A probe, with the status level and reason it left the connection in.
    Probe {
        sample: Sample,
        level: Level,
        reason: Option<String>,
    },
    Action(Sample),
    /// A delivery was dead-lettered, or dead letters were redriven.
    DeadLetters,
    /// Runs its deliveries started were held by a rate limit, or released.
    HeldRuns,
}

impl Observed {
    pub fn sample(&self) -> Option<&Sample> {
        match self {
            Self::Probe { sample, .. } | Self::Action(sample) => Some(sample),
            Self::DeadLetters | Self::HeldRuns => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub connection: ConnectionName,
    pub observed: Observed,
}
