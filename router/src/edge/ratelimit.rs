//! Per-client rate limits: token buckets keyed by who is calling ([`ClientKey`]), refused with
//! `RATE_LIMITED` (HTTP 429 and `Retry-After`).
//!
//! A bucket holds `capacity` tokens (the burst) and refills `capacity` tokens per `per`; each
//! request takes one. Buckets live in this process ([`memory`], governor's keyed limiter) or,
//! when the router runs as several replicas, in Redis ([`redis`], one atomic script), so all
//! replicas spend one budget. Redis being away must not take the router down with it: by
//! default the request is let through (`on_redis_error: allow`), counted and logged.
//!
//! ```yaml
//! rate_limit:
//!   enabled: true
//!   capacity: 100          # burst
//!   per: 1s                # refills `capacity` tokens per `per`
//!   redis: true            # share buckets through REDIS_URL when it is set
//!   key_prefix: "edustream:router:rl:"
//!   redis_timeout: 100ms
//!   on_redis_error: allow  # allow | deny | local
//!   trusted_proxies: [10.0.0.0/8]
//! ```

mod client;
mod memory;
mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use governor::clock::FakeRelativeClock;
use governor::nanos::Nanos;
use serde::Deserialize;
use serde_json::json;

pub use client::{Cidr, ClientKey, client_ip};

use crate::config::{ConfigError, parse_duration};

/// The code of a rate-limited request.
pub const CODE: &str = "RATE_LIMITED";

/// A token bucket: `capacity` tokens at most (the burst), refilled at `capacity` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub capacity: u32,
    pub per: Duration,
}

impl Rule {
    /// A rule, refused when it could never allow a request or refills faster than we measure.
    pub fn new(capacity: u32, per: Duration) -> Result<Self, String> {
        if capacity == 0 {
            return Err("the capacity must be at least 1".into());
        }
        if per < Duration::from_millis(1) {
            return Err("`per` must be at least 1ms".into());
        }
        Ok(Self { capacity, per })
    }
}

impl Default for Rule {
    /// 100 requests at once, 100 a second sustained, per client: generous, because a whole
    /// school behind one NAT address shares an IP bucket.
    fn default() -> Self {
        Self { capacity: 100, per: Duration::from_secs(1) }
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let through; `remaining` requests could follow at once.
    Allowed { remaining: u32 },
    /// Refused; a token will be back after `retry_after`.
    Limited { retry_after: Duration },
}

/// What to do with a request when Redis does not answer (in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRedisError {
    /// Let it through (fail open): an outage of Redis does not become an outage of the API.
    #[default]
    Allow,
    /// Refuse it (fail closed), retry after a second.
    Deny,
    /// Count it in this replica's own buckets: limits hold, but per replica.
    Local,
}

/// Rate limit settings (`rate_limit:` in the YAML file, `ROUTER_RATE_LIMIT*` variables).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Section")]
pub struct RateLimitSettings {
    /// Off by default: limits are a deployment decision.
    pub enabled: bool,
    pub per_client: Rule,
    /// Share buckets through Redis when `REDIS_URL` is set (on by default).
    pub redis: bool,
    /// Where buckets live in Redis, so several routers (or environments) can share one server.
    pub key_prefix: String,
    /// How long a request waits for Redis before `on_redis_error` decides.
    pub redis_timeout: Duration,
    pub on_redis_error: OnRedisError,
    /// Proxies whose `x-forwarded-for` is believed; none by default (the socket address counts).
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            per_client: Rule::default(),
            redis: true,
            key_prefix: "edustream:router:rl:".into(),
            redis_timeout: Duration::from_millis(100),
            on_redis_error: OnRedisError::Allow,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The YAML section, checked into [`RateLimitSettings`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    enabled: Option<bool>,
    capacity: Option<u32>,
    per: Option<String>,
    redis: Option<bool>,
    key_prefix: Option<String>,
    redis_timeout: Option<String>,
    on_redis_error: Option<OnRedisError>,
    trusted_proxies: Option<Vec<String>>,
}

impl TryFrom<Section> for RateLimitSettings {
    type Error = String;

    fn try_from(section: Section) -> Result<Self, String> {
        let mut settings = Self::default();
        settings.enabled = section.enabled.unwrap_or(settings.enabled);
        settings.redis = section.redis.unwrap_or(settings.redis);
        settings.on_redis_error = section.on_redis_error.unwrap_or(settings.on_redis_error);
        let per = match &section.per {
            Some(per) => parse_duration(per).map_err(|e| format!("rate_limit.per: {e}"))?,
            None => settings.per_client.per,
        };
        let capacity = section.capacity.unwrap_or(settings.per_client.capacity);
        settings.per_client = Rule::new(capacity, per).map_err(|e| format!("rate_limit: {e}"))?;
        if let Some(prefix) = section.key_prefix {
            settings.key_prefix = prefix;
        }
        if let Some(timeout) = &section.redis_timeout {
            settings.redis_timeout = parse_duration(timeout).map_err(|e| format!("rate_limit.redis_timeout: {e}"))?;
        }
        if let Some(proxies) = &section.trusted_proxies {
            settings.trusted_proxies = Cidr::parse_list(proxies.iter().map(String::as_str))
                .map_err(|e| format!("rate_limit.trusted_proxies: {e}"))?;
        }
        Ok(settings)
    }
}

impl RateLimitSettings {
    /// Applies `ROUTER_RATE_LIMIT` (on/off), `ROUTER_RATE_LIMIT_CAPACITY`, `ROUTER_RATE_LIMIT_PER`,
    /// `ROUTER_RATE_LIMIT_TRUSTED_PROXIES` (comma-separated) and `ROUTER_RATE_LIMIT_ON_REDIS_ERROR`.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_RATE_LIMIT") {
            self.enabled = crate::config::parse_bool("ROUTER_RATE_LIMIT", &v)?;
        }
        let mut capacity = self.per_client.capacity;
        if let Some(v) = var("ROUTER_RATE_LIMIT_CAPACITY") {
            capacity =
                v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError(format!("ROUTER_RATE_LIMIT_CAPACITY: `{v}` is not a positive number"))
                })?;
        }
        let mut per = self.per_client.per;
        if let Some(v) = var("ROUTER_RATE_LIMIT_PER") {
            per = parse_duration(&v).map_err(|e| ConfigError(format!("ROUTER_RATE_LIMIT_PER: {e}")))?;
        }
        self.per_client =
            Rule::new(capacity, per).map_err(|e| ConfigError(format!("ROUTER_RATE_LIMIT_CAPACITY/PER: {e}")))?;
        if let Some(v) = var("ROUTER_RATE_LIMIT_TRUSTED_PROXIES") {
            self.trusted_proxies = Cidr::parse_list(v.split(','))
                .map_err(|e| ConfigError(format!("ROUTER_RATE_LIMIT_TRUSTED_PROXIES: {e}")))?;
        }
        if let Some(v) = var("ROUTER_RATE_LIMIT_ON_REDIS_ERROR") {
            self.on_redis_error = match v.trim().to_ascii_lowercase().as_str() {
                "allow" => OnRedisError::Allow,
                "deny" => OnRedisError::Deny,
                "local" => OnRedisError::Local,
                _ => {
                    return Err(ConfigError(format!(
                        "ROUTER_RATE_LIMIT_ON_REDIS_ERROR: `{v}` is not allow, deny or local"
                    )));
                }
            };
        }
        Ok(())
    }
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
pub fn limited_response(retry_after: Duration, graphql_response: bool) -> Response {
    let secs = retry_after_secs(retry_after);
    let body = json!({ "errors": [{
        "message": format!("too many requests from this client; retry in {secs} s"),
        "extensions": { "code": CODE, "retryAfter": secs },
    }] });
    let mut response = crate::edge::respond(StatusCode::TOO_MANY_REQUESTS, graphql_response, &body);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<RateLimitSettings, String> {
        yaml_serde::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_come_from_yaml_with_defaults() {
        let parsed = settings(
            "{ enabled: true, capacity: 5, per: 2s, on_redis_error: deny, trusted_proxies: [10.0.0.0/8, '::1'] }",
        )
        .expect("valid");
        assert!(parsed.enabled && parsed.redis);
        assert_eq!(parsed.per_client, Rule { capacity: 5, per: Duration::from_secs(2) });
        assert_eq!(parsed.on_redis_error, OnRedisError::Deny);
        assert_eq!(parsed.trusted_proxies.len(), 2);
        assert_eq!(parsed.key_prefix, "edustream:router:rl:");
        assert_eq!(settings("{}").expect("empty"), RateLimitSettings::default());
        assert!(!RateLimitSettings::default().enabled, "off unless asked for");
        for (yaml, expected) in [
            ("{ capacity: 0 }", "capacity"),
            ("{ per: soon }", "rate_limit.per"),
            ("{ per: 0ms }", "rate_limit.per"),
            ("{ trusted_proxies: [10.0.0.0/33] }", "trusted_proxies"),
            ("{ on_redis_error: maybe }", "maybe"),
            ("{ burst: 3 }", "unknown field `burst`"),
        ] {
            let error = settings(yaml).expect_err(yaml);
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }

    #[test]
    fn environment_variables_override_the_file() {
        let mut parsed = RateLimitSettings::default();
        let env = |name: &str| {
            Some(
                match name {
                    "ROUTER_RATE_LIMIT" => "on",
                    "ROUTER_RATE_LIMIT_CAPACITY" => "20",
                    "ROUTER_RATE_LIMIT_PER" => "500ms",
                    "ROUTER_RATE_LIMIT_TRUSTED_PROXIES" => "10.0.0.0/8, 192.168.1.1",
                    "ROUTER_RATE_LIMIT_ON_REDIS_ERROR" => "local",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        parsed.apply_env(&env).expect("valid");
        assert!(parsed.enabled);
        assert_eq!(parsed.per_client, Rule { capacity: 20, per: Duration::from_millis(500) });
        assert_eq!(parsed.trusted_proxies.len(), 2);
        assert_eq!(parsed.on_redis_error, OnRedisError::Local);
        let bad = |name: &'static str, value: &'static str| move |n: &str| (n == name).then(|| value.to_owned());
        for (name, value) in [
            ("ROUTER_RATE_LIMIT", "maybe"),
            ("ROUTER_RATE_LIMIT_CAPACITY", "0"),
            ("ROUTER_RATE_LIMIT_PER", "fast"),
            ("ROUTER_RATE_LIMIT_TRUSTED_PROXIES", "proxy.local"),
            ("ROUTER_RATE_LIMIT_ON_REDIS_ERROR", "panic"),
        ] {
            let error = parsed.apply_env(&bad(name, value)).expect_err(name);
            assert!(error.0.starts_with(name), "{error}");
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    #[tokio::test]
    async fn the_refusal_is_a_429_with_retry_after_and_a_graphql_error() {
        let response = limited_response(Duration::from_millis(1500), true);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::edge::accept::GRAPHQL_RESPONSE);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(body["errors"][0]["extensions"], json!({ "code": "RATE_LIMITED", "retryAfter": 2 }));
        let plain = limited_response(Duration::from_secs(1), false);
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
