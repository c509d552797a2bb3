//! Router settings: defaults, then a YAML file, then environment variables, then flags.
//!
//! The YAML file may reference the environment with `${NAME}` or `${NAME:-default}`, so secrets
//! and per-deployment addresses stay out of it. Unknown keys are errors, located by line, so a
//! typo never silently keeps a default.
//!
//! ```yaml
//! listen: 0.0.0.0:4000
//! supergraph: supergraph.graphql
//! headers:
//!   forward: [authorization, accept-language]
//! subgraphs:
//!   all: { timeout: 30s, protocol: http1 }
//!   identity: { url: "${IDENTITY_URL:-http://identity:8001/graphql}", timeout: 5s, protocol: http2 }
//! query_plan: { expose: false }
//! subgraph_errors: { expose: false }
//! introspection: { enabled: false }
//! cache_control: { max_age: 10s }
//! response_cache: { capacity: 10000 }
//! batching: { enabled: false, max_size: 10 }
//! apq: { enabled: true, capacity: 10000 }
//! cors: { allow_origins: ["https://app.example.com"], allow_credentials: true, max_age: 10m }
//! limits: { body_bytes: 1048576, max_depth: 32, max_aliases: 128, max_root_fields: 64, max_tokens: 50000, max_cost: 50000, list_size: 10, object_cost: 1, leaf_cost: 0 }
//! subscriptions: { max_connections: 20000, max_per_connection: 100, init_timeout: 10s, dedup: true }
//! ```
//!
//! This module holds [`RouterConfig`], the file's shape and the settings of the top level (the
//! address, the supergraph, switches, caches, Redis). Each section with settings of its own has
//! a module, data and validation only: [`headers`], [`subgraphs`], [`limits`], [`cors`],
//! [`apq`], [`batching`], [`csrf`], [`persisted_documents`], [`partners`], [`authentication`],
//! [`rate_limit`], [`subscriptions`]; the values they are written in are [`primitives`]. The
//! features read their settings from here; nothing here knows the features.

pub mod apq;
pub mod authentication;
pub mod batching;
pub mod cors;
pub mod csrf;
pub mod headers;
pub mod limits;
pub mod partners;
pub mod persisted_documents;
pub mod primitives;
pub mod rate_limit;
pub mod subgraphs;
pub mod subscriptions;

pub use cors::Cors;
pub use headers::header_list;
pub use primitives::parse_duration;
pub use subgraphs::{Protocol, SUBGRAPH_BODY_LIMIT_BYTES, SubgraphSettings, subgraph_url};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use apq::ApqSettings;
use authentication::AuthSettings;
use batching::Batching;
use csrf::Csrf;
use limits::{HeaderLimits, Limits, OperationLimits};
use partners::PartnerSettings;
use persisted_documents::TrustedSettings;
use primitives::{expand_strings, parse_bool, parse_duration_or_zero, parse_positive};
use rate_limit::RateLimitSettings;
use subgraphs::{SubgraphSection, Subgraphs};
use subscriptions::SubscriptionSettings;

/// A configuration error, phrased for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Router settings.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub listen: SocketAddr,
    /// The supergraph file, when one is configured (the binary may also compose at start).
    pub supergraph: Option<PathBuf>,
    /// Client settings for subgraphs without their own entry.
    pub subgraph_defaults: SubgraphSettings,
    /// Per-subgraph settings, by the subgraph's name in the supergraph.
    pub subgraphs: HashMap<String, SubgraphSettings>,
    /// Per-subgraph URLs replacing the supergraph's (deployments address services differently).
    pub subgraph_urls: HashMap<String, String>,
    /// Request headers forwarded to subgraphs (lower case); `authorization` by default.
    pub forward_headers: Vec<String>,
    /// Whether `x-query-plan: true` returns the plan in `extensions.queryPlan`.
    pub expose_query_plan: bool,
    /// Whether subgraph error messages reach clients; masked by default (code and path kept).
    pub expose_subgraph_errors: bool,
    /// Whether `__schema` / `__type` are answered; off by default (production), on in development.
    pub introspection: bool,
    /// Browser origins allowed to call the router cross-origin (none by default).
    pub cors: Cors,
    /// `max-age` of `Cache-Control: public` on anonymous GET answers to persisted queries (APQ
    /// and trusted documents), for CDNs; zero: `no-store` like every other answer.
    pub cache_control_max_age: Duration,
    /// Batched requests (a JSON array of operations): off by default, capped when on.
    pub batching: Batching,
    /// Automatic persisted queries (in memory).
    pub apq: ApqSettings,
    /// Redis (`REDIS_URL`): when set, persisted queries, the response cache and rate limits are
    /// shared by every replica through it.
    pub redis_url: Option<String>,
    /// The in-memory response cache's size (subgraphs opt in with `cache.ttl`).
    pub response_cache_capacity: usize,
    pub body_limit_bytes: usize,
    /// Depth, aliases, root fields, tokens and cost of operations (`0` turns one off).
    pub operation_limits: OperationLimits,
    /// Request header count and size (`HEADERS_TOO_LARGE`).
    pub header_limits: HeaderLimits,
    /// CSRF prevention: on by default.
    pub csrf: Csrf,
    /// Trusted documents (persisted operation manifests), optionally a safelist.
    pub persisted_documents: TrustedSettings,
    /// Partners identified by API keys, with allow-lists and quotas.
    pub partners: PartnerSettings,
    /// JWT validation against JWKS (none: tokens are only forwarded).
    pub authentication: Option<AuthSettings>,
    /// Per-client token buckets (off by default).
    pub rate_limit: RateLimitSettings,
    /// Subscriptions over WebSocket and SSE: limits, upstream sharing, reconnection.
    pub subscriptions: SubscriptionSettings,
}

/// The default `cache_control.max_age`.
const CACHE_CONTROL_MAX_AGE: Duration = Duration::from_secs(10);
/// The default `response_cache.capacity`.
const RESPONSE_CACHE_CAPACITY: usize = 10_000;

impl Default for RouterConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            supergraph: None,
            subgraph_defaults: SubgraphSettings::default(),
            subgraphs: HashMap::new(),
            subgraph_urls: HashMap::new(),
            forward_headers: headers::default_forward(),
            expose_query_plan: false,
            expose_subgraph_errors: false,
            introspection: false,
            cors: Cors::default(),
            cache_control_max_age: CACHE_CONTROL_MAX_AGE,
            batching: Batching::default(),
            apq: ApqSettings::default(),
            redis_url: None,
            response_cache_capacity: RESPONSE_CACHE_CAPACITY,
            body_limit_bytes: limits.body_bytes,
            operation_limits: limits.operation,
            header_limits: limits.headers,
            csrf: Csrf::default(),
            persisted_documents: TrustedSettings::default(),
            partners: PartnerSettings::default(),
            authentication: None,
            rate_limit: RateLimitSettings::default(),
            subscriptions: SubscriptionSettings::default(),
        }
    }
}

impl RouterConfig {
    /// The client settings of one subgraph.
    pub fn subgraph(&self, name: &str) -> &SubgraphSettings {
        self.subgraphs.get(name).unwrap_or(&self.subgraph_defaults)
    }

    /// Reads a YAML file over the defaults.
    pub fn from_yaml_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the router config {}: {e}", path.display())))?;
        Self::from_yaml(&text, env).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses YAML text over the defaults; `env` answers `${NAME}` references.
    pub fn from_yaml(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // Parsed first, expanded in string values after: comments and keys are left alone.
        let mut value: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        if value.is_null() {
            return File::default().into_config();
        }
        expand_strings(&mut value, env)?;
        let file: File = yaml_serde::from_value(value).map_err(|e| ConfigError(e.to_string()))?;
        file.into_config()
    }

    /// Applies the `ROUTER_*` environment variables (see the README's table), over the file:
    /// the top level's here, each section's by its module.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        self.apply_top_level_env(env)?;
        self.apq.apply_env(env)?;
        self.batching.apply_env(env)?;
        self.cors.apply_env(env)?;
        self.operation_limits.apply_env(env)?;
        self.header_limits.apply_env(env)?;
        self.csrf.apply_env(env)?;
        self.persisted_documents.apply_env(env)?;
        self.partners.apply_env(env)?;
        self.rate_limit.apply_env(env)?;
        self.authentication = AuthSettings::apply_env(self.authentication.take(), env)?;
        Ok(())
    }

    fn apply_top_level_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_LISTEN") {
            self.listen =
                v.trim().parse().map_err(|_| ConfigError(format!("ROUTER_LISTEN: `{v}` is not host:port")))?;
        }
        if let Some(v) = var("ROUTER_SUPERGRAPH") {
            self.supergraph = Some(PathBuf::from(v));
        }
        if let Some(v) = var("ROUTER_SUBGRAPH_TIMEOUT") {
            self.subgraph_defaults.timeout =
                parse_duration(&v).map_err(|e| ConfigError(format!("ROUTER_SUBGRAPH_TIMEOUT: {e}")))?;
        }
        if let Some(v) = var("ROUTER_FORWARD_HEADERS") {
            self.forward_headers = header_list(v.split(','))?;
        }
        if let Some(v) = var("ROUTER_SUBGRAPH_URLS") {
            for pair in v.split(',').filter(|p| !p.trim().is_empty()) {
                let (name, url) =
                    subgraph_url(pair).map_err(|e| ConfigError(format!("ROUTER_SUBGRAPH_URLS: {}", e.0)))?;
                self.subgraph_urls.insert(name, url);
            }
        }
        if let Some(v) = var("ROUTER_EXPOSE_QUERY_PLAN") {
            self.expose_query_plan = parse_bool("ROUTER_EXPOSE_QUERY_PLAN", &v)?;
        }
        if let Some(v) = var("ROUTER_EXPOSE_SUBGRAPH_ERRORS") {
            self.expose_subgraph_errors = parse_bool("ROUTER_EXPOSE_SUBGRAPH_ERRORS", &v)?;
        }
        if let Some(v) = var("ROUTER_INTROSPECTION") {
            self.introspection = parse_bool("ROUTER_INTROSPECTION", &v)?;
        }
        if let Some(v) = var("REDIS_URL") {
            if !(v.starts_with("redis://") || v.starts_with("rediss://")) {
                return Err(ConfigError(format!("REDIS_URL: `{v}` is not a redis:// URL")));
            }
            self.redis_url = Some(v);
        }
        if let Some(v) = var("ROUTER_CACHE_CONTROL_MAX_AGE") {
            self.cache_control_max_age =
                parse_duration_or_zero(&v).map_err(|e| ConfigError(format!("ROUTER_CACHE_CONTROL_MAX_AGE: {e}")))?;
        }
        if let Some(v) = var("ROUTER_BODY_LIMIT_BYTES") {
            self.body_limit_bytes = parse_positive("ROUTER_BODY_LIMIT_BYTES", &v)?;
        }
        Ok(())
    }
}

/// The YAML file's shape: sections with a module of their own are checked as they are read;
/// the top level's are checked by [`File::into_config`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    supergraph: Option<PathBuf>,
    #[serde(default)]
    headers: HeadersSection,
    #[serde(default)]
    subgraphs: HashMap<String, SubgraphSection>,
    #[serde(default)]
    query_plan: ExposeSection,
    #[serde(default)]
    subgraph_errors: ExposeSection,
    #[serde(default)]
    introspection: EnabledSection,
    #[serde(default)]
    cors: Cors,
    #[serde(default)]
    cache_control: CacheControlSection,
    #[serde(default)]
    batching: Batching,
    #[serde(default)]
    apq: ApqSettings,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    response_cache: ResponseCacheSection,
    #[serde(default)]
    csrf: Csrf,
    #[serde(default)]
    persisted_documents: TrustedSettings,
    #[serde(default)]
    partners: PartnerSettings,
    authentication: Option<AuthSettings>,
    #[serde(default)]
    rate_limit: RateLimitSettings,
    #[serde(default)]
    subscriptions: SubscriptionSettings,
}

/// `headers:`, see [`headers`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadersSection {
    forward: Option<Vec<String>>,
}

/// `query_plan:` and `subgraph_errors:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExposeSection {
    #[serde(default)]
    expose: bool,
}

/// `introspection:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnabledSection {
    #[serde(default)]
    enabled: bool,
}

/// `cache_control:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheControlSection {
    max_age: Option<String>,
}

/// `response_cache:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseCacheSection {
    capacity: Option<usize>,
}

impl File {
    fn into_config(self) -> Result<RouterConfig, ConfigError> {
        let defaults = RouterConfig::default();
        let listen = match self.listen {
            Some(listen) => {
                listen.trim().parse().map_err(|_| ConfigError(format!("listen: `{listen}` is not host:port")))?
            }
            None => defaults.listen,
        };
        let forward_headers = match self.headers.forward {
            Some(forward) => header_list(forward.iter().map(String::as_str))
                .map_err(|e| ConfigError(format!("headers.forward: {}", e.0)))?,
            None => defaults.forward_headers,
        };
        let subgraphs = Subgraphs::try_from(self.subgraphs)?;
        let cache_control_max_age = match &self.cache_control.max_age {
            Some(age) => parse_duration_or_zero(age).map_err(|e| ConfigError(format!("cache_control.max_age: {e}")))?,
            None => defaults.cache_control_max_age,
        };
        let response_cache_capacity = match self.response_cache.capacity {
            Some(0) => return Err(ConfigError("response_cache.capacity must be positive".into())),
            Some(capacity) => capacity,
            None => defaults.response_cache_capacity,
        };
        self.subscriptions.check().map_err(ConfigError)?;
        Ok(RouterConfig {
            listen,
            supergraph: self.supergraph,
            subgraph_defaults: subgraphs.defaults,
            subgraphs: subgraphs.named,
            subgraph_urls: subgraphs.urls,
            forward_headers,
            expose_query_plan: self.query_plan.expose,
            expose_subgraph_errors: self.subgraph_errors.expose,
            introspection: self.introspection.enabled,
            cors: self.cors,
            cache_control_max_age,
            batching: self.batching,
            apq: self.apq,
            // Only from the environment (`REDIS_URL`), shared with the subgraphs.
            redis_url: defaults.redis_url,
            response_cache_capacity,
            body_limit_bytes: self.limits.body_bytes,
            operation_limits: self.limits.operation,
            header_limits: self.limits.headers,
            csrf: self.csrf,
            persisted_documents: self.persisted_documents,
            partners: self.partners,
            authentication: self.authentication,
            rate_limit: self.rate_limit,
            subscriptions: self.subscriptions,
        })
    }
}

#[cfg(test)]
mod tests;
