//! Limits on a request's headers, checked before anything reads them: their total size (names
//! plus values) and their number. Headers are copied into every subgraph request the router
//! forwards, so a client must not be able to make each one large.
//!
//! hyper already refuses more than 100 headers over HTTP/1.1 (with a bare 431) and caps the
//! header block near 400 KiB; these limits are the router's own, tighter and the same over
//! HTTP/2, answered as a GraphQL error (`HEADERS_TOO_LARGE`, HTTP 431).
//!
//! The headers the router forwards to subgraphs (`headers.forward`) have a tighter limit of their
//! own, `forwarded_header_bytes` (8 KiB): subgraphs served over HTTP/2 accept a header list of
//! 16 KiB (hyper's default), so whatever the router admits, a subgraph accepts.
//!
//! The limits are set in `limits:` ([`crate::config::limits`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::limits::HeaderLimits;
use crate::edge::Refused;

/// The code of a refused request.
pub const CODE: &str = "HEADERS_TOO_LARGE";

impl HeaderLimits {
    /// Checks the forwarded headers (`forward`, lower-case names) against their limit.
    pub fn check_forwarded(&self, headers: &HeaderMap, forward: &[String]) -> Result<(), Refused> {
        if self.max_forwarded_bytes == 0 {
            return Ok(());
        }
        let bytes = forward.iter().fold(0usize, |sum, name| {
            headers.get_all(name.as_str()).iter().fold(sum, |sum, v| sum.saturating_add(name.len() + v.len()))
        });
        if bytes > self.max_forwarded_bytes {
            return Err(refused(format!(
                "the headers forwarded to subgraphs ({}) take {bytes} bytes; at most {} are accepted",
                forward.join(", "),
                self.max_forwarded_bytes
            )));
        }
        Ok(())
    }

    /// Checks the number and the total size of the request's headers.
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
    Refused::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, CODE, message)
}

/// The limits and the names of the forwarded headers, as the middleware holds them.
#[derive(Debug, Clone)]
pub struct Enforced {
    pub limits: HeaderLimits,
    pub forward: std::sync::Arc<[String]>,
}

/// Middleware refusing requests over the limits:
/// `.layer(axum::middleware::from_fn_with_state(enforced, header_limits::enforce))`.
pub async fn enforce(State(enforced): State<Enforced>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    match enforced.limits.check(headers).and_then(|()| enforced.limits.check_forwarded(headers, &enforced.forward)) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(crate::edge::refusal::graphql_response(
            crate::edge::accept::Accept::from_headers(request.headers()).json(),
        )),
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
        let limits = HeaderLimits { max_bytes: 0, max_count: 3, max_forwarded_bytes: 0 };
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
        let limits = HeaderLimits { max_bytes: 20, max_count: 0, max_forwarded_bytes: 0 };
        assert_eq!(limits.check(&with_headers(2, 6)), Ok(()));
        let refused = limits.check(&with_headers(2, 7)).expect_err("22 bytes");
        assert!(refused.message.contains("22 bytes"), "{}", refused.message);
        let off = HeaderLimits { max_bytes: 0, max_count: 0, max_forwarded_bytes: 0 };
        assert_eq!(off.check(&with_headers(500, 1000)), Ok(()), "off");
    }

    #[test]
    fn forwarded_headers_have_a_limit_of_their_own() {
        let limits = HeaderLimits { max_bytes: 0, max_count: 0, max_forwarded_bytes: 100 };
        let forward = vec!["authorization".to_owned()];
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&"t".repeat(80)).expect("value"));
        headers.insert("x-not-forwarded", HeaderValue::from_str(&"c".repeat(5000)).expect("value"));
        assert_eq!(limits.check_forwarded(&headers, &forward), Ok(()), "only forwarded headers count");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&"t".repeat(100)).expect("value"));
        let refused = limits.check_forwarded(&headers, &forward).expect_err("113 bytes");
        assert_eq!(refused.code, "HEADERS_TOO_LARGE");
        assert!(refused.message.contains("authorization"), "{}", refused.message);
    }

    #[tokio::test]
    async fn the_middleware_answers_431_before_the_handler() {
        let limits = HeaderLimits { max_bytes: 64, max_count: 10, max_forwarded_bytes: 0 };
        let enforced = Enforced { limits, forward: std::sync::Arc::from(Vec::new()) };
        let app = Router::new()
            .route("/graphql", get(|| async { "ran" }))
            .layer(axum::middleware::from_fn_with_state(enforced, enforce));
        let small = Request::get("/graphql").body(Body::empty()).expect("request");
        assert_eq!(app.clone().oneshot(small).await.expect("response").status(), StatusCode::OK);
        let big = Request::get("/graphql")
            .header("x-big", "x".repeat(100))
            .header(header::ACCEPT, "application/graphql-response+json")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(big).await.expect("response");
        assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::edge::accept::GRAPHQL_RESPONSE);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "HEADERS_TOO_LARGE");
    }
}
