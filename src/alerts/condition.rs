//! Whether a rule's condition holds on an observation, given the facts
//! the evaluator read for it. Pure: the SQL is the evaluator's.

use super::{
    model::Condition,
    observation::{Observed, Sample},
};
use crate::status::model::Level;

/// What an observation says about one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The condition holds: fire, or keep firing. Says what held.
    Holds(String),
    /// A failure short of the condition: fires nothing, but a firing
    /// alert's healthy streak starts again.
    Failing,
    /// The condition does not hold: one more healthy observation.
    Healthy,
    /// The observation says nothing about this rule.
    Silent,
}

/// What the evaluator read about the connection, for the rules that need it.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The newest samples' outcomes, newest first (this one included).
    pub recent: Vec<bool>,
    /// Samples and failures in each error-rate rule's window, by window.
    pub windows: Vec<(std::time::Duration, WindowCount)>,
    /// The connection's dead-lettered deliveries.
    pub dead_letters: i64,
    /// Runs its deliveries started that a rate limit holds.
    pub held_runs: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCount {
    pub total: i64,
    pub failed: i64,
}

/// Whether `condition` concerns what was observed.
pub fn applies(condition: &Condition, observed: &Observed) -> bool {
    match (condition, observed) {
        (Condition::DeadLetters { .. }, Observed::DeadLetters)
        | (Condition::HeldRuns { .. }, Observed::HeldRuns) => true,
        (Condition::DeadLetters { .. } | Condition::HeldRuns { .. }, _)
        | (_, Observed::DeadLetters | Observed::HeldRuns) => false,
        (Condition::Status { .. }, observed) => matches!(observed, Observed::Probe { .. }),
        _ => true,
    }
}

pub fn verdict(condition: &Condition, observed: &Observed, facts: &Facts) -> Verdict {
    if !applies(condition, observed) {
        return Verdict::Silent;
    }
    let failed_now = observed.sample().is_some_and(|s| !s.ok);
    let short_of = || {
        if failed_now {
            Verdict::Failing
        } else {
            Verdict::Healthy
        }
    };
    match condition {
        Condition::ConsecutiveFailures { more_than } => {
            let needed = usize::try_from(*more_than).unwrap_or(0) + 1;
            let streak = facts.recent.iter().take_while(|ok| !**ok).count();
            if streak >= needed {
                Verdict::Holds(format!("{streak} failures in a row"))
            } else {
                short_of()
            }
        }
        Condition::ErrorRate {
            above_percent,
            window,
            min_samples,
        } => {
            let count = facts
                .windows
                .iter()
                .find(|(w, _)| w == window)
                .map(|(_, c)| *c)
                .unwrap_or_default();
            // Below the minimum sample the rate means nothing yet.
            if count.total < i64::from(*min_samples) || count.total == 0 {
                return short_of();
            }
            let percent = count.failed as f64 * 100.0 / count.total as f64;
            if percent > *above_percent {
                Verdict::Holds(format!(
                    "{percent:.1}% of {} calls failed in the last {}",
                    count.total,
                    humantime::format_duration(*window)
                ))
            } else {
                short_of()
            }
        }
        Condition::RateLimit { below } => match observed.sample() {
            Some(Sample {
                rate_limit_remaining: Some(left),
                ..
            }) if left < below => Verdict::Holds(format!(
                "the provider reports {left} requests left of its rate limit"
            )),
            Some(Sample {
                rate_limit_remaining: Some(_),
                ..
            }) => Verdict::Healthy,
            _ => Verdict::Silent,
        },
        Condition::Status {
            level: want_level,
            reason: want_reason,
        } => {
            let Observed::Probe { level, reason, .. } = observed else {
                return Verdict::Silent;
            };
            let by_level = want_level.is_some_and(|l| l == *level);
            let by_reason = want_reason.is_some() && want_reason == reason;
            if by_level || by_reason {
                let what = match reason {
                    Some(r) => format!("status {} ({r})", level_name(*level)),
                    None => format!("status {}", level_name(*level)),
                };
                Verdict::Holds(what)
            } else {
                Verdict::Healthy
            }
        }
        Condition::DeadLetters { more_than } => {
            if facts.dead_letters > *more_than {
                Verdict::Holds(format!("{} dead-lettered deliveries", facts.dead_letters))
            } else {
                Verdict::Healthy
            }
        }
        Condition::HeldRuns { more_than } => {
            if facts.held_runs > *more_than {
                Verdict::Holds(format!(
                    "{} automation runs held by their rate limits",
                    facts.held_runs
                ))
            } else {
                Verdict::Healthy
            }
        }
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Connected => "CONNECTED",
        Level::Warning => "WARNING",
        Level::Error => "ERROR",
        Level::Disconnected => "DISCONNECTED",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alerts::observation::Source;

    fn action(ok: bool) -> Observed {
        Observed::Action(Sample {
            source: Source::Action,
            ok,
            reason: None,
            rate_limit_remaining: None,
        })
    }

    fn probe(ok: bool, left: Option<i64>, level: Level, reason: Option<&str>) -> Observed {
        Observed::Probe {
            sample: Sample {
                source: Source::Probe,
                ok,
                reason: reason.map(str::to_owned),
                rate_limit_remaining: left,
            },
            level,
            reason: reason.map(str::to_owned),
        }
    }

    fn recent(outcomes: &[bool]) -> Facts {
        Facts {
            recent: outcomes.to_vec(),
            ..Facts::default()
        }
    }

    #[test]
    fn consecutive_failures_hold_past_n_only() {
        let rule = Condition::ConsecutiveFailures { more_than: 3 };
        let failed = action(false);
        assert_eq!(
            verdict(&rule, &failed, &recent(&[false, false, false])),
            Verdict::Failing
        );
        assert_eq!(
            verdict(&rule, &failed, &recent(&[false, false, false, false])),
            Verdict::Holds("4 failures in a row".into())
        );
        assert_eq!(
            verdict(&rule, &failed, &recent(&[false, false, false, true, false])),
            Verdict::Failing
        );
        assert_eq!(
            verdict(&rule, &action(true), &recent(&[true, false, false, false])),
            Verdict::Healthy
        );
    }

    #[test]
    fn error_rate_needs_its_minimum_sample() {
        let window = Duration::from_secs(3600);
        let rule = Condition::ErrorRate {
            above_percent: 5.0,
            window,
            min_samples: 20,
        };
        let facts = |total, failed| Facts {
            windows: vec![(window, WindowCount { total, failed })],
            ..Facts::default()
        };
        // One failure in two calls is 50%, and still nothing.
        assert_eq!(
            verdict(&rule, &action(false), &facts(2, 1)),
            Verdict::Failing
        );
        assert_eq!(
            verdict(&rule, &action(true), &facts(19, 10)),
            Verdict::Healthy
        );
        assert!(matches!(
            verdict(&rule, &action(true), &facts(20, 2)),
            Verdict::Holds(_)
        ));
        // Exactly at the threshold is not above it.
        assert_eq!(
            verdict(&rule, &action(true), &facts(20, 1)),
            Verdict::Healthy
        );
        assert_eq!(
            verdict(&rule, &action(false), &facts(0, 0)),
            Verdict::Failing
        );
    }

    #[test]
    fn rate_limit_reads_only_samples_that_report_it() {
        let rule = Condition::RateLimit { below: 100 };
        let none = Facts::default();
        assert!(matches!(
            verdict(&rule, &probe(true, Some(99), Level::Connected, None), &none),
            Verdict::Holds(_)
        ));
        assert_eq!(
            verdict(
                &rule,
                &probe(true, Some(100), Level::Connected, None),
                &none
            ),
            Verdict::Healthy
        );
        assert_eq!(
            verdict(&rule, &probe(true, None, Level::Connected, None), &none),
            Verdict::Silent
        );
    }

    #[test]
    fn status_matches_level_or_reason_and_only_on_probes() {
        let by_level = Condition::Status {
            level: Some(Level::Error),
            reason: None,
        };
        let by_reason = Condition::Status {
            level: None,
            reason: Some("OAUTH_REVOKED".into()),
        };
        let none = Facts::default();
        let revoked = probe(false, None, Level::Error, Some("OAUTH_REVOKED"));
        let warning = probe(true, None, Level::Warning, Some("RATE_LIMITED"));
        assert!(matches!(
            verdict(&by_level, &revoked, &none),
            Verdict::Holds(_)
        ));
        assert!(matches!(
            verdict(&by_reason, &revoked, &none),
            Verdict::Holds(_)
        ));
        assert_eq!(verdict(&by_level, &warning, &none), Verdict::Healthy);
        assert_eq!(verdict(&by_reason, &warning, &none), Verdict::Healthy);
        assert_eq!(verdict(&by_level, &action(false), &none), Verdict::Silent);
    }

    #[test]
    fn held_runs_are_counted_only_when_they_change() {
        let rule = Condition::HeldRuns { more_than: 5 };
        let facts = |n| Facts {
            held_runs: n,
            ..Facts::default()
        };
        assert_eq!(
            verdict(&rule, &Observed::HeldRuns, &facts(6)),
            Verdict::Holds("6 automation runs held by their rate limits".into())
        );
        assert_eq!(
            verdict(&rule, &Observed::HeldRuns, &facts(5)),
            Verdict::Healthy
        );
        assert_eq!(verdict(&rule, &action(false), &facts(9)), Verdict::Silent);
        assert_eq!(
            verdict(&rule, &Observed::DeadLetters, &facts(9)),
            Verdict::Silent
        );
        assert_eq!(
            verdict(
                &Condition::DeadLetters { more_than: 0 },
                &Observed::HeldRuns,
                &facts(9)
            ),
            Verdict::Silent
        );
    }

    #[test]
    fn dead_letters_are_counted_only_when_they_change() {
        let rule = Condition::DeadLetters { more_than: 2 };
        let facts = |n| Facts {
            dead_letters: n,
            ..Facts::default()
        };
        assert!(matches!(
            verdict(&rule, &Observed::DeadLetters, &facts(3)),
            Verdict::Holds(_)
        ));
        assert_eq!(
            verdict(&rule, &Observed::DeadLetters, &facts(2)),
            Verdict::Healthy
        );
        assert_eq!(verdict(&rule, &action(false), &facts(9)), Verdict::Silent);
        assert_eq!(
            verdict(
                &Condition::ConsecutiveFailures { more_than: 1 },
                &Observed::DeadLetters,
                &facts(9)
            ),
            Verdict::Silent
        );
    }
}
