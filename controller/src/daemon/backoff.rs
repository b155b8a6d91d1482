//! How long to wait before trying a failed desired state again.
//!
//! Exponential with jitter (backon's [`ExponentialBuilder`]): the n-th retry waits
//! `min(base * 2^(n-1), cap)` plus a random part of up to the same again, so a fleet that
//! failed together does not retry together. Past `limit` retries the answer is `None`: the
//! desired state is Stalled until a new generation or a retry action. backon's iterator has
//! no reset, so the delay is computed from the persisted failure count each time; that is
//! also what makes the schedule survive a restart. No IO, no clock.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::config::Retry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Retries after the first failed attempt.
    pub limit: u32,
    /// Seeds the jitter; differs per process so devices spread out.
    pub seed: u64,
}

impl RetryPolicy {
    pub fn from_config(r: &Retry, seed: u64) -> Self {
        Self {
            base: Duration::from_secs(r.base_seconds.max(1)),
            cap: Duration::from_secs(r.cap_seconds.max(r.base_seconds).max(1)),
            limit: r.limit,
            seed,
        }
    }

    /// The wait after `failures` consecutive failures (1 = the first), or `None` when the
    /// retry limit is spent.
    pub fn delay(&self, failures: u32) -> Option<Duration> {
        if failures == 0 {
            return Some(Duration::ZERO);
        }
        if failures > self.limit {
            return None;
        }
        ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.cap)
            .with_factor(2.0)
            .with_jitter()
            .with_jitter_seed(self.seed ^ u64::from(failures))
            .with_max_times(self.limit as usize)
            .build()
            .nth(failures as usize - 1)
    }

    /// The delay without jitter (the lower bound of [`RetryPolicy::delay`]).
    pub fn nominal(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(40);
        self.base.saturating_mul(1u32 << exp.min(31)).min(self.cap)
    }
}

/// A seed that differs between processes and boots.
#[allow(clippy::disallowed_methods)] // a seed for jitter, not a time anything waits on
pub fn process_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(base: u64, cap: u64, limit: u32, seed: u64) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(base),
            cap: Duration::from_secs(cap),
            limit,
            seed,
        }
    }

    #[test]
    fn doubles_until_the_cap_then_stops_at_the_limit() {
        let p = policy(1, 300, 12, 7);
        let nominal: Vec<u64> = (1..=12).map(|n| p.nominal(n).as_secs()).collect();
        assert_eq!(nominal, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert!(p.delay(12).is_some());
        assert_eq!(p.delay(13), None);
        assert_eq!(p.delay(0), Some(Duration::ZERO));
    }

    #[test]
    fn a_zero_limit_stalls_at_the_first_failure() {
        assert_eq!(policy(1, 10, 0, 1).delay(1), None);
    }

    proptest! {
        #[test]
        fn jitter_stays_within_one_nominal_delay(
            base in 1u64..30, cap_mul in 1u64..100, limit in 1u32..20, seed: u64, n in 1u32..20
        ) {
            let p = policy(base, base * cap_mul, limit, seed);
            match p.delay(n) {
                None => prop_assert!(n > limit),
                Some(d) => {
                    let nominal = p.nominal(n);
                    prop_assert!(d >= nominal && d <= nominal * 2, "{d:?} vs {nominal:?}");
                }
            }
        }

        #[test]
        fn before_the_cap_every_retry_waits_longer_than_the_one_before(
            seed: u64, n in 1u32..8
        ) {
            let p = policy(1, 1 << 10, 10, seed);
            prop_assert!(p.delay(n + 1).unwrap() >= p.delay(n).unwrap());
        }
    }

    #[test]
    fn different_seeds_spread_the_same_retry() {
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|s| policy(10, 1000, 5, s).delay(3).unwrap())
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
