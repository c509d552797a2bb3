//! Cross-site request forgery prevention, on by default.
//!
//! A page on another site can make a browser send a "simple" request (a GET, or a POST of a
//! form or plain text) with the user's cookies and without asking the router first; CORS only
//! hides the answer, the operation has already run. Anything else makes the browser ask first
//! (a preflight), which the CORS allow-list answers. So a request is let through only when it
//! cannot be simple:
//! - its `content-type` is present and is none of `text/plain`, `application/x-www-form-urlencoded`
//!   and `multipart/form-data` (so `application/json` passes), or
//! - it carries one of the required headers with a non-empty value (browsers never add custom
//!   headers to simple requests).
//!
//! A GET without either is refused with `CSRF_PREVENTED` (HTTP 400); clients that use GET add
//! `apollo-require-preflight: true` (or `x-apollo-operation-name`), which Apollo clients do.
//!
//! ```yaml
//! csrf: { enabled: true, required_headers: [x-apollo-operation-name, apollo-require-preflight] }
//! ```

use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::edge::Refused;

/// The code of a refused request.
pub const CODE: &str = "CSRF_PREVENTED";

/// Media types a browser sends cross-site without a preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"];

/// CSRF prevention settings (`csrf:` in the YAML file, `ROUTER_CSRF` on/off).
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
            csrf.required_headers = header_names(names).map_err(|e| format!("csrf.required_headers: {e}"))?;
        }
        Ok(csrf)
    }
}

fn header_names(names: &[String]) -> Result<Vec<HeaderName>, String> {
    let mut out = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let parsed = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        if SAFELISTED_HEADERS.contains(&parsed.as_str()) {
            return Err(format!("`{name}` can be sent cross-site without a preflight, so it proves nothing"));
        }
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok(out)
}

/// Headers browsers send (or let pages set) without a preflight: useless as proof.
const SAFELISTED_HEADERS: [&str; 6] =
    ["accept", "accept-language", "content-language", "content-type", "range", "cookie"];

impl Csrf {
    /// Applies `ROUTER_CSRF` (on/off) and `ROUTER_CSRF_REQUIRED_HEADERS` (comma-separated).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_CSRF") {
            self.enabled = crate::config::parse_bool("ROUTER_CSRF", &v)?;
        }
        if let Some(v) = var("ROUTER_CSRF_REQUIRED_HEADERS") {
            let names: Vec<String> = v.split(',').map(str::to_owned).collect();
            self.required_headers =
                header_names(&names).map_err(|e| ConfigError(format!("ROUTER_CSRF_REQUIRED_HEADERS: {e}")))?;
        }
        Ok(())
    }

    /// Lets through a request that a browser could not have sent cross-site without a preflight.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refused> {
        if !self.enabled || preflighted_content_type(headers) || self.carries_required_header(headers) {
            return Ok(());
        }
        Err(self.refusal())
    }

    fn carries_required_header(&self, headers: &HeaderMap) -> bool {
        self.required_headers
            .iter()
            .any(|name| headers.get_all(name).iter().any(|v| !v.as_bytes().trim_ascii().is_empty()))
    }

    fn refusal(&self) -> Refused {
        let names: Vec<&str> = self.required_headers.iter().map(HeaderName::as_str).collect();
        let mut message = "This request was refused as a possible cross-site request forgery (CSRF). Send a \
                           `content-type` such as `application/json`"
            .to_owned();
        // `apollo-require-preflight: true` is the header meant for this; `x-apollo-operation-name`
        // carries an operation's name, so it is no good example.
        let suggested = names.iter().find(|n| **n == "apollo-require-preflight").or(names.first());
        if let Some(first) = suggested {
            message.push_str(&format!(
                ", or a non-empty `{first}` header (e.g. `{first}: true`; any of: {})",
                names.join(", ")
            ));
        }
        message.push('.');
        Refused { status: StatusCode::BAD_REQUEST, code: CODE, message }
    }
}

/// Whether the `content-type` is one a browser must preflight: present, a single well-formed
/// `type/subtype`, and not one of the simple three. Anything odd (unparseable, several values)
/// proves nothing: browsers' own parsing of odd values is not ours to guess.
fn preflighted_content_type(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return false };
    let Ok(value) = value.to_str() else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else { return false };
    let token =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    token(kind) && token(subtype) && !SIMPLE_CONTENT_TYPES.contains(&essence.as_str())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn json_posts_pass_because_browsers_preflight_them() {
        let csrf = Csrf::default();
        assert_eq!(csrf.check(&headers(&[("content-type", "application/json")])), Ok(()));
        assert_eq!(csrf.check(&headers(&[("content-type", "Application/JSON; charset=utf-8")])), Ok(()));
        assert_eq!(csrf.check(&headers(&[("content-type", "application/graphql-response+json")])), Ok(()));
    }

    #[test]
    fn simple_requests_are_refused_with_the_header_to_add() {
        let csrf = Csrf::default();
        for simple in [
            headers(&[]),
            headers(&[("content-type", "text/plain")]),
            headers(&[("content-type", "text/plain;charset=UTF-8")]),
            headers(&[("content-type", " application/x-www-form-urlencoded ")]),
            headers(&[("content-type", "multipart/form-data; boundary=x")]),
            headers(&[("content-type", "")]),
            headers(&[("content-type", "nonsense")]),
            headers(&[("content-type", "application/json"), ("content-type", "text/plain")]),
            headers(&[("apollo-require-preflight", "")]),
            headers(&[("x-apollo-operation-name", "  ")]),
        ] {
            let refused = csrf.check(&simple).expect_err("a simple request");
            assert_eq!((refused.status, refused.code), (StatusCode::BAD_REQUEST, "CSRF_PREVENTED"));
            assert!(refused.message.contains("apollo-require-preflight"), "{}", refused.message);
        }
    }

    #[test]
    fn a_required_header_lets_a_get_through() {
        let csrf = Csrf::default();
        assert_eq!(csrf.check(&headers(&[("apollo-require-preflight", "true")])), Ok(()));
        assert_eq!(csrf.check(&headers(&[("x-apollo-operation-name", "Courses")])), Ok(()));
        assert_eq!(
            csrf.check(&headers(&[("content-type", "text/plain"), ("apollo-require-preflight", "1")])),
            Ok(()),
            "the header suffices even with a simple content type"
        );
    }

    #[test]
    fn it_can_be_configured_or_turned_off() {
        let off: Csrf = yaml_serde::from_str("{ enabled: false }").expect("valid");
        assert_eq!(off.check(&HeaderMap::new()), Ok(()));
        let custom: Csrf = yaml_serde::from_str("{ required_headers: [X-Requested-With] }").expect("valid");
        assert!(custom.enabled, "on by default");
        assert_eq!(custom.check(&headers(&[("x-requested-with", "XMLHttpRequest")])), Ok(()));
        assert!(custom.check(&headers(&[("apollo-require-preflight", "true")])).is_err());
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
