//! The one refusal type of the edge, and the one responder: a request refused before GraphQL
//! execution (header limits, CSRF, a partner's key, a token, the rate limit, a malformed body, a
//! persisted document) gets an HTTP status, a stable upper-case code and a message for the
//! client, answered as a GraphQL error body so clients handle it like any other error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::accept::{GRAPHQL_RESPONSE, JSON, JsonKind};

/// The code of a malformed request (invalid JSON, wrong types of its members).
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// The code of a body over the limit.
pub const REQUEST_TOO_LARGE: &str = "REQUEST_TOO_LARGE";

/// Why a request was refused; the message is written for the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// When to try again (seconds): `extensions.retryAfter` and a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl Refused {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// The same refusal, to be retried after `seconds`.
    pub fn retry_after(self, seconds: u64) -> Self {
        Self { retry_after: Some(seconds), ..self }
    }

    /// A malformed request: 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, BAD_REQUEST, message)
    }

    /// `{"errors":[{"message":…,"extensions":{"code":…[,"retryAfter":…]}}]}`.
    pub fn body(&self) -> Value {
        let mut body = json!({ "errors": [{ "message": self.message, "extensions": { "code": self.code } }] });
        if let Some(seconds) = self.retry_after {
            body["errors"][0]["extensions"]["retryAfter"] = json!(seconds);
        }
        body
    }

    /// The answer, as `application/graphql-response+json` when the client asked for it.
    pub fn into_response(self, graphql_response: bool) -> Response {
        let mut response = respond(self.status, graphql_response, &self.body());
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Self::bad_request(message)
    }
}

impl From<&str> for Refused {
    fn from(message: &str) -> Self {
        Self::bad_request(message)
    }
}

impl From<crate::edge::trusted::TrustedError> for Refused {
    fn from(error: crate::edge::trusted::TrustedError) -> Self {
        Self::new(error.status(), error.code(), error.to_string())
    }
}

impl From<crate::edge::auth::AuthFailure> for Refused {
    fn from(failure: crate::edge::auth::AuthFailure) -> Self {
        Self::new(failure.status(), failure.code(), failure.to_string())
    }
}

impl From<crate::edge::apq::ApqError> for Refused {
    fn from(error: crate::edge::apq::ApqError) -> Self {
        // "Not found" is the protocol's request to send the query: not a failure of the client.
        let status =
            if error == crate::edge::apq::ApqError::NotFound { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        Self::new(status, error.code(), error.to_string())
    }
}

/// Whether an answer goes out as `application/graphql-response+json` (else `application/json`).
pub fn graphql_response(kind: Option<JsonKind>) -> bool {
    kind == Some(JsonKind::GraphqlResponse)
}

/// A JSON answer with `status` and the negotiated content type: every JSON body the router's
/// HTTP side writes goes through here.
pub fn respond(status: StatusCode, graphql_response: bool, body: &Value) -> Response {
    // Straight into bytes (`Display` would go through `fmt::Write`, character by character).
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| {
        br#"{"errors":[{"message":"unserialisable response","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
    });
    respond_bytes(status, graphql_response, bytes)
}

/// [`respond`] with a body already written as JSON.
pub fn respond_bytes(status: StatusCode, graphql_response: bool, bytes: Vec<u8>) -> Response {
    let content_type = if graphql_response { GRAPHQL_RESPONSE } else { JSON };
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_coded_graphql_error_in_the_negotiated_type() {
        let refused = Refused::new(StatusCode::BAD_REQUEST, "X", "no");
        let response = refused.clone().into_response(true);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], GRAPHQL_RESPONSE);
        assert_eq!(refused.body()["errors"][0]["extensions"]["code"], "X");
        assert_eq!(refused.into_response(false).headers()[header::CONTENT_TYPE], JSON);
    }

    #[test]
    fn malformed_requests_are_coded_bad_request() {
        let refused = Refused::from("`query` must be a string");
        assert_eq!((refused.status, refused.code), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
    }
}
