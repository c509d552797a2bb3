//! `rate_limit:`: per-client token buckets (`edge::ratelimit`), off by default. A
//! bucket holds `capacity` tokens (the burst) and refills `capacity` per `per`; each request
//! takes one. `ROUTER_RATE_LIMIT`, `ROUTER_RATE_LIMIT_CAPACITY`, `ROUTER_RATE_LIMIT_PER`,
//! `ROUTER_RATE_LIMIT_TRUSTED_PROXIES` and `ROUTER_RATE_LIMIT_ON_REDIS_ERROR` override it.
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

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::primitives::{Cidr, parse_bool, parse_duration, parse_positive};

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

/// Rate limit settings.
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
            self.enabled = parse_bool("ROUTER_RATE_LIMIT", &v)?;
        }
        let mut capacity = self.per_client.capacity;
        if let Some(v) = var("ROUTER_RATE_LIMIT_CAPACITY") {
            capacity = parse_positive("ROUTER_RATE_LIMIT_CAPACITY", &v)?;
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
}
