//! Configuration read from the environment once at start-up and validated there.
//!
//! Every service uses the same names (`DATABASE_URL`, `AMQP_URL`, `REDIS_URL`, `LISTEN_ADDR`,
//! `LOG_FORMAT`, `JWKS_URL`, ...). Reading goes through [`Env`] so tests pass a map instead of
//! touching the process environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// A bad or missing setting, named so the operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is required: {hint}")]
    Missing { name: String, hint: String },
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid { name: String, value: String, reason: String },
}

/// Where settings come from: the process environment or, in tests and the dev launcher, a map.
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: HashMap<String, String>,
    read_process: bool,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self { overrides: HashMap::new(), read_process: true }
    }

    /// Only the given values (tests).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self { overrides: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), read_process: false }
    }

    /// Values set here win over the process environment.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.overrides.insert(name.to_owned(), value.into());
        self
    }

    /// A value, treating an empty string as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = self.overrides.get(name).cloned();
        let value = value.or_else(|| if self.read_process { std::env::var(name).ok() } else { None });
        value.filter(|v| !v.trim().is_empty())
    }

    pub fn require(&self, name: &str, hint: &str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError::Missing { name: name.into(), hint: hint.into() })
    }

    pub fn get_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// Parses a value with `FromStr`, or takes the default when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| invalid(name, &raw, e.to_string())),
        }
    }

    /// A duration written as `500ms`, `30s`, `15m` or `2h`.
    pub fn duration_or(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => parse_duration(&raw)
                .ok_or_else(|| invalid(name, &raw, "expected a duration such as 500ms, 30s, 15m or 2h".into())),
        }
    }
}

pub(crate) fn invalid(name: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { name: name.into(), value: value.into(), reason }
}

fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// `BODY_LIMIT_BYTES` by default: twice the router's body limit (1 MiB), so a request the router
/// admits is one a subgraph accepts (the router re-encodes variables and plans its own query).
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// How logs are written (`LOG_FORMAT`).
pub use telemetry::LogFormat;

/// Settings every subgraph shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// The context's name, e.g. `identity`: names its exchange, queues and metrics.
    pub service: String,
    pub listen_addr: SocketAddr,
    /// `postgres://…` or `sqlite:…`.
    pub database_url: String,
    /// `amqp://…`, or `memory:` for the in-process bus.
    pub amqp_url: String,
    /// `redis://…` when caches and rate limits are shared between replicas.
    pub redis_url: Option<String>,
    /// Logs and traces: `LOG_FORMAT`, `RUST_LOG`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER_ARG`.
    pub telemetry: telemetry::Settings,
    /// Requests larger than this are refused with 413.
    pub body_limit_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Access-token verification.
    pub jwt: JwtSettings,
    /// RabbitMQ consumer prefetch.
    pub prefetch: u16,
    /// `TRUSTED_PROXIES`: the addresses (or CIDR blocks) of the router replicas (and any proxy in
    /// front of this service) whose `X-Forwarded-For` is believed; empty by default, so the
    /// socket's address is the client's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// A comma-separated list of addresses and CIDR blocks (`10.0.0.0/8, 127.0.0.1, ::1`).
pub fn parse_proxies(text: &str) -> Result<Vec<ipnet::IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{item}` is not an address or a CIDR block such as 10.0.0.0/8"))
        })
        .collect()
}

/// How access tokens are checked.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Where the signing keys are published; `None` when the service holds them itself (identity).
    pub jwks_url: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
}

impl CommonConfig {
    /// Reads the shared settings; `default_port` is the context's well-known port.
    pub fn from_env(env: &Env, service: &str, default_port: u16) -> Result<Self, ConfigError> {
        let listen_raw = env.get_or("LISTEN_ADDR", &format!("127.0.0.1:{default_port}"));
        let listen_addr = listen_raw
            .parse()
            .map_err(|_| invalid("LISTEN_ADDR", &listen_raw, "expected host:port, e.g. 0.0.0.0:8001".into()))?;
        let database_url = env.get_or("DATABASE_URL", &format!("sqlite:.edustream/{service}.db"));
        check_scheme("DATABASE_URL", &database_url, &["postgres://", "postgresql://", "sqlite:"])?;
        let amqp_url = env.get_or("AMQP_URL", "memory:");
        check_scheme("AMQP_URL", &amqp_url, &["amqp://", "amqps://", "memory:"])?;
        let redis_url = env.get("REDIS_URL");
        if let Some(url) = &redis_url {
            check_scheme("REDIS_URL", url, &["redis://", "rediss://"])?;
        }
        let telemetry = telemetry::Settings::from_env(service, |name| env.get(name))
            .map_err(|e| invalid(e.name, &e.value, e.expected.into()))?
            .with_default_filter("info,sqlx=warn,lapin=warn,async_graphql=warn");
        Ok(Self {
            service: service.to_owned(),
            listen_addr,
            database_url,
            amqp_url,
            redis_url,
            telemetry,
            body_limit_bytes: env.parse_or("BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT_BYTES)?,
            shutdown_grace: env.duration_or("SHUTDOWN_GRACE", Duration::from_secs(20))?,
            jwt: JwtSettings {
                jwks_url: env.get("JWKS_URL"),
                issuer: env.get_or("JWT_ISSUER", "edustream-identity"),
                audience: env.get_or("JWT_AUDIENCE", "edustream"),
                leeway: env.duration_or("JWT_LEEWAY", Duration::from_secs(30))?,
            },
            prefetch: env.parse_or("AMQP_PREFETCH", 32)?,
            trusted_proxies: match env.get("TRUSTED_PROXIES") {
                Some(raw) => parse_proxies(&raw).map_err(|reason| invalid("TRUSTED_PROXIES", &raw, reason))?,
                None => Vec::new(),
            },
        })
    }
}

fn check_scheme(name: &str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    if schemes.iter().any(|s| value.starts_with(s)) {
        Ok(())
    } else {
        Err(invalid(name, value, format!("expected a URL starting with one of {}", schemes.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_embedded_on_the_contexts_port() {
        let config = CommonConfig::from_env(&Env::from_pairs::<_, &str, &str>([]), "identity", 8001).expect("valid");
        assert_eq!(config.listen_addr.port(), 8001);
        assert_eq!(config.database_url, "sqlite:.edustream/identity.db");
        assert_eq!(config.amqp_url, "memory:");
        assert_eq!(config.telemetry.log_format, LogFormat::Human);
        assert_eq!(config.telemetry.otlp_endpoint, None, "no span export unless asked");
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_fix() {
        let env = Env::from_pairs([("DATABASE_URL", "mysql://x")]);
        let err = CommonConfig::from_env(&env, "identity", 8001).expect_err("mysql is not supported");
        assert!(err.to_string().starts_with("DATABASE_URL=\"mysql://x\" is invalid"), "{err}");
        let env = Env::from_pairs([("SHUTDOWN_GRACE", "soon")]);
        assert!(CommonConfig::from_env(&env, "identity", 8001).is_err());
    }

    #[test]
    fn traces_are_exported_when_an_otlp_endpoint_is_given() {
        let env = Env::from_pairs([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"), ("LOG_FORMAT", "json")]);
        let config = CommonConfig::from_env(&env, "booking", 8003).expect("valid");
        assert_eq!(config.telemetry.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(config.telemetry.service_name, "booking");
        assert_eq!(config.telemetry.log_format, LogFormat::Json);
        let env = Env::from_pairs([("LOG_FORMAT", "xml")]);
        let err = CommonConfig::from_env(&env, "booking", 8003).expect_err("xml is no log format");
        assert!(err.to_string().starts_with("LOG_FORMAT=\"xml\" is invalid"), "{err}");
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("10"), None);
    }
}
