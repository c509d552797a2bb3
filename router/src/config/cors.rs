//! `cors:`: which browser origins may call the router cross-origin (none by default, so browsers
//! refuse cross-origin calls), with what, and for how long a preflight's answer is cached.
//! `ROUTER_CORS_ALLOW_ORIGINS`, `ROUTER_CORS_ALLOW_LOCALHOST`, `ROUTER_CORS_ALLOW_CREDENTIALS`,
//! `ROUTER_CORS_ALLOW_HEADERS` and `ROUTER_CORS_EXPOSE_HEADERS` override it. The answers
//! themselves are `edge::cors`'s.
//!
//! ```yaml
//! cors:
//!   allow_origins: ["https://app.example.com"]   # or ["*"] (not with credentials)
//!   allow_localhost: false       # any localhost / 127.0.0.1 / [::1] origin, any port
//!   allow_credentials: true
//!   allow_headers: [content-type, authorization]  # default: what the preflight asks for
//!   expose_headers: [x-request-id]
//!   max_age: 10m
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::primitives::{header_names, parse_bool, parse_duration};

/// Cross-origin access for browsers, by allow-list. Empty: no CORS headers at all, so browsers
/// refuse cross-origin calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Section")]
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
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

impl TryFrom<Section> for Cors {
    type Error = ConfigError;

    fn try_from(section: Section) -> Result<Self, ConfigError> {
        let mut cors = Self {
            allow_origins: section.allow_origins,
            allow_localhost: section.allow_localhost,
            allow_credentials: section.allow_credentials,
            ..Self::default()
        };
        if let Some(list) = &section.allow_headers {
            cors.allow_headers = Some(cors_header_list("cors.allow_headers", list.iter().map(String::as_str))?);
        }
        cors.expose_headers =
            cors_header_list("cors.expose_headers", section.expose_headers.iter().map(String::as_str))?;
        if let Some(age) = &section.max_age {
            cors.max_age = parse_duration(age).map_err(|e| ConfigError(format!("cors.max_age: {e}")))?;
        }
        cors.check("cors.allow_origins")?;
        Ok(cors)
    }
}

impl Cors {
    /// Applies the `ROUTER_CORS_*` variables: origins and header lists comma-separated, switches
    /// on/off.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_CORS_ALLOW_ORIGINS") {
            self.allow_origins = v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
            self.check("ROUTER_CORS_ALLOW_ORIGINS")?;
        }
        if let Some(v) = var("ROUTER_CORS_ALLOW_LOCALHOST") {
            self.allow_localhost = parse_bool("ROUTER_CORS_ALLOW_LOCALHOST", &v)?;
        }
        if let Some(v) = var("ROUTER_CORS_ALLOW_CREDENTIALS") {
            self.allow_credentials = parse_bool("ROUTER_CORS_ALLOW_CREDENTIALS", &v)?;
            self.check("ROUTER_CORS_ALLOW_CREDENTIALS")?;
        }
        if let Some(v) = var("ROUTER_CORS_ALLOW_HEADERS") {
            self.allow_headers = Some(cors_header_list("ROUTER_CORS_ALLOW_HEADERS", v.split(','))?);
        }
        if let Some(v) = var("ROUTER_CORS_EXPOSE_HEADERS") {
            self.expose_headers = cors_header_list("ROUTER_CORS_EXPOSE_HEADERS", v.split(','))?;
        }
        Ok(())
    }

    /// Every origin is `scheme://host[:port]` or `*`, and `*` goes without credentials.
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

/// Header names for CORS (validated, lower-cased; `*` is refused: the default already mirrors
/// what browsers ask for).
fn cors_header_list<'a>(key: &str, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, ConfigError> {
    let names = header_names(names).map_err(|e| ConfigError(format!("{key}: {e}")))?;
    if names.iter().any(|name| name == "*") {
        return Err(ConfigError(format!("{key}: `*` is not a header name")));
    }
    Ok(names.iter().map(|name| name.as_str().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_are_lower_cased_and_refuse_a_star() {
        let cors: Cors =
            yaml_serde::from_str("{ allow_headers: [Content-Type, content-type], expose_headers: [X-Request-Id] }")
                .expect("valid");
        assert_eq!(cors.allow_headers, Some(vec!["content-type".to_owned()]));
        assert_eq!(cors.expose_headers, ["x-request-id"]);
        assert_eq!(cors.max_age, Duration::from_secs(600));
        let error = yaml_serde::from_str::<Cors>("{ allow_headers: ['*'] }").expect_err("star").to_string();
        assert!(error.contains("cors.allow_headers"), "{error}");
        let mut cors = Cors::default();
        let env = |n: &str| (n == "ROUTER_CORS_EXPOSE_HEADERS").then(|| "X-One, x-two".to_owned());
        cors.apply_env(&env).expect("valid");
        assert_eq!(cors.expose_headers, ["x-one", "x-two"]);
        let bad = |n: &str| (n == "ROUTER_CORS_ALLOW_HEADERS").then(|| "bad header".to_owned());
        assert!(cors.apply_env(&bad).expect_err("space").0.starts_with("ROUTER_CORS_ALLOW_HEADERS"));
    }
}
