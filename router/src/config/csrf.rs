//! `csrf:`: cross-site request forgery prevention (`edge::csrf`), on by default. A
//! request passes when a browser could not have sent it cross-site without a preflight: a
//! `content-type` other than the three simple ones, or a non-empty header from
//! `required_headers`. `ROUTER_CSRF` (on/off) and `ROUTER_CSRF_REQUIRED_HEADERS`
//! (comma-separated) override it.
//!
//! ```yaml
//! csrf: { enabled: true, required_headers: [x-apollo-operation-name, apollo-require-preflight] }
//! ```

use axum::http::HeaderName;
use serde::Deserialize;

use super::ConfigError;
use super::primitives::{header_names, parse_bool};

/// CSRF prevention settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Section")]
pub struct Csrf {
    pub enabled: bool,
    /// Header names (lower case) any of which, non-empty, proves a preflighted request.
    pub required_headers: Vec<HeaderName>,
}

impl Default for Csrf {
    fn default() -> Self {
        Self {
            enabled: true,
            required_headers: vec![
                HeaderName::from_static("x-apollo-operation-name"),
                HeaderName::from_static("apollo-require-preflight"),
            ],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    enabled: Option<bool>,
    required_headers: Option<Vec<String>>,
}

impl TryFrom<Section> for Csrf {
    type Error = String;

    fn try_from(section: Section) -> Result<Self, String> {
        let mut csrf = Self::default();
        csrf.enabled = section.enabled.unwrap_or(csrf.enabled);
        if let Some(names) = &section.required_headers {
            csrf.required_headers = required_headers(names.iter().map(String::as_str))
                .map_err(|e| format!("csrf.required_headers: {e}"))?;
        }
        Ok(csrf)
    }
}

impl Csrf {
    /// Applies `ROUTER_CSRF` (on/off) and `ROUTER_CSRF_REQUIRED_HEADERS` (comma-separated).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_CSRF") {
            self.enabled = parse_bool("ROUTER_CSRF", &v)?;
        }
        if let Some(v) = var("ROUTER_CSRF_REQUIRED_HEADERS") {
            self.required_headers = required_headers(v.split(','))
                .map_err(|e| ConfigError(format!("ROUTER_CSRF_REQUIRED_HEADERS: {e}")))?;
        }
        Ok(())
    }
}

/// Header names that prove a preflight: valid, and none a browser sends without one.
fn required_headers<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<HeaderName>, String> {
    let names = header_names(names)?;
    if let Some(name) = names.iter().find(|name| SAFELISTED_HEADERS.contains(&name.as_str())) {
        return Err(format!("`{name}` can be sent cross-site without a preflight, so it proves nothing"));
    }
    Ok(names)
}

/// Headers browsers send (or let pages set) without a preflight: useless as proof.
const SAFELISTED_HEADERS: [&str; 6] =
    ["accept", "accept-language", "content-language", "content-type", "range", "cookie"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_from_yaml_and_the_environment() {
        let off: Csrf = yaml_serde::from_str("{ enabled: false }").expect("valid");
        assert!(!off.enabled);
        let custom: Csrf = yaml_serde::from_str("{ required_headers: [X-Requested-With] }").expect("valid");
        assert!(custom.enabled, "on by default");
        assert_eq!(custom.required_headers, [HeaderName::from_static("x-requested-with")]);
        assert!(yaml_serde::from_str::<Csrf>("{ required_headers: [accept] }").is_err(), "safelisted");
        assert!(yaml_serde::from_str::<Csrf>("{ required_headers: ['bad header'] }").is_err());
        assert!(yaml_serde::from_str::<Csrf>("{ enable: true }").is_err(), "unknown key");
        let mut env_off = Csrf::default();
        env_off.apply_env(&|n| (n == "ROUTER_CSRF").then(|| "off".to_owned())).expect("valid");
        assert!(!env_off.enabled);
        assert!(env_off.apply_env(&|n| (n == "ROUTER_CSRF").then(|| "perhaps".to_owned())).is_err());
        env_off
            .apply_env(&|n| (n == "ROUTER_CSRF_REQUIRED_HEADERS").then(|| "x-one, X-Two".to_owned()))
            .expect("valid");
        assert_eq!(env_off.required_headers, [HeaderName::from_static("x-one"), HeaderName::from_static("x-two")]);
    }
}
