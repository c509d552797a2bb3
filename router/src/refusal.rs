//! A request refused at the door, before GraphQL execution (CSRF, header limits, rate limits):
//! the HTTP status, a stable upper-case code and a message for the client, answered as a
//! GraphQL error body so clients handle it like any other error.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Why a request was refused; the message is written for the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refused {
    /// `{"errors":[{"message":…,"extensions":{"code":…}}]}`.
    pub fn body(&self) -> Value {
        json!({ "errors": [{ "message": self.message, "extensions": { "code": self.code } }] })
    }

    /// The answer, as `application/graphql-response+json` when the client asked for it.
    pub fn into_response(self, graphql_response: bool) -> Response {
        respond(self.status, graphql_response, &self.body())
    }
}

/// Whether the client's `accept` names `application/graphql-response+json` (for layers that
/// answer before the handler has negotiated the media type).
pub fn prefers_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(GRAPHQL_RESPONSE)))
}

/// A JSON answer with `status` and the negotiated content type.
pub fn respond(status: StatusCode, graphql_response: bool, body: &Value) -> Response {
    let content_type = if graphql_response { GRAPHQL_RESPONSE } else { "application/json" };
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| br#"{"errors":[{"message":"refused"}]}"#.to_vec());
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_media_type_follows_the_accept_header() {
        let mut headers = HeaderMap::new();
        assert!(!prefers_graphql_response(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, application/graphql-response+json;q=0.9"),
        );
        assert!(prefers_graphql_response(&headers));
        let refused = Refused { status: StatusCode::BAD_REQUEST, code: "X", message: "no".into() };
        let response = refused.clone().into_response(true);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], GRAPHQL_RESPONSE);
        assert_eq!(refused.body()["errors"][0]["extensions"]["code"], "X");
    }
}
