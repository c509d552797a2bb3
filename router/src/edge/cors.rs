//! Cross-origin access for browsers (`cors` settings): which origins, which request headers,
//! which response headers they may read.
//!
//! Request headers: by default the ones a preflight asks for are allowed (mirrored) for an
//! allowed origin — clients add `apollographql-client-name`, `traceparent`, `baggage`,
//! `sentry-trace`, `x-request-id` and more, and a fixed list refused them; `allow_headers`
//! narrows it to a list. `allow_localhost` admits any `http(s)://localhost`, `127.0.0.1` or
//! `[::1]` origin on any port (the dev stack's default, for a Vite app or a sandbox page).

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};

use crate::config::Cors;

/// The CORS layer for the settings; `None` (no CORS headers, browsers refuse cross-origin calls)
/// when no origin is allowed.
pub fn layer(config: &Cors) -> Option<CorsLayer> {
    if config.allow_origins.is_empty() && !config.allow_localhost {
        return None;
    }
    let origins = if config.allow_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let listed: Vec<HeaderValue> =
            config.allow_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        let localhost = config.allow_localhost;
        AllowOrigin::predicate(move |origin, _| listed.contains(origin) || (localhost && is_localhost(origin)))
    };
    let names = |list: &[String]| list.iter().filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()).collect();
    let allow_headers: AllowHeaders = match &config.allow_headers {
        None => AllowHeaders::mirror_request(),
        Some(list) => AllowHeaders::list::<Vec<HeaderName>>(names(list)),
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(allow_headers)
            .expose_headers(ExposeHeaders::list::<Vec<HeaderName>>(names(&config.expose_headers)))
            .allow_credentials(config.allow_credentials)
            .max_age(config.max_age),
    )
}

/// `http(s)://localhost[:port]`, `127.0.0.1`, `[::1]`, or a `*.localhost` name.
pub fn is_localhost(origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else { return false };
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    if !matches!(scheme, "http" | "https") || rest.contains('/') {
        return false;
    }
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest
            .rsplit_once(':')
            .map_or(rest, |(host, port)| if port.chars().all(|c| c.is_ascii_digit()) { host } else { rest }),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host == "127.0.0.1"
        || host == "::1"
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;

    fn origin(text: &'static str) -> HeaderValue {
        HeaderValue::from_static(text)
    }

    #[test]
    fn localhost_origins_on_any_port_are_recognised() {
        for yes in ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080", "https://app.localhost"] {
            assert!(is_localhost(&origin(yes)), "{yes}");
        }
        for no in ["http://localhost.example.com", "https://example.com", "file://localhost", "http://10.0.0.1"] {
            assert!(!is_localhost(&origin(no)), "{no}");
        }
    }

    async fn preflight(config: &Cors, from: &'static str, headers: &'static str) -> axum::response::Response {
        let app = Router::new().route("/graphql", post(|| async { "ran" })).layer(layer(config).expect("a layer"));
        let request = Request::options("/graphql")
            .header(header::ORIGIN, from)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
            .body(Body::empty())
            .expect("request");
        app.oneshot(request).await.expect("response")
    }

    #[tokio::test]
    async fn a_preflight_gets_the_headers_clients_ask_for_by_default() {
        let config = Cors { allow_origins: vec!["https://app.example.com".into()], ..Cors::default() };
        let asked = "content-type,apollographql-client-name,apollographql-client-version,traceparent,tracestate,baggage,sentry-trace,x-request-id";
        let response = preflight(&config, "https://app.example.com", asked).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], asked);
        let other = preflight(&config, "https://evil.example.com", asked).await;
        assert!(other.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "another origin is not allowed");
    }

    #[tokio::test]
    async fn a_configured_header_list_replaces_the_mirror() {
        let config = Cors {
            allow_origins: vec!["https://app.example.com".into()],
            allow_headers: Some(vec!["content-type".into(), "authorization".into()]),
            expose_headers: vec!["x-request-id".into()],
            ..Cors::default()
        };
        let response = preflight(&config, "https://app.example.com", "traceparent").await;
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type,authorization");
    }

    #[tokio::test]
    async fn localhost_is_allowed_when_the_setting_says_so() {
        let config = Cors { allow_localhost: true, ..Cors::default() };
        let response = preflight(&config, "http://localhost:5173", "content-type").await;
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert!(layer(&Cors::default()).is_none(), "no origin allowed: no CORS at all");
    }
}
