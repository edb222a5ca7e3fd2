//! An alert's life: fire when the condition starts to hold, resolve once
//! it has stopped holding for the rule's healthy observations or quiet
//! period. A failure in between starts the count again, so a provider
//! that flaps keeps one alert firing instead of raising a storm.

use chrono::{DateTime, Utc};

use super::{
    alert::{Hysteresis, ResolveReason},
    condition::Verdict,
    model::Resolution,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing fires and nothing changes.
    Nothing,
    /// A new alert, saying what held.
    Fire(String),
    /// The firing alert's new hysteresis.
    Keep(Hysteresis),
    Resolve(ResolveReason),
}

/// What `verdict` does to the rule's firing alert (`None`: none fires).
pub fn step(
    firing: Option<Hysteresis>,
    verdict: Verdict,
    resolution: &Resolution,
    now: DateTime<Utc>,
) -> Step {
    let Some(firing) = firing else {
        return match verdict {
            Verdict::Holds(what) => Step::Fire(what),
            _ => Step::Nothing,
        };
    };
    match verdict {
        Verdict::Silent => Step::Nothing,
        Verdict::Holds(_) | Verdict::Failing => Step::Keep(Hysteresis {
            healthy_streak: 0,
            last_held_at: now,
        }),
        Verdict::Healthy => {
            let kept = Hysteresis {
                healthy_streak: firing.healthy_streak.saturating_add(1),
                ..firing
            };
            if kept.healthy_streak >= resolution.healthy_observations {
                Step::Resolve(ResolveReason::HealthyObservations)
            } else if quiet_for(&kept, resolution, now) {
                Step::Resolve(ResolveReason::QuietPeriod)
            } else {
                Step::Keep(kept)
            }
        }
    }
}

/// Whether a firing alert has been quiet long enough to resolve without a
/// new observation: healthy since it last held, for the quiet period. One
/// healthy observation at least is needed: silence alone is no recovery.
pub fn quiet_for(firing: &Hysteresis, resolution: &Resolution, now: DateTime<Utc>) -> bool {
    firing.healthy_streak >= 1
        && now
            .signed_duration_since(firing.last_held_at)
            .to_std()
            .unwrap_or_default()
            >= resolution.quiet_period
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn resolution(healthy: i32, quiet_secs: u64) -> Resolution {
        Resolution {
            healthy_observations: healthy,
            quiet_period: Duration::from_secs(quiet_secs),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn firing(streak: i32, held: i64) -> Option<Hysteresis> {
        Some(Hysteresis {
            healthy_streak: streak,
            last_held_at: at(held),
        })
    }

    #[test]
    fn fires_only_when_the_condition_holds() {
        let r = resolution(3, 600);
        assert_eq!(
            step(None, Verdict::Holds("x".into()), &r, at(0)),
            Step::Fire("x".into())
        );
        for v in [Verdict::Failing, Verdict::Healthy, Verdict::Silent] {
            assert_eq!(step(None, v, &r, at(0)), Step::Nothing);
        }
    }

    #[test]
    fn resolves_after_the_healthy_observations_in_a_row() {
        let r = resolution(3, 600);
        let kept = |streak, held| {
            Step::Keep(Hysteresis {
                healthy_streak: streak,
                last_held_at: at(held),
            })
        };
        assert_eq!(step(firing(0, 0), Verdict::Healthy, &r, at(1)), kept(1, 0));
        assert_eq!(step(firing(1, 0), Verdict::Healthy, &r, at(2)), kept(2, 0));
        assert_eq!(
            step(firing(2, 0), Verdict::Healthy, &r, at(3)),
            Step::Resolve(ResolveReason::HealthyObservations)
        );
    }

    #[test]
    fn a_failure_while_firing_starts_the_count_again() {
        let r = resolution(3, 600);
        let reset = Step::Keep(Hysteresis {
            healthy_streak: 0,
            last_held_at: at(5),
        });
        assert_eq!(step(firing(2, 0), Verdict::Failing, &r, at(5)), reset);
        assert_eq!(
            step(firing(2, 0), Verdict::Holds("x".into()), &r, at(5)),
            reset
        );
        assert_eq!(
            step(firing(2, 0), Verdict::Silent, &r, at(5)),
            Step::Nothing
        );
    }

    #[test]
    fn the_quiet_period_resolves_first_when_it_is_shorter() {
        let r = resolution(100, 60);
        assert_eq!(
            step(firing(0, 0), Verdict::Healthy, &r, at(60)),
            Step::Resolve(ResolveReason::QuietPeriod)
        );
        assert!(matches!(
            step(firing(0, 0), Verdict::Healthy, &r, at(59)),
            Step::Keep(_)
        ));
        // Quiet, but never seen healthy: still firing.
        let silent = Hysteresis {
            healthy_streak: 0,
            last_held_at: at(0),
        };
        assert!(!quiet_for(&silent, &r, at(3600)));
        let healthy_once = Hysteresis {
            healthy_streak: 1,
            ..silent
        };
        assert!(quiet_for(&healthy_once, &r, at(60)));
        assert!(!quiet_for(&healthy_once, &r, at(59)));
    }
}
