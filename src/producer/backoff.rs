//! The pause before a failed entry is sent again.

use std::time::Duration;

/// Exponential backoff with jitter for re-sending failed entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Pause after the first failure (before jitter).
    pub base: Duration,
    /// Largest pause.
    pub max: Duration,
}

impl Backoff {
    /// The pause before attempt `failures + 1`: `base · 2^(failures-1)`, at most `max`, of
    /// which a random half is kept ("equal jitter"), so failed entries do not return in step.
    pub fn pause(&self, failures: u32, rng: &mut impl rand::Rng) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1 << exp).min(self.max);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_max() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut rng = StdRng::seed_from_u64(1);
        for (failures, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let p = b.pause(failures, &mut rng);
                let full = Duration::from_millis(full);
                assert!(p >= full / 2 && p <= full, "{failures}: {p:?}");
            }
        }
    }
}
