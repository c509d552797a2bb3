//! Limits on a request's headers, checked before anything reads them: their total size (names
//! plus values) and their number. Headers are copied into every subgraph request the router
//! forwards, so a client must not be able to make each one large.
//!
//! hyper already refuses more than 100 headers over HTTP/1.1 (with a bare 431) and caps the
//! header block near 400 KiB; these limits are the router's own, tighter and the same over
//! HTTP/2, answered as a GraphQL error (`HEADERS_TOO_LARGE`, HTTP 431).
//!
//! ```yaml
//! limits: { header_bytes: 32768, headers: 100 }
//! ```

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::ConfigError;
use crate::refusal::{Refused, prefers_graphql_response};

/// The code of a refused request.
pub const CODE: &str = "HEADERS_TOO_LARGE";

/// The limits in force; `0` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    /// Bytes of all header names and values together.
    pub max_bytes: usize,
    /// Header lines (a name repeated counts each time).
    pub max_count: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        Self { max_bytes: 32 * 1024, max_count: 100 }
    }
}

impl HeaderLimits {
    /// Applies `ROUTER_MAX_HEADER_BYTES` and `ROUTER_MAX_HEADERS` (0: no limit).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (name, slot) in
            [("ROUTER_MAX_HEADER_BYTES", &mut self.max_bytes), ("ROUTER_MAX_HEADERS", &mut self.max_count)]
        {
            if let Some(v) = env(name).filter(|v| !v.trim().is_empty()) {
                *slot = v
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError(format!("{name}: `{v}` is not a number (0: no limit)")))?;
            }
        }
        Ok(())
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refused> {
        // `len()` counts every value, `keys_len()` only the distinct names.
        if self.max_count > 0 && headers.len() > self.max_count {
            return Err(refused(format!("the request has more than {} headers", self.max_count)));
        }
        if self.max_bytes > 0 {
            let bytes = headers
                .iter()
                .fold(0usize, |sum, (name, value)| sum.saturating_add(name.as_str().len()).saturating_add(value.len()));
            if bytes > self.max_bytes {
                return Err(refused(format!(
                    "the request's headers take {bytes} bytes; at most {} are accepted",
                    self.max_bytes
                )));
            }
        }
        Ok(())
    }
}

fn refused(message: String) -> Refused {
    Refused { status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, code: CODE, message }
}

/// Middleware refusing requests over the limits:
/// `.layer(axum::middleware::from_fn_with_state(limits, header_limits::enforce))`.
pub async fn enforce(State(limits): State<HeaderLimits>, request: Request, next: Next) -> Response {
    match limits.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(prefers_graphql_response(request.headers())),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderName, HeaderValue, header};
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    fn with_headers(count: usize, value_len: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for n in 0..count {
            let name = HeaderName::from_bytes(format!("x-h{n}").as_bytes()).expect("valid name");
            headers.append(name, HeaderValue::from_str(&"v".repeat(value_len)).expect("valid value"));
        }
        headers
    }

    #[test]
    fn the_number_of_headers_is_limited() {
        let limits = HeaderLimits { max_bytes: 0, max_count: 3 };
        assert_eq!(limits.check(&with_headers(3, 1)), Ok(()));
        let refused = limits.check(&with_headers(4, 1)).expect_err("four headers");
        assert_eq!((refused.status, refused.code), (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "HEADERS_TOO_LARGE"));
        let mut repeated = HeaderMap::new();
        for _ in 0..4 {
            repeated.append("x-same", HeaderValue::from_static("1"));
        }
        assert!(limits.check(&repeated).is_err(), "a repeated name counts each time");
    }

    #[test]
    fn the_size_of_names_and_values_is_limited() {
        // Two headers `x-h0`, `x-h1` (4 bytes each) with 6-byte values: 20 bytes.
        let limits = HeaderLimits { max_bytes: 20, max_count: 0 };
        assert_eq!(limits.check(&with_headers(2, 6)), Ok(()));
        let refused = limits.check(&with_headers(2, 7)).expect_err("22 bytes");
        assert!(refused.message.contains("22 bytes"), "{}", refused.message);
        assert_eq!(HeaderLimits { max_bytes: 0, max_count: 0 }.check(&with_headers(500, 1000)), Ok(()), "off");
    }

    #[test]
    fn limits_come_from_the_environment() {
        let mut limits = HeaderLimits::default();
        assert_eq!(limits, HeaderLimits { max_bytes: 32768, max_count: 100 });
        limits.apply_env(&|n| (n == "ROUTER_MAX_HEADERS").then(|| "50".to_owned())).expect("valid");
        assert_eq!(limits.max_count, 50);
        assert!(limits.apply_env(&|n| (n == "ROUTER_MAX_HEADER_BYTES").then(|| "big".to_owned())).is_err());
    }

    #[tokio::test]
    async fn the_middleware_answers_431_before_the_handler() {
        let limits = HeaderLimits { max_bytes: 64, max_count: 10 };
        let app = Router::new()
            .route("/graphql", get(|| async { "ran" }))
            .layer(axum::middleware::from_fn_with_state(limits, enforce));
        let small = Request::get("/graphql").body(Body::empty()).expect("request");
        assert_eq!(app.clone().oneshot(small).await.expect("response").status(), StatusCode::OK);
        let big = Request::get("/graphql")
            .header("x-big", "x".repeat(100))
            .header(header::ACCEPT, "application/graphql-response+json")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(big).await.expect("response");
        assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::refusal::GRAPHQL_RESPONSE);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "HEADERS_TOO_LARGE");
    }
}
