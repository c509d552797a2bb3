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
//! batching: { enabled: false, max_size: 10 }
//! apq: { enabled: true, capacity: 10000 }
//! cors: { allow_origins: ["https://app.example.com"], allow_credentials: true, max_age: 10m }
//! limits: { body_bytes: 1048576, max_depth: 32, max_aliases: 128, max_root_fields: 64, max_tokens: 50000, max_cost: 0, list_size: 10 }
//! subscriptions: { max_connections: 20000, max_per_connection: 100, init_timeout: 10s, dedup: true }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    pub retry: crate::traffic::RetrySettings,
    /// The subgraph's circuit breaker.
    pub breaker: crate::traffic::BreakerSettings,
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
            retry: crate::traffic::RetrySettings::default(),
            breaker: crate::traffic::BreakerSettings::default(),
            dedup: true,
            cache_ttl: None,
            max_request_bytes: SUBGRAPH_BODY_LIMIT_BYTES,
        }
    }
}

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
    pub operation_limits: crate::limits::OperationLimits,
    /// Request header count and size (`HEADERS_TOO_LARGE`).
    pub header_limits: crate::edge::header_limits::HeaderLimits,
    /// CSRF prevention: on by default.
    pub csrf: crate::edge::csrf::Csrf,
    /// Trusted documents (persisted operation manifests), optionally a safelist.
    pub persisted_documents: crate::edge::trusted::TrustedSettings,
    /// Partners identified by API keys, with allow-lists and quotas.
    pub partners: crate::edge::trusted::PartnerSettings,
    /// JWT validation against JWKS (none: tokens are only forwarded).
    pub authentication: Option<crate::edge::auth::AuthSettings>,
    /// Per-client token buckets (off by default).
    pub rate_limit: crate::edge::ratelimit::RateLimitSettings,
    /// Subscriptions over WebSocket and SSE: limits, upstream sharing, reconnection.
    pub subscriptions: crate::subscription::SubscriptionSettings,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            supergraph: None,
            subgraph_defaults: SubgraphSettings::default(),
            subgraphs: HashMap::new(),
            subgraph_urls: HashMap::new(),
            forward_headers: vec!["authorization".into()],
            expose_query_plan: false,
            expose_subgraph_errors: false,
            introspection: false,
            cors: Cors::default(),
            cache_control_max_age: Duration::from_secs(10),
            batching: Batching::default(),
            apq: ApqSettings::default(),
            redis_url: None,
            response_cache_capacity: 10_000,
            body_limit_bytes: SUBGRAPH_BODY_LIMIT_BYTES / 2,
            operation_limits: crate::limits::OperationLimits::default(),
            header_limits: crate::edge::header_limits::HeaderLimits::default(),
            csrf: crate::edge::csrf::Csrf::default(),
            persisted_documents: crate::edge::trusted::TrustedSettings::default(),
            partners: crate::edge::trusted::PartnerSettings::default(),
            authentication: None,
            rate_limit: crate::edge::ratelimit::RateLimitSettings::default(),
            subscriptions: crate::subscription::SubscriptionSettings::default(),
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

    /// Applies the `ROUTER_*` environment variables (see the README's table), over the file.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
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
        if let Some(v) = var("ROUTER_APQ") {
            self.apq.enabled = parse_bool("ROUTER_APQ", &v)?;
        }
        if let Some(v) = var("REDIS_URL").filter(|v| !v.trim().is_empty()) {
            if !(v.starts_with("redis://") || v.starts_with("rediss://")) {
                return Err(ConfigError(format!("REDIS_URL: `{v}` is not a redis:// URL")));
            }
            self.redis_url = Some(v);
        }
        if let Some(v) = var("ROUTER_BATCHING") {
            self.batching.enabled = parse_bool("ROUTER_BATCHING", &v)?;
        }
        if let Some(v) = var("ROUTER_BATCHING_MAX_SIZE") {
            self.batching.max_size = v.trim().parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                ConfigError(format!("ROUTER_BATCHING_MAX_SIZE: `{v}` is not a number from 1 to 1000"))
            })?;
        }
        if let Some(v) = var("ROUTER_CORS_ALLOW_ORIGINS") {
            self.cors.allow_origins =
                v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
            self.cors.check("ROUTER_CORS_ALLOW_ORIGINS")?;
        }
        if let Some(v) = var("ROUTER_CORS_ALLOW_LOCALHOST") {
            self.cors.allow_localhost = parse_bool("ROUTER_CORS_ALLOW_LOCALHOST", &v)?;
        }
        if let Some(v) = var("ROUTER_CORS_ALLOW_CREDENTIALS") {
            self.cors.allow_credentials = parse_bool("ROUTER_CORS_ALLOW_CREDENTIALS", &v)?;
            self.cors.check("ROUTER_CORS_ALLOW_CREDENTIALS")?;
        }
        if let Some(v) = var("ROUTER_CORS_ALLOW_HEADERS") {
            self.cors.allow_headers = Some(cors_headers("ROUTER_CORS_ALLOW_HEADERS", &v)?);
        }
        if let Some(v) = var("ROUTER_CORS_EXPOSE_HEADERS") {
            self.cors.expose_headers = cors_headers("ROUTER_CORS_EXPOSE_HEADERS", &v)?;
        }
        if let Some(v) = var("ROUTER_CACHE_CONTROL_MAX_AGE") {
            self.cache_control_max_age =
                parse_duration_or_zero(&v).map_err(|e| ConfigError(format!("ROUTER_CACHE_CONTROL_MAX_AGE: {e}")))?;
        }
        if let Some(v) = var("ROUTER_BODY_LIMIT_BYTES") {
            self.body_limit_bytes = v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError(format!("ROUTER_BODY_LIMIT_BYTES: `{v}` is not a positive number")))?;
        }
        let limits = &mut self.operation_limits;
        for (name, slot) in [
            ("ROUTER_MAX_DEPTH", &mut limits.max_depth),
            ("ROUTER_MAX_ALIASES", &mut limits.max_aliases),
            ("ROUTER_MAX_ROOT_FIELDS", &mut limits.max_root_fields),
            ("ROUTER_MAX_TOKENS", &mut limits.max_tokens),
        ] {
            if let Some(v) = var(name) {
                *slot = v
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError(format!("{name}: `{v}` is not a number (0: no limit)")))?;
            }
        }
        self.header_limits.apply_env(env)?;
        self.csrf.apply_env(env)?;
        self.persisted_documents.apply_env(env)?;
        self.partners.apply_env(env)?;
        self.rate_limit.apply_env(env)?;
        self.authentication = crate::edge::auth::AuthSettings::apply_env(self.authentication.take(), env)?;
        if let Some(v) = var("ROUTER_MAX_COST") {
            limits.max_cost = v
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("ROUTER_MAX_COST: `{v}` is not a number (0: no limit)")))?;
        }
        Ok(())
    }
}

/// Automatic persisted queries: on by default, at most `capacity` registered queries in memory,
/// shared between replicas through Redis when `REDIS_URL` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApqSettings {
    pub enabled: bool,
    pub capacity: usize,
}

impl Default for ApqSettings {
    fn default() -> Self {
        Self { enabled: true, capacity: 10_000 }
    }
}

/// Batched requests: opt-in, at most `max_size` operations per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batching {
    pub enabled: bool,
    pub max_size: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self { enabled: false, max_size: 10 }
    }
}

/// Cross-origin access for browsers, by allow-list. Empty: no CORS headers at all, so browsers
/// refuse cross-origin calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Exact origins (`https://app.example.com`), or `*` for any (not with credentials).
    pub allow_origins: Vec<String>,
    /// Any `localhost` / `127.0.0.1` / `[::1]` origin, any port (on in the dev stack).
    pub allow_localhost: bool,
    /// Whether browsers may send cookies and `authorization` cross-origin.
    pub allow_credentials: bool,
    /// Request headers browsers may send; `None`: whatever the preflight asks for (mirrored).
    pub allow_headers: Option<Vec<String>>,
    /// Response headers scripts may read besides the safelisted ones.
    pub expose_headers: Vec<String>,
    /// How long browsers may cache a preflight's answer.
    pub max_age: Duration,
}

impl Default for Cors {
    fn default() -> Self {
        Self {
            allow_origins: Vec::new(),
            allow_localhost: false,
            allow_credentials: false,
            allow_headers: None,
            expose_headers: Vec::new(),
            max_age: Duration::from_secs(600),
        }
    }
}

impl Cors {
    fn check(&self, key: &str) -> Result<(), ConfigError> {
        for origin in &self.allow_origins {
            let valid = origin == "*"
                || origin.split_once("://").is_some_and(|(scheme, host)| {
                    matches!(scheme, "http" | "https")
                        && !host.is_empty()
                        && !host.contains(['/', ' '])
                        && axum::http::HeaderValue::from_str(origin).is_ok()
                });
            if !valid {
                return Err(ConfigError(format!("{key}: `{origin}` is not an origin (scheme://host[:port]) or `*`")));
            }
        }
        if self.allow_credentials && self.allow_origins.iter().any(|o| o == "*") {
            return Err(ConfigError(format!("{key}: `*` cannot be combined with allow_credentials")));
        }
        Ok(())
    }
}

/// A comma-separated list of header names for CORS (validated, lower-cased; `*` is refused:
/// the default already mirrors what browsers ask for).
fn cors_headers(key: &str, text: &str) -> Result<Vec<String>, ConfigError> {
    cors_header_list(key, text.split(','))
}

fn cors_header_list<'a>(key: &str, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(lower.as_bytes()).is_err() || lower == "*" {
            return Err(ConfigError(format!("{key}: `{name}` is not a header name")));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Ok(out)
}

/// A duration that may be zero (`0` turns the feature off).
fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Err(_) if text.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse() == Ok(0u64) => {
            Ok(Duration::ZERO)
        }
        other => other,
    }
}

/// A configuration error, phrased for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// `name=url`, as flags and `ROUTER_SUBGRAPH_URLS` give subgraph URLs.
pub fn subgraph_url(pair: &str) -> Result<(String, String), ConfigError> {
    let (name, url) = pair.split_once('=').ok_or_else(|| ConfigError(format!("`{pair}` is not name=url")))?;
    let (name, url) = (name.trim(), url.trim());
    if name.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError(format!("`{pair}` is not name=http(s)://…")));
    }
    Ok((name.to_owned(), url.to_owned()))
}

/// Header names, validated and lower-cased.
pub fn header_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(ConfigError(format!("`{name}` is not a valid header name")));
        }
        if HOP_BY_HOP.contains(&lower.as_str()) {
            return Err(ConfigError(format!(
                "`{name}` describes the client's connection or body and cannot be forwarded"
            )));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Ok(out)
}

/// Headers that belong to one hop (or to the body the router re-encodes): forwarding them would
/// corrupt the subgraph request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "content-encoding",
    "accept-encoding",
    "host",
];

/// A switch from the environment: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
pub(crate) fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!("{name}: `{value}` is not true or false (on or off)"))),
    }
}

/// `250ms`, `5s`, `2m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration such as 500ms, 5s or 2m"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("`{text}` is not a duration such as 500ms, 5s or 2m")),
    };
    if duration.is_zero() {
        return Err(format!("`{text}`: a timeout must be longer than zero"));
    }
    Ok(duration)
}

fn expand_strings(value: &mut yaml_serde::Value, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match value {
        yaml_serde::Value::String(s) if s.contains('$') => {
            let expanded = expand_env(s, env)?;
            // `body_bytes: ${LIMIT}` becomes the number (or boolean) the variable holds.
            *value = match yaml_serde::from_str::<yaml_serde::Value>(&expanded) {
                Ok(scalar @ (yaml_serde::Value::Number(_) | yaml_serde::Value::Bool(_)))
                    if s.trim().starts_with("${") =>
                {
                    scalar
                }
                _ => yaml_serde::Value::String(expanded),
            };
        }
        yaml_serde::Value::Sequence(items) => {
            for item in items {
                expand_strings(item, env)?;
            }
        }
        yaml_serde::Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                expand_strings(item, env)?;
            }
        }
        yaml_serde::Value::Tagged(tagged) => expand_strings(&mut tagged.value, env)?,
        _ => {}
    }
    Ok(())
}

/// Replaces `${NAME}` and `${NAME:-default}`; `$$` is a literal `$`. A reference to an unset
/// variable without a default is an error naming it.
fn expand_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(|| ConfigError("an unclosed `${` in the router config".into()))?;
            let reference = &inner[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError(format!("`${{{reference}}}` is not a variable reference")));
            }
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(ConfigError(format!("the router config uses ${{{name}}}, which is not set")));
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The YAML file's shape.
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
    cors: CorsSection,
    #[serde(default)]
    cache_control: CacheControlSection,
    #[serde(default)]
    batching: BatchingSection,
    #[serde(default)]
    apq: ApqSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    response_cache: ResponseCacheSection,
    #[serde(default)]
    csrf: crate::edge::csrf::Csrf,
    #[serde(default)]
    persisted_documents: crate::edge::trusted::TrustedSettings,
    #[serde(default)]
    partners: crate::edge::trusted::PartnerSettings,
    authentication: Option<crate::edge::auth::AuthSettings>,
    #[serde(default)]
    rate_limit: crate::edge::ratelimit::RateLimitSettings,
    #[serde(default)]
    subscriptions: crate::subscription::SubscriptionSettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseCacheSection {
    capacity: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadersSection {
    forward: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubgraphSection {
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExposeSection {
    #[serde(default)]
    expose: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApqSection {
    enabled: Option<bool>,
    capacity: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchingSection {
    #[serde(default)]
    enabled: bool,
    max_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorsSection {
    #[serde(default)]
    allow_origins: Vec<String>,
    #[serde(default)]
    allow_localhost: bool,
    #[serde(default)]
    allow_credentials: bool,
    allow_headers: Option<Vec<String>>,
    #[serde(default)]
    expose_headers: Vec<String>,
    max_age: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheControlSection {
    max_age: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnabledSection {
    #[serde(default)]
    enabled: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    body_bytes: Option<usize>,
    max_depth: Option<usize>,
    max_aliases: Option<usize>,
    max_root_fields: Option<usize>,
    max_tokens: Option<usize>,
    max_cost: Option<u64>,
    list_size: Option<u64>,
    header_bytes: Option<usize>,
    headers: Option<usize>,
    forwarded_header_bytes: Option<usize>,
}

impl File {
    fn into_config(self) -> Result<RouterConfig, ConfigError> {
        let mut config = RouterConfig::default();
        if let Some(listen) = self.listen {
            config.listen =
                listen.trim().parse().map_err(|_| ConfigError(format!("listen: `{listen}` is not host:port")))?;
        }
        config.supergraph = self.supergraph;
        if let Some(forward) = self.headers.forward {
            config.forward_headers = header_list(forward.iter().map(String::as_str))
                .map_err(|e| ConfigError(format!("headers.forward: {}", e.0)))?;
        }
        let mut sections = self.subgraphs;
        if let Some(all) = sections.remove("all") {
            if all.url.is_some() {
                return Err(ConfigError("subgraphs.all: `url` belongs to one subgraph, not to all".into()));
            }
            config.subgraph_defaults = all.settings("all", &SubgraphSettings::default())?;
        }
        for (name, section) in sections {
            if let Some(url) = &section.url {
                let (_, url) = subgraph_url(&format!("{name}={url}"))
                    .map_err(|e| ConfigError(format!("subgraphs.{name}.url: {}", e.0)))?;
                config.subgraph_urls.insert(name.clone(), url);
            }
            let settings = section.settings(&name, &config.subgraph_defaults)?;
            config.subgraphs.insert(name, settings);
        }
        config.expose_query_plan = self.query_plan.expose;
        config.expose_subgraph_errors = self.subgraph_errors.expose;
        config.introspection = self.introspection.enabled;
        config.cors.allow_origins = self.cors.allow_origins;
        config.cors.allow_localhost = self.cors.allow_localhost;
        config.cors.allow_credentials = self.cors.allow_credentials;
        if let Some(list) = &self.cors.allow_headers {
            config.cors.allow_headers = Some(cors_header_list("cors.allow_headers", list.iter().map(String::as_str))?);
        }
        config.cors.expose_headers =
            cors_header_list("cors.expose_headers", self.cors.expose_headers.iter().map(String::as_str))?;
        if let Some(age) = &self.cache_control.max_age {
            config.cache_control_max_age =
                parse_duration_or_zero(age).map_err(|e| ConfigError(format!("cache_control.max_age: {e}")))?;
        }
        if let Some(age) = &self.cors.max_age {
            config.cors.max_age = parse_duration(age).map_err(|e| ConfigError(format!("cors.max_age: {e}")))?;
        }
        config.cors.check("cors.allow_origins")?;
        config.apq.enabled = self.apq.enabled.unwrap_or(config.apq.enabled);
        if let Some(capacity) = self.apq.capacity {
            if capacity == 0 {
                return Err(ConfigError("apq.capacity must be positive".into()));
            }
            config.apq.capacity = capacity;
        }
        config.batching.enabled = self.batching.enabled;
        if let Some(size) = self.batching.max_size {
            if !(1..=1000).contains(&size) {
                return Err(ConfigError("batching.max_size must be from 1 to 1000".into()));
            }
            config.batching.max_size = size;
        }
        config.header_limits.max_bytes = self.limits.header_bytes.unwrap_or(config.header_limits.max_bytes);
        config.header_limits.max_forwarded_bytes =
            self.limits.forwarded_header_bytes.unwrap_or(config.header_limits.max_forwarded_bytes);
        config.header_limits.max_count = self.limits.headers.unwrap_or(config.header_limits.max_count);
        config.csrf = self.csrf;
        config.persisted_documents = self.persisted_documents;
        config.partners = self.partners;
        config.authentication = self.authentication;
        config.rate_limit = self.rate_limit;
        self.subscriptions.check().map_err(ConfigError)?;
        config.subscriptions = self.subscriptions;
        if let Some(capacity) = self.response_cache.capacity {
            if capacity == 0 {
                return Err(ConfigError("response_cache.capacity must be positive".into()));
            }
            config.response_cache_capacity = capacity;
        }
        if let Some(bytes) = self.limits.body_bytes {
            if bytes == 0 {
                return Err(ConfigError("limits.body_bytes must be positive".into()));
            }
            config.body_limit_bytes = bytes;
        }
        let limits = &mut config.operation_limits;
        let section = &self.limits;
        limits.max_depth = section.max_depth.unwrap_or(limits.max_depth);
        limits.max_aliases = section.max_aliases.unwrap_or(limits.max_aliases);
        limits.max_root_fields = section.max_root_fields.unwrap_or(limits.max_root_fields);
        limits.max_tokens = section.max_tokens.unwrap_or(limits.max_tokens);
        limits.max_cost = section.max_cost.unwrap_or(limits.max_cost);
        if let Some(size) = section.list_size {
            if size == 0 {
                return Err(ConfigError("limits.list_size must be positive".into()));
            }
            limits.list_size = size;
        }
        Ok(config)
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

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let config = RouterConfig::from_yaml("", &no_env).expect("valid");
        assert_eq!(config.listen, RouterConfig::default().listen);
        assert_eq!(config.forward_headers, vec!["authorization".to_owned()]);
        assert_eq!(config.subgraph("any"), &SubgraphSettings::default());
    }

    #[test]
    fn the_file_sets_every_section() {
        let yaml = r#"
listen: 0.0.0.0:4100
supergraph: sg.graphql
headers: { forward: [Authorization, Accept-Language, authorization] }
subgraphs:
  all: { timeout: 10s }
  identity: { url: "http://identity:8001/graphql", protocol: http2 }
  review: { timeout: 250ms }
query_plan: { expose: true }
subgraph_errors: { expose: true }
limits: { body_bytes: 1024 }
"#;
        let config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
        assert_eq!(config.listen.to_string(), "0.0.0.0:4100");
        assert_eq!(config.supergraph.as_deref(), Some(Path::new("sg.graphql")));
        assert_eq!(config.forward_headers, vec!["authorization".to_owned(), "accept-language".to_owned()]);
        assert_eq!(config.subgraph("other").timeout, Duration::from_secs(10));
        assert_eq!(
            config.subgraph("identity"),
            &SubgraphSettings { timeout: Duration::from_secs(10), protocol: Protocol::Http2, ..Default::default() }
        );
        assert_eq!(config.subgraph("review").timeout, Duration::from_millis(250));
        assert_eq!(config.subgraph_urls["identity"], "http://identity:8001/graphql");
        assert!(config.expose_query_plan && config.expose_subgraph_errors);
        assert_eq!(config.body_limit_bytes, 1024);
    }

    #[test]
    fn the_documented_example_file_is_valid() {
        let config =
            RouterConfig::from_yaml(include_str!("../../deploy/router.yaml"), &no_env).expect("deploy/router.yaml");
        assert_eq!(config.listen.to_string(), "0.0.0.0:4000");
        assert_eq!(config.subgraph("identity").protocol, Protocol::Http2);
        assert_eq!(config.subgraph_urls["identity"], "http://identity:8001/graphql");
        assert_eq!(config.operation_limits, crate::limits::OperationLimits::default());
        assert!(!config.introspection);
        let defaults = SubgraphSettings::default();
        assert_eq!(config.subgraph("tutoring").cache_ttl, Some(Duration::from_secs(30)));
        assert_eq!(config.subgraph("identity").cache_ttl, None);
        let identity = config.subgraph("identity");
        assert_eq!((identity.retry, identity.breaker, identity.dedup), (defaults.retry, defaults.breaker, true));
    }

    #[test]
    fn traffic_settings_per_subgraph_inherit_from_all_and_are_checked() {
        let yaml = r#"
subgraphs:
  all: { retries: 0, circuit_breaker: { failures: 0 } }
  tutoring: { retries: 3, retry_backoff: 10ms, circuit_breaker: { open_for: 1m }, dedup: false, cache: { ttl: 5s } }
"#;
        let config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
        let other = config.subgraph("other");
        assert_eq!((other.retry.retries, other.breaker.failures, other.dedup), (0, 0, true));
        let tutoring = config.subgraph("tutoring");
        assert_eq!(tutoring.retry.retries, 3);
        assert_eq!(tutoring.retry.backoff, Duration::from_millis(10));
        assert_eq!(tutoring.breaker.failures, 0, "inherited from all");
        assert_eq!(tutoring.breaker.open_for, Duration::from_secs(60));
        assert!(!tutoring.dedup);
        assert_eq!(tutoring.cache_ttl, Some(Duration::from_secs(5)));
        for (yaml, key) in [
            ("subgraphs: { a: { retries: 11 } }", "subgraphs.a.retries"),
            ("subgraphs: { a: { cache: { ttl: soon } } }", "subgraphs.a.cache.ttl"),
            ("subgraphs: { a: { circuit_breaker: { open_for: 0s } } }", "subgraphs.a.circuit_breaker.open_for"),
            ("response_cache: { capacity: 0 }", "response_cache.capacity"),
        ] {
            let error = RouterConfig::from_yaml(yaml, &no_env).expect_err(yaml);
            assert!(error.0.contains(key), "{yaml}: {error}");
        }
    }

    #[test]
    fn operation_limits_come_from_the_file_and_the_environment() {
        let yaml = "limits: { max_depth: 5, max_aliases: 0, max_root_fields: 3, max_tokens: 900, max_cost: 2000, list_size: 20 }";
        let mut config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
        let limits = &config.operation_limits;
        assert_eq!((limits.max_depth, limits.max_aliases, limits.max_root_fields), (5, 0, 3));
        assert_eq!((limits.max_tokens, limits.max_cost, limits.list_size), (900, 2000, 20));
        assert!(!config.introspection);
        let env = |name: &str| match name {
            "ROUTER_INTROSPECTION" => Some("true".to_owned()),
            "ROUTER_MAX_DEPTH" => Some("7".to_owned()),
            "ROUTER_MAX_COST" => Some("0".to_owned()),
            _ => None,
        };
        config.apply_env(&env).expect("valid");
        assert_eq!((config.operation_limits.max_depth, config.operation_limits.max_cost), (7, 0));
        assert!(config.introspection);
        let enabled = RouterConfig::from_yaml("introspection: { enabled: true }", &no_env).expect("valid");
        assert!(enabled.introspection);
    }

    #[test]
    fn cors_origins_are_checked() {
        let yaml = "cors: { allow_origins: ['https://app.example.com', 'http://localhost:3000'], allow_credentials: true, max_age: 2m }";
        let config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
        assert_eq!(config.cors.allow_origins.len(), 2);
        assert_eq!(config.cors.max_age, Duration::from_secs(120));
        for (yaml, expected) in [
            ("cors: { allow_origins: ['app.example.com'] }", "not an origin"),
            ("cors: { allow_origins: ['https://app.example.com/path'] }", "not an origin"),
            ("cors: { allow_origins: ['*'], allow_credentials: true }", "cannot be combined"),
        ] {
            let error = RouterConfig::from_yaml(yaml, &no_env).expect_err(yaml);
            assert!(error.0.contains(expected), "{yaml}: {error}");
        }
        let apq = RouterConfig::from_yaml("apq: { enabled: false, capacity: 5 }", &no_env).expect("valid");
        assert_eq!(apq.apq, ApqSettings { enabled: false, capacity: 5 });
        assert!(RouterConfig::from_yaml("apq: { capacity: 0 }", &no_env).is_err());
        let batching = RouterConfig::from_yaml("batching: { enabled: true, max_size: 5 }", &no_env).expect("valid");
        assert_eq!(batching.batching, Batching { enabled: true, max_size: 5 });
        assert!(RouterConfig::from_yaml("batching: { max_size: 0 }", &no_env).is_err());
        let mut config = RouterConfig::default();
        let env =
            |n: &str| (n == "ROUTER_CORS_ALLOW_ORIGINS").then(|| "https://a.example, https://b.example".to_owned());
        config.apply_env(&env).expect("valid");
        assert_eq!(config.cors.allow_origins, ["https://a.example", "https://b.example"]);
        let bad = |name: &'static str, value: &'static str| move |n: &str| (n == name).then(|| value.to_owned());
        assert!(config.apply_env(&bad("ROUTER_MAX_TOKENS", "many")).is_err());
        let error = RouterConfig::from_yaml("limits: { list_size: 0 }", &no_env).expect_err("zero");
        assert!(error.0.contains("list_size"), "{error}");
    }

    #[test]
    fn environment_references_are_expanded() {
        let env = |name: &str| (name == "PORT").then(|| "4321".to_owned());
        let config = RouterConfig::from_yaml(
            "# ${COMMENTS} are not expanded\nlisten: 127.0.0.1:${PORT}\nsupergraph: ${SG:-a.graphql}\nlimits: { body_bytes: '${PORT}' }\nquery_plan: { expose: '${YES:-true}' }",
            &env,
        )
        .expect("valid");
        assert_eq!(config.body_limit_bytes, 4321);
        assert!(config.expose_query_plan);
        assert_eq!(config.listen.port(), 4321);
        assert_eq!(config.supergraph.as_deref(), Some(Path::new("a.graphql")));
        let error = RouterConfig::from_yaml("listen: ${MISSING}", &no_env).expect_err("unset");
        assert!(error.0.contains("MISSING"), "{error}");
        assert_eq!(expand_env("cost: $$5 and $x", &no_env).expect("valid"), "cost: $5 and $x");
    }

    #[test]
    fn mistakes_are_refused_with_their_place() {
        let cases = [
            ("listen: nowhere", "listen"),
            ("lisen: 127.0.0.1:1", "unknown field `lisen`"),
            ("subgraphs: { a: { timeout: soon } }", "subgraphs.a.timeout"),
            ("subgraphs: { a: { timeout: 0s } }", "longer than zero"),
            ("subgraphs: { a: { protocol: http3 } }", "http3"),
            ("subgraphs: { a: { url: ftp://x } }", "subgraphs.a.url"),
            ("subgraphs: { all: { url: http://x } }", "subgraphs.all"),
            ("headers: { forward: [content-length] }", "cannot be forwarded"),
            ("headers: { forward: ['bad header'] }", "not a valid header name"),
            ("limits: { body_bytes: 0 }", "body_bytes"),
        ];
        for (yaml, expected) in cases {
            let error = RouterConfig::from_yaml(yaml, &no_env).expect_err(yaml);
            assert!(error.0.contains(expected), "{yaml}: {error}");
        }
    }

    #[test]
    fn environment_variables_override_the_file() {
        let mut config =
            RouterConfig::from_yaml("listen: 127.0.0.1:1\nquery_plan: { expose: true }", &no_env).expect("valid");
        let env = |name: &str| {
            Some(
                match name {
                    "ROUTER_LISTEN" => "127.0.0.1:2",
                    "ROUTER_EXPOSE_QUERY_PLAN" => "false",
                    "ROUTER_FORWARD_HEADERS" => "Authorization, X-Request-Id",
                    "ROUTER_SUBGRAPH_TIMEOUT" => "3s",
                    "ROUTER_SUBGRAPH_URLS" => "identity=http://id/graphql,review=http://rv/graphql",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        config.apply_env(&env).expect("valid");
        assert_eq!(config.listen.port(), 2);
        assert!(!config.expose_query_plan);
        assert_eq!(config.forward_headers, vec!["authorization".to_owned(), "x-request-id".to_owned()]);
        assert_eq!(config.subgraph_defaults.timeout, Duration::from_secs(3));
        assert_eq!(config.subgraph_urls.len(), 2);
        let bad = |name: &'static str, value: &'static str| move |n: &str| (n == name).then(|| value.to_owned());
        assert!(config.apply_env(&bad("ROUTER_EXPOSE_QUERY_PLAN", "maybe")).is_err());
        assert!(config.apply_env(&bad("ROUTER_BODY_LIMIT_BYTES", "-1")).is_err());
        assert!(config.apply_env(&bad("ROUTER_SUBGRAPH_URLS", "identity")).is_err());
    }
}
