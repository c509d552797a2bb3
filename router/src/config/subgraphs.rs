//! `subgraphs:`: how the router talks to each subgraph. `all` sets the defaults; an entry named
//! after a subgraph of the supergraph overrides them for that one, and may replace its URL.
//! `ROUTER_SUBGRAPH_TIMEOUT` sets the default timeout, `ROUTER_SUBGRAPH_URLS` (`name=url,...`)
//! and `--subgraph-url` the URLs.
//!
//! ```yaml
//! subgraphs:
//!   all: { timeout: 30s, protocol: http1, retries: 2, retry_backoff: 50ms, circuit_breaker: { failures: 10, open_for: 10s }, dedup: true }
//!   identity: { url: "${IDENTITY_URL:-http://identity:8001/graphql}", timeout: 5s, protocol: http2, max_request_bytes: 2097152 }
//!   tutoring: { cache: { ttl: 30s } }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::primitives::parse_duration;

/// How the router talks to a subgraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1 with a pool of kept-alive connections.
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (h2c): one multiplexed connection. Only for
    /// subgraphs that speak HTTP/2 (hyper/axum, Go's h2c, Envoy sidecars).
    Http2,
}

/// Settings of the subgraph client, for all subgraphs or for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubgraphSettings {
    /// How long one subgraph request may take, connection included.
    pub timeout: Duration,
    pub protocol: Protocol,
    /// Retries of queries (never mutations) on transport errors and 502/503/504.
    pub retry: RetrySettings,
    /// The subgraph's circuit breaker.
    pub breaker: BreakerSettings,
    /// Whether identical queries in flight at once (same body and forwarded headers) share one request.
    pub dedup: bool,
    /// How long this subgraph's answers to queries are cached (`None`: not cached).
    pub cache_ttl: Option<Duration>,
    /// The largest request body the subgraph accepts (its `BODY_LIMIT_BYTES`, 2 MiB by
    /// default): a larger one is refused at the router with `REQUEST_TOO_LARGE` instead of being
    /// sent for a 413. `0`: no check.
    pub max_request_bytes: usize,
}

/// The subgraphs' default body limit (`BODY_LIMIT_BYTES` of `platform`); the router's own body
/// limit is half of it, so what the router admits, the subgraphs accept (see
/// `router/docs/rate-limits-and-safety.md`, "Limits at the router and the subgraphs").
pub const SUBGRAPH_BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

impl Default for SubgraphSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            protocol: Protocol::Http1,
            retry: RetrySettings::default(),
            breaker: BreakerSettings::default(),
            dedup: true,
            cache_ttl: None,
            max_request_bytes: SUBGRAPH_BODY_LIMIT_BYTES,
        }
    }
}

/// Retries of idempotent operations: at most `retries` more attempts, waiting
/// `backoff × 2^attempt`, half of it fixed and half random (so replicas do not retry in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    pub retries: u32,
    pub backoff: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self { retries: 2, backoff: Duration::from_millis(50) }
    }
}

/// Circuit breaker settings: open after `failures` consecutive failed requests (transport
/// errors, timeouts, 5xx), stay open `open_for`, then let one probe through. `failures: 0`
/// turns the breaker off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self { failures: 10, open_for: Duration::from_secs(10) }
    }
}

/// `name=url`, as flags and `ROUTER_SUBGRAPH_URLS` give subgraph URLs.
pub fn subgraph_url(pair: &str) -> Result<(String, String), ConfigError> {
    let (name, url) = pair.split_once('=').ok_or_else(|| ConfigError(format!("`{pair}` is not name=url")))?;
    let (name, url) = (name.trim(), url.trim());
    if name.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError(format!("`{pair}` is not name=http(s)://…")));
    }
    Ok((name.to_owned(), url.to_owned()))
}

/// One entry of the section, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubgraphSection {
    url: Option<String>,
    timeout: Option<String>,
    protocol: Option<Protocol>,
    retries: Option<u32>,
    retry_backoff: Option<String>,
    circuit_breaker: Option<BreakerSection>,
    dedup: Option<bool>,
    cache: Option<CacheSection>,
    max_request_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerSection {
    failures: Option<u32>,
    open_for: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    ttl: Option<String>,
}

/// The section, checked: the defaults (`all`), each named subgraph's settings (inheriting from
/// `all`), and the URLs that replace the supergraph's.
#[derive(Debug, Default)]
pub(super) struct Subgraphs {
    pub defaults: SubgraphSettings,
    pub named: HashMap<String, SubgraphSettings>,
    pub urls: HashMap<String, String>,
}

impl TryFrom<HashMap<String, SubgraphSection>> for Subgraphs {
    type Error = ConfigError;

    fn try_from(mut sections: HashMap<String, SubgraphSection>) -> Result<Self, ConfigError> {
        let mut subgraphs = Self::default();
        if let Some(all) = sections.remove("all") {
            if all.url.is_some() {
                return Err(ConfigError("subgraphs.all: `url` belongs to one subgraph, not to all".into()));
            }
            subgraphs.defaults = all.settings("all", &SubgraphSettings::default())?;
        }
        for (name, section) in sections {
            if let Some(url) = &section.url {
                let (_, url) = subgraph_url(&format!("{name}={url}"))
                    .map_err(|e| ConfigError(format!("subgraphs.{name}.url: {}", e.0)))?;
                subgraphs.urls.insert(name.clone(), url);
            }
            let settings = section.settings(&name, &subgraphs.defaults)?;
            subgraphs.named.insert(name, settings);
        }
        Ok(subgraphs)
    }
}

impl SubgraphSection {
    fn settings(&self, name: &str, base: &SubgraphSettings) -> Result<SubgraphSettings, ConfigError> {
        let timeout = match &self.timeout {
            Some(t) => parse_duration(t).map_err(|e| ConfigError(format!("subgraphs.{name}.timeout: {e}")))?,
            None => base.timeout,
        };
        let duration = |key: &str, value: &str| {
            parse_duration(value).map_err(|e| ConfigError(format!("subgraphs.{name}.{key}: {e}")))
        };
        let mut retry = base.retry;
        if let Some(retries) = self.retries {
            if retries > 10 {
                return Err(ConfigError(format!("subgraphs.{name}.retries: at most 10")));
            }
            retry.retries = retries;
        }
        if let Some(backoff) = &self.retry_backoff {
            retry.backoff = duration("retry_backoff", backoff)?;
        }
        let mut breaker = base.breaker;
        if let Some(section) = &self.circuit_breaker {
            breaker.failures = section.failures.unwrap_or(breaker.failures);
            if let Some(open_for) = &section.open_for {
                breaker.open_for = duration("circuit_breaker.open_for", open_for)?;
            }
        }
        let cache_ttl = match self.cache.as_ref().and_then(|c| c.ttl.as_deref()) {
            Some(ttl) => Some(duration("cache.ttl", ttl)?),
            None => base.cache_ttl,
        };
        Ok(SubgraphSettings {
            timeout,
            protocol: self.protocol.unwrap_or(base.protocol),
            retry,
            breaker,
            dedup: self.dedup.unwrap_or(base.dedup),
            cache_ttl,
            max_request_bytes: self.max_request_bytes.unwrap_or(base.max_request_bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subgraph_urls_are_name_equals_http_url() {
        let pair = subgraph_url(" identity = http://identity:8001/graphql ").expect("valid");
        assert_eq!(pair, ("identity".to_owned(), "http://identity:8001/graphql".to_owned()));
        for bad in ["identity", "=http://x", "identity=ftp://x"] {
            assert!(subgraph_url(bad).is_err(), "{bad}");
        }
    }
}
