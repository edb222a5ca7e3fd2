//! Retry delays shared by webhook processing and action workers.

use std::time::Duration;

/// Exponential backoff, jittered in its upper half: attempt 1 waits about
/// `base`, attempt 2 about `2 * base`, and so on, capped at an hour.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(Duration::from_secs(3600));
    let jitter: f64 = rand::random_range(0.5..=1.0);
    capped.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_and_stop_growing() {
        let base = Duration::from_secs(1);
        for attempt in 1..=4 {
            let wait = backoff(base, attempt);
            let full = base * (1 << (attempt - 1));
            assert!(
                wait >= full / 2 && wait <= full,
                "attempt {attempt}: {wait:?}"
            );
        }
        assert!(backoff(base, 40) <= Duration::from_secs(3600));
    }
}
