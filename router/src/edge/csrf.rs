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
//! The settings (`csrf:`, `ROUTER_CSRF`) are [`crate::config::csrf`]'s.

use axum::http::{HeaderMap, HeaderName, StatusCode, header};

use crate::config::csrf::Csrf;
use crate::edge::Refused;

/// The code of a refused request.
pub const CODE: &str = "CSRF_PREVENTED";

/// Media types a browser sends cross-site without a preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"];

impl Csrf {
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
        Refused::new(StatusCode::BAD_REQUEST, CODE, message)
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
        let off = Csrf { enabled: false, ..Csrf::default() };
        assert_eq!(off.check(&HeaderMap::new()), Ok(()));
        let custom = Csrf { required_headers: vec![HeaderName::from_static("x-requested-with")], ..Csrf::default() };
        assert_eq!(custom.check(&headers(&[("x-requested-with", "XMLHttpRequest")])), Ok(()));
        assert!(custom.check(&headers(&[("apollo-require-preflight", "true")])).is_err());
        let refused = custom.check(&HeaderMap::new()).expect_err("no header");
        assert!(refused.message.contains("x-requested-with"), "{}", refused.message);
    }
}
