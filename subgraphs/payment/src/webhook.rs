//! `POST /webhooks/provider`: the provider's signed events. The signature is Stripe's
//! (`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`),
//! checked over the raw body before anything is parsed, in constant time; old timestamps are
//! refused; a replayed event id is answered 200 and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use kernel::ErrorCode;
use platform::graphql::CodedError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use crate::provider::ProviderEvent;
use crate::service::PaymentService;

pub const SIGNATURE_HEADER: &str = "Stripe-Signature";
pub const PATH: &str = "/webhooks/provider";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header must be `t=<unix seconds>,v1=<hex signature>`")]
    Malformed,
    #[error("no signature matches the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Stripe-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Checks `header` against the raw `body`: one `t` and any number of `v1` signatures (several
/// during a secret's rotation), compared in constant time; then the timestamp must be within
/// `tolerance` of `now` (unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance: Duration) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if !signatures.iter().any(|signature| mac(secret, timestamp, body).verify_slice(signature).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.saturating_sub(timestamp).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// A webhook event, as Stripe shapes it.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

struct Endpoint {
    service: Arc<PaymentService>,
    secret: SecretString,
    tolerance: Duration,
}

/// The webhook route, merged into the service's router.
pub fn routes(service: Arc<PaymentService>, secret: SecretString, tolerance: Duration) -> Router {
    Router::new().route(PATH, post(receive)).with_state(Arc::new(Endpoint { service, secret, tolerance }))
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

async fn receive(State(endpoint): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(header) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return answer(StatusCode::BAD_REQUEST, &SignatureError::Missing.to_string());
    };
    let secret = endpoint.secret.expose_secret().as_bytes();
    if let Err(error) = verify(secret, header, &body, chrono::Utc::now().timestamp(), endpoint.tolerance) {
        tracing::warn!(%error, "webhook refused");
        return answer(StatusCode::BAD_REQUEST, &error.to_string());
    }
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => return answer(StatusCode::BAD_REQUEST, &format!("not a webhook event: {error}")),
    };
    let effect = match ProviderEvent::from_webhook(&event.event_type, &event.data.object) {
        Ok(effect) => effect,
        Err(error) => return answer(StatusCode::BAD_REQUEST, &format!("{}: {error}", event.event_type)),
    };
    match endpoint.service.apply_webhook(&event.id, &event.event_type, &effect).await {
        Ok(applied) => {
            (StatusCode::OK, axum::Json(serde_json::json!({ "received": true, "applied": applied }))).into_response()
        }
        Err(error) => {
            let status = match error.code() {
                ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            tracing::error!(event_id = %event.id, event_type = %event.event_type, %error, "webhook not applied");
            answer(status, "not applied; retry later")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const TOLERANCE: Duration = Duration::from_secs(300);

    #[test]
    fn a_valid_signature_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(SECRET, 1_000, body);
        assert_eq!(verify(SECRET, &header, body, 1_010, TOLERANCE), Ok(()));
        let rotated = format!("{header},v1={}", hex::encode([0u8; 32]));
        assert_eq!(verify(SECRET, &rotated, body, 1_010, TOLERANCE), Ok(()), "any one v1 may match");
    }

    #[test]
    fn a_tampered_body_or_another_secret_is_refused() {
        let header = signature_header(SECRET, 1_000, b"{\"amount\":100}");
        assert_eq!(verify(SECRET, &header, b"{\"amount\":999}", 1_000, TOLERANCE), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(b"whsec_other", &header, b"{\"amount\":100}", 1_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        let shifted = header.replace("t=1000", "t=1001");
        assert_eq!(verify(SECRET, &shifted, b"{\"amount\":100}", 1_000, TOLERANCE), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_stale_timestamp_is_refused() {
        let header = signature_header(SECRET, 1_000, b"{}");
        assert_eq!(verify(SECRET, &header, b"{}", 1_301, TOLERANCE), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, &header, b"{}", 1_300, TOLERANCE), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in ["", "t=abc,v1=00", "v1=00", "t=1000", "t=1000,v1=zz", "nonsense"] {
            assert_eq!(verify(SECRET, header, b"{}", 1_000, TOLERANCE), Err(SignatureError::Malformed), "{header}");
        }
    }
}
