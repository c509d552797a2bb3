//! The per-sender send limit: governor's keyed GCRA limiter (a token bucket kept as one
//! timestamp per sender), in this process's memory. Each replica limits on its own, so with N
//! replicas behind a balancer a sender can send up to N times the rate at most.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::domain::UserId;

/// Checks between two sweeps of senders whose bucket has refilled (memory stays bounded by the
/// senders active within about a minute).
const SWEEP_EVERY: u64 = 1024;

pub struct SendLimiter {
    keyed: RateLimiter<UserId, DefaultKeyedStateStore<UserId>, DefaultClock>,
    checks: AtomicU64,
}

impl SendLimiter {
    /// `per_minute` sustained, `burst` at once.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self { keyed: RateLimiter::keyed(quota), checks: AtomicU64::new(0) }
    }

    /// Takes one send from `sender`'s bucket, or says how long until one is back.
    pub fn check(&self, sender: UserId) -> Result<(), Duration> {
        let decision = match self.keyed.check_key(&sender) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(self.keyed.clock().now())),
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.keyed.retain_recent();
            self.keyed.shrink_to_fit();
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).expect("positive")
    }

    #[test]
    fn a_sender_gets_the_burst_then_waits_and_others_have_their_own_bucket() {
        // One message a minute refills far slower than this test runs: no timing involved.
        let limiter = SendLimiter::new(n(1), n(3));
        let (me, other) = (UserId::new(), UserId::new());
        for _ in 0..3 {
            assert_eq!(limiter.check(me), Ok(()));
        }
        let wait = limiter.check(me).expect_err("the burst is spent");
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
        assert_eq!(limiter.check(other), Ok(()), "another sender");
    }
}
