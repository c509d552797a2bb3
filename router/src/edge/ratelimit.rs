//! Per-client rate limits: token buckets keyed by who is calling ([`ClientKey`]), refused with
//! `RATE_LIMITED` (HTTP 429 and `Retry-After`).
//!
//! A bucket holds `capacity` tokens (the burst) and refills `capacity` tokens per `per`; each
//! request takes one. Buckets live in this process ([`memory`], governor's keyed limiter) or,
//! when the router runs as several replicas, in Redis ([`redis`], one atomic script), so all
//! replicas spend one budget. Redis being away must not take the router down with it: by
//! default the request is let through (`on_redis_error: allow`), counted and logged.
//!
//! The settings (`rate_limit:`, `ROUTER_RATE_LIMIT*`) are [`crate::config::rate_limit`]'s.

mod client;
mod memory;
mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use governor::clock::FakeRelativeClock;
use governor::nanos::Nanos;

pub use client::{ClientKey, client_ip};

use crate::config::ConfigError;
use crate::config::rate_limit::{OnRedisError, RateLimitSettings, Rule};

/// The code of a rate-limited request.
pub const CODE: &str = "RATE_LIMITED";

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let through; `remaining` requests could follow at once.
    Allowed { remaining: u32 },
    /// Refused; a token will be back after `retry_after`.
    Limited { retry_after: Duration },
}

/// The limiter's time: the machine's, or one that tests move by hand.
#[derive(Debug, Clone)]
pub struct Clock {
    origin: std::time::Instant,
    manual: Option<FakeRelativeClock>,
}

/// Where a manual clock's wall time starts (Redis scripts get milliseconds since the epoch).
const MANUAL_EPOCH_MS: u64 = 1_700_000_000_000;

impl Clock {
    pub fn system() -> Self {
        Self { origin: std::time::Instant::now(), manual: None }
    }

    /// A clock standing still until [`Clock::advance`]; clones share its time.
    pub fn manual() -> Self {
        Self { origin: std::time::Instant::now(), manual: Some(FakeRelativeClock::default()) }
    }

    /// Moves a manual clock forward (a system clock moves by itself).
    pub fn advance(&self, by: Duration) {
        if let Some(manual) = &self.manual {
            manual.advance(by);
        }
    }

    fn elapsed(&self) -> Duration {
        match &self.manual {
            Some(manual) => governor::clock::Clock::now(manual).into(),
            None => self.origin.elapsed(),
        }
    }

    /// Milliseconds since the Unix epoch: replicas sharing Redis compare these, so it is wall
    /// time (kept in step by NTP), not this process's monotonic time.
    fn unix_ms(&self) -> u64 {
        match &self.manual {
            Some(_) => MANUAL_EPOCH_MS.saturating_add(millis(self.elapsed())),
            None => SystemTime::now().duration_since(UNIX_EPOCH).map(millis).unwrap_or(0),
        }
    }
}

impl governor::clock::Clock for Clock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::new(u64::try_from(self.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How often Redis trouble is logged at most (every failure is counted).
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Checks requests against token buckets, in memory or in Redis.
#[derive(Debug)]
pub struct RateLimiter {
    clock: Clock,
    memory: memory::Memory,
    redis: Option<redis::Shared>,
    on_redis_error: OnRedisError,
    redis_errors: AtomicU64,
    /// When Redis trouble was last logged (ms of the clock's monotonic time, 0: never).
    warned_at_ms: AtomicU64,
}

impl RateLimiter {
    /// A limiter for `settings`, sharing buckets through Redis at `redis_url` when given and
    /// `settings.redis` is on. It connects lazily: Redis may come up after the router.
    pub fn new(settings: &RateLimitSettings, redis_url: Option<&str>) -> Result<Self, ConfigError> {
        Self::with_clock(settings, redis_url, Clock::system())
    }

    /// [`RateLimiter::new`] with a given clock (tests drive a manual one).
    pub fn with_clock(
        settings: &RateLimitSettings,
        redis_url: Option<&str>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        let redis = match redis_url.filter(|_| settings.redis) {
            Some(url) => Some(
                redis::Shared::connect_lazily(url, &settings.key_prefix, settings.redis_timeout)
                    .map_err(|e| ConfigError(format!("REDIS_URL: cannot use `{url}` for rate limits: {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            memory: memory::Memory::new(clock.clone()),
            clock,
            redis,
            on_redis_error: settings.on_redis_error,
            redis_errors: AtomicU64::new(0),
            warned_at_ms: AtomicU64::new(0),
        })
    }

    /// Whether buckets are shared through Redis.
    pub fn shares_through_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// How many checks Redis failed (not reachable, too slow, or an error), since start.
    pub fn redis_errors(&self) -> u64 {
        self.redis_errors.load(Ordering::Relaxed)
    }

    /// Takes a token from `key`'s bucket under `rule` (buckets of different rules are apart).
    pub async fn check(&self, key: &str, rule: &Rule) -> Decision {
        let Some(shared) = &self.redis else { return self.memory.check(key, rule) };
        match shared.check(key, rule, self.clock.unix_ms()).await {
            Ok(decision) => decision,
            Err(error) => {
                self.redis_failed(&error);
                match self.on_redis_error {
                    OnRedisError::Allow => Decision::Allowed { remaining: 0 },
                    OnRedisError::Deny => Decision::Limited { retry_after: Duration::from_secs(1) },
                    OnRedisError::Local => self.memory.check(key, rule),
                }
            }
        }
    }

    /// Counts a Redis failure and logs it, at most once per [`WARN_EVERY`].
    fn redis_failed(&self, error: &redis::Error) {
        let total = self.redis_errors.fetch_add(1, Ordering::Relaxed) + 1;
        let now = millis(self.clock.elapsed()).max(1);
        let last = self.warned_at_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= millis(WARN_EVERY);
        if due && self.warned_at_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(
                %error,
                redis_errors = total,
                on_redis_error = ?self.on_redis_error,
                "rate limits: Redis unavailable; requests are decided by on_redis_error"
            );
        }
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1 (0 would invite an immediate retry
/// that is refused again).
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}

/// The refusal of a limited request: HTTP 429, `Retry-After`, and a GraphQL error with code
/// `RATE_LIMITED` and `extensions.retryAfter` (seconds).
pub fn limited(retry_after: Duration) -> crate::edge::Refused {
    let secs = retry_after_secs(retry_after);
    let message = format!("too many requests from this client; retry in {secs} s");
    crate::edge::Refused::new(StatusCode::TOO_MANY_REQUESTS, CODE, message).retry_after(secs)
}

#[cfg(test)]
mod tests {
    use axum::http::header;
    use serde_json::json;

    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    #[tokio::test]
    async fn the_refusal_is_a_429_with_retry_after_and_a_graphql_error() {
        let response = limited(Duration::from_millis(1500)).into_response(true);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::edge::accept::GRAPHQL_RESPONSE);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(body["errors"][0]["extensions"], json!({ "code": "RATE_LIMITED", "retryAfter": 2 }));
        let plain = limited(Duration::from_secs(1)).into_response(false);
        assert_eq!(plain.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[tokio::test]
    async fn without_redis_buckets_are_kept_in_memory() {
        let limiter = RateLimiter::with_clock(&RateLimitSettings::default(), None, Clock::manual()).expect("valid");
        assert!(!limiter.shares_through_redis());
        let rule = Rule::new(1, Duration::from_secs(1)).expect("valid");
        assert_eq!(limiter.check("ip:1.2.3.4", &rule).await, Decision::Allowed { remaining: 0 });
        assert!(matches!(limiter.check("ip:1.2.3.4", &rule).await, Decision::Limited { .. }));
    }

    fn redis_url() -> Option<String> {
        let url = std::env::var("REDIS_URL").ok().filter(|u| u.starts_with("redis://"));
        if url.is_none() {
            eprintln!("skipped: set REDIS_URL=redis://127.0.0.1:6379 to run the Redis test");
        }
        url
    }

    /// Settings with a key prefix of its own, so runs and tests never share buckets.
    fn shared_settings() -> RateLimitSettings {
        RateLimitSettings {
            key_prefix: format!("test:rl:{}:", rand::random::<u64>()),
            redis_timeout: Duration::from_secs(2),
            ..RateLimitSettings::default()
        }
    }

    /// Two routers sharing one Redis (CI's second pass sets `REDIS_URL`).
    #[tokio::test]
    async fn replicas_spend_one_budget_through_redis() {
        let Some(url) = redis_url() else { return };
        let (settings, clock) = (shared_settings(), Clock::manual());
        let first = RateLimiter::with_clock(&settings, Some(&url), clock.clone()).expect("valid");
        let second = RateLimiter::with_clock(&settings, Some(&url), clock.clone()).expect("valid");
        assert!(first.shares_through_redis() && second.shares_through_redis());
        let rule = Rule::new(3, Duration::from_secs(60)).expect("valid"); // a token every 20 s
        assert_eq!(first.check("user:1", &rule).await, Decision::Allowed { remaining: 2 });
        assert_eq!(second.check("user:1", &rule).await, Decision::Allowed { remaining: 1 });
        assert_eq!(first.check("user:1", &rule).await, Decision::Allowed { remaining: 0 });
        let limited = Decision::Limited { retry_after: Duration::from_secs(20) };
        assert_eq!(second.check("user:1", &rule).await, limited, "the 4th, whichever replica takes it");
        assert_eq!(first.check("user:1", &rule).await, limited);
        assert_eq!(second.check("user:2", &rule).await, Decision::Allowed { remaining: 2 }, "another client");
        clock.advance(Duration::from_secs(5));
        assert_eq!(first.check("user:1", &rule).await, Decision::Limited { retry_after: Duration::from_secs(15) });
        clock.advance(Duration::from_secs(15));
        assert_eq!(second.check("user:1", &rule).await, Decision::Allowed { remaining: 0 }, "one token back");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(first.check("user:1", &rule).await, Decision::Allowed { remaining: 2 }, "full, not fuller");
        assert_eq!(first.redis_errors() + second.redis_errors(), 0);
    }

    #[tokio::test]
    async fn idle_buckets_expire_from_redis_when_full_again() {
        let Some(url) = redis_url() else { return };
        let settings = shared_settings();
        let limiter = RateLimiter::with_clock(&settings, Some(&url), Clock::manual()).expect("valid");
        let rule = Rule::new(10, Duration::from_secs(1)).expect("valid");
        let client = ::redis::Client::open(url.as_str()).expect("url");
        let mut connection = ::redis::aio::ConnectionManager::new(client).await.expect("connects");
        // A Redis that does not know the script (restarted, or new) gets it loaded.
        ::redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut connection).await.expect("flush");
        assert_eq!(limiter.check("ip:192.0.2.1", &rule).await, Decision::Allowed { remaining: 9 });
        let ttl: i64 = ::redis::cmd("PTTL")
            .arg(format!("{}10/1000:ip:192.0.2.1", settings.key_prefix))
            .query_async(&mut connection)
            .await
            .expect("pttl");
        // One token short: full again after 100 ms.
        assert!((1..=100).contains(&ttl), "expires when full: {ttl} ms");
    }

    #[tokio::test]
    async fn an_unreachable_redis_decides_by_on_redis_error() {
        let nowhere = Some("redis://127.0.0.1:1");
        let rule = Rule::new(1, Duration::from_secs(60)).expect("valid");
        let allow = RateLimiter::new(&RateLimitSettings::default(), nowhere).expect("connects lazily");
        for _ in 0..3 {
            assert_eq!(allow.check("ip:1.2.3.4", &rule).await, Decision::Allowed { remaining: 0 }, "fails open");
        }
        assert_eq!(allow.redis_errors(), 3, "every failure is counted");
        let deny = RateLimitSettings { on_redis_error: OnRedisError::Deny, ..RateLimitSettings::default() };
        let deny = RateLimiter::new(&deny, nowhere).expect("connects lazily");
        assert_eq!(deny.check("ip:1.2.3.4", &rule).await, Decision::Limited { retry_after: Duration::from_secs(1) });
        let local = RateLimitSettings { on_redis_error: OnRedisError::Local, ..RateLimitSettings::default() };
        let local = RateLimiter::new(&local, nowhere).expect("connects lazily");
        assert!(matches!(local.check("ip:1.2.3.4", &rule).await, Decision::Allowed { .. }));
        assert!(matches!(local.check("ip:1.2.3.4", &rule).await, Decision::Limited { .. }), "this replica's bucket");
        assert_eq!(local.redis_errors(), 2);
    }

    #[tokio::test]
    async fn a_settings_redis_switch_off_keeps_buckets_local() {
        let settings = RateLimitSettings { redis: false, ..RateLimitSettings::default() };
        let limiter = RateLimiter::new(&settings, Some("redis://127.0.0.1:1")).expect("valid");
        assert!(!limiter.shares_through_redis());
        let error = RateLimiter::new(&RateLimitSettings::default(), Some("http://nope")).expect_err("not redis");
        assert!(error.0.contains("REDIS_URL"), "{error}");
    }
}
