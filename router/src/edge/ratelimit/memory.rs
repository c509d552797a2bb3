//! Buckets in this process: one governor keyed limiter per rule (GCRA, which is a token bucket
//! kept as one timestamp per key). Memory stays bounded: every [`SWEEP_EVERY`] checks, keys whose
//! bucket has refilled completely are dropped (a full bucket and no entry are the same thing),
//! so at most the clients active within one `per`, plus one sweep's worth of new keys, are held.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::{Clock, Decision, Rule};

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, Clock, StateInformationMiddleware>;

/// Checks between two sweeps of full buckets.
const SWEEP_EVERY: u64 = 4096;

struct Limiter {
    keyed: Keyed,
    checks: AtomicU64,
}

pub(super) struct Memory {
    clock: Clock,
    limiters: Mutex<HashMap<Rule, Arc<Limiter>>>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules = self.limiters.lock().map(|l| l.len()).unwrap_or(0);
        f.debug_struct("Memory").field("rules", &rules).finish()
    }
}

/// The governor quota of a rule: one token every `per / capacity`, `capacity` at once.
fn quota(rule: &Rule) -> Quota {
    let capacity = NonZeroU32::new(rule.capacity).unwrap_or(NonZeroU32::MIN);
    let period = rule.per / capacity.get();
    // A rule finer than a nanosecond per token is as good as no limit; keep governor's invariant.
    let period = period.max(std::time::Duration::from_nanos(1));
    Quota::with_period(period).unwrap_or_else(|| Quota::per_second(capacity)).allow_burst(capacity)
}

impl Memory {
    pub(super) fn new(clock: Clock) -> Self {
        Self { clock, limiters: Mutex::new(HashMap::new()) }
    }

    fn limiter(&self, rule: &Rule) -> Arc<Limiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = limiters.entry(*rule).or_insert_with(|| {
            let keyed = Keyed::new(quota(rule), DefaultKeyedStateStore::default(), self.clock.clone());
            Arc::new(Limiter { keyed, checks: AtomicU64::new(0) })
        });
        entry.clone()
    }

    pub(super) fn check(&self, key: &str, rule: &Rule) -> Decision {
        let limiter = self.limiter(rule);
        let decision = match limiter.keyed.check_key(&key.to_owned()) {
            Ok(state) => Decision::Allowed { remaining: state.remaining_burst_capacity() },
            Err(not_until) => Decision::Limited { retry_after: not_until.wait_time_from(self.clock.now()) },
        };
        if limiter.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.keyed.retain_recent();
            limiter.keyed.shrink_to_fit();
        }
        decision
    }

    /// Keys held for `rule` (tests).
    #[cfg(test)]
    fn keys(&self, rule: &Rule) -> usize {
        self.limiter(rule).keyed.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rule(capacity: u32, per_ms: u64) -> Rule {
        Rule::new(capacity, Duration::from_millis(per_ms)).expect("valid rule")
    }

    #[test]
    fn a_burst_is_allowed_then_limited_until_a_token_is_back() {
        let clock = Clock::manual();
        let memory = Memory::new(clock.clone());
        let rule = rule(3, 3000); // one token a second
        for remaining in [2, 1, 0] {
            assert_eq!(memory.check("ip:1.2.3.4", &rule), Decision::Allowed { remaining });
        }
        assert_eq!(memory.check("ip:1.2.3.4", &rule), Decision::Limited { retry_after: Duration::from_secs(1) });
        clock.advance(Duration::from_millis(400));
        assert_eq!(memory.check("ip:1.2.3.4", &rule), Decision::Limited { retry_after: Duration::from_millis(600) });
        clock.advance(Duration::from_millis(600));
        assert_eq!(memory.check("ip:1.2.3.4", &rule), Decision::Allowed { remaining: 0 });
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            memory.check("ip:1.2.3.4", &rule),
            Decision::Allowed { remaining: 2 },
            "refilled to capacity, not past it"
        );
    }

    #[test]
    fn keys_and_rules_have_their_own_buckets() {
        let memory = Memory::new(Clock::manual());
        let one = rule(1, 1000);
        assert!(matches!(memory.check("user:1", &one), Decision::Allowed { .. }));
        assert!(matches!(memory.check("user:1", &one), Decision::Limited { .. }));
        assert!(matches!(memory.check("user:2", &one), Decision::Allowed { .. }), "another client");
        assert!(matches!(memory.check("user:1", &rule(2, 1000)), Decision::Allowed { .. }), "another rule");
    }

    #[test]
    fn full_buckets_are_swept_so_memory_stays_bounded() {
        let clock = Clock::manual();
        let memory = Memory::new(clock.clone());
        let rule = rule(10, 1000);
        for n in 0..SWEEP_EVERY - 1 {
            memory.check(&format!("ip:{n}"), &rule);
        }
        assert_eq!(memory.keys(&rule), usize::try_from(SWEEP_EVERY - 1).expect("small"));
        clock.advance(Duration::from_secs(2)); // every bucket full again
        memory.check("ip:last", &rule);
        assert!(memory.keys(&rule) <= 1, "swept: {}", memory.keys(&rule));
    }
}
