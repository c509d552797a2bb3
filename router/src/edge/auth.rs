//! Authentication at the router: the request's bearer token is checked against the configured
//! JWKS (signature, algorithm, `kid`, issuer, audience, `exp` and `nbf` with leeway) before the
//! operation is looked at, and its claims are handed to the authorization policies
//! ([`crate::policy`]) and, through [`Claims::subject`], to per-caller limits.
//!
//! A request without the header is anonymous; a request with a header that does not hold a
//! valid token is refused as a whole (HTTP 401, `UNAUTHENTICATED`): a client that sends a token
//! means to be someone, and answering it as anonymous would hide an expired session.
//!
//! The settings (`authentication:`, `ROUTER_JWKS_URL`, ...) are
//! [`crate::config::authentication`]'s.

use std::str::FromStr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use jwks::{AuthError, JwksKeySource, KeySource};
use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::config::authentication::AuthSettings;

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims {
    /// `sub`.
    pub subject: Option<String>,
    /// From `scope` (space-separated, OAuth 2) or `scp` (an array or a space-separated string).
    pub scopes: Vec<String>,
    /// Every claim, for policies that need more.
    pub raw: Map<String, Value>,
}

impl Claims {
    pub fn from_raw(raw: Map<String, Value>) -> Self {
        let subject = raw.get("sub").and_then(Value::as_str).map(str::to_owned);
        let mut scopes: Vec<String> = Vec::new();
        for claim in ["scope", "scp"] {
            match raw.get(claim) {
                Some(Value::String(list)) => scopes.extend(list.split_whitespace().map(str::to_owned)),
                Some(Value::Array(items)) => scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned)),
                _ => {}
            }
        }
        scopes.sort();
        scopes.dedup();
        Self { subject, scopes, raw }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a request's token was refused. Every message is safe for clients (none echoes the token);
/// the code is `UNAUTHENTICATED` and the operation does not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("the `{header}` header must be `{expected}`")]
    BadHeader { header: String, expected: String },
    #[error("the token is malformed")]
    Malformed,
    #[error("tokens signed with `{0}` are not accepted")]
    Algorithm(String),
    #[error("the token names no signing key (`kid`)")]
    NoKeyId,
    #[error("the token is signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not trusted")]
    Issuer,
    #[error("the token is meant for another audience")]
    Audience,
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    #[error("the token cannot be verified now: the signing keys are unavailable")]
    KeysUnavailable,
}

impl AuthFailure {
    pub fn code(&self) -> &'static str {
        "UNAUTHENTICATED"
    }

    /// 401, except when the keys cannot be fetched: then the token may well be good (503).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// A trusted issuer and its keys.
struct Trusted {
    keys: Arc<dyn KeySource>,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
}

/// Checks the tokens of requests. Cheap to share (`Arc`): key sets are cached inside.
pub struct Authenticator {
    header: HeaderName,
    prefix: String,
    leeway: u64,
    trusted: Vec<Trusted>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<&str> = self.trusted.iter().map(|t| t.issuer.as_str()).collect();
        f.debug_struct("Authenticator").field("header", &self.header).field("issuers", &issuers).finish()
    }
}

impl Authenticator {
    /// An authenticator fetching keys from the settings' JWKS URLs (lazily, on the first token).
    pub fn new(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let header = HeaderName::from_str(&settings.header)
            .map_err(|_| ConfigError(format!("authentication.header: `{}` is not a header name", settings.header)))?;
        let trusted = settings
            .jwks
            .iter()
            .map(|jwks| Trusted {
                keys: Arc::new(JwksKeySource::new(&jwks.url).with_intervals(settings.ttl, settings.min_refresh)),
                issuer: jwks.issuer.clone(),
                audiences: jwks.audiences.clone(),
                algorithms: jwks.algorithms.clone(),
            })
            .collect();
        Ok(Self { header, prefix: settings.prefix.clone(), leeway: settings.leeway.as_secs(), trusted })
    }

    /// The request's claims: `None` without the header (anonymous), an error when the header is
    /// there but does not hold a valid token.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Claims>, AuthFailure> {
        let mut values = headers.get_all(&self.header).iter();
        let Some(value) = values.next() else { return Ok(None) };
        let bad_header = || AuthFailure::BadHeader {
            header: self.header.to_string(),
            expected: if self.prefix.is_empty() { "<token>".into() } else { format!("{} <token>", self.prefix) },
        };
        if values.next().is_some() {
            return Err(bad_header());
        }
        let value = value.to_str().map_err(|_| bad_header())?.trim();
        let token = if self.prefix.is_empty() {
            value
        } else {
            let (scheme, token) = value.split_once(' ').ok_or_else(bad_header)?;
            if !scheme.eq_ignore_ascii_case(&self.prefix) {
                return Err(bad_header());
            }
            token.trim()
        };
        if token.is_empty() {
            return Err(bad_header());
        }
        self.verify(token).await.map(Some)
    }

    /// Verifies one token.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthFailure> {
        // The algorithm is checked on the raw header first: `none` and HMAC never reach a key.
        let alg = declared_algorithm(token)?;
        let algorithm = Algorithm::from_str(&alg).map_err(|_| AuthFailure::Algorithm(alg.clone()))?;
        let candidates: Vec<&Trusted> = self.trusted.iter().filter(|t| t.algorithms.contains(&algorithm)).collect();
        if candidates.is_empty() {
            return Err(AuthFailure::Algorithm(alg));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        let kid = header.kid.ok_or(AuthFailure::NoKeyId)?;
        let mut unavailable = false;
        for trusted in candidates {
            match trusted.keys.key(&kid).await {
                Ok(Some(key)) => return self.decode(token, algorithm, &key, trusted),
                Ok(None) => {}
                Err(AuthError::KeysUnavailable(detail)) => {
                    tracing::warn!(issuer = %trusted.issuer, %detail, "cannot fetch the JWKS");
                    unavailable = true;
                }
                Err(_) => {}
            }
        }
        Err(if unavailable { AuthFailure::KeysUnavailable } else { AuthFailure::UnknownKey })
    }

    fn decode(
        &self,
        token: &str,
        algorithm: Algorithm,
        key: &jsonwebtoken::DecodingKey,
        trusted: &Trusted,
    ) -> Result<Claims, AuthFailure> {
        // One algorithm per validation: jsonwebtoken refuses a list mixing key families.
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&trusted.issuer]);
        validation.set_audience(&trusted.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthFailure::Expired,
            ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
            ErrorKind::InvalidIssuer => AuthFailure::Issuer,
            ErrorKind::InvalidAudience => AuthFailure::Audience,
            ErrorKind::InvalidSignature => AuthFailure::Signature,
            ErrorKind::MissingRequiredClaim(claim) => AuthFailure::MissingClaim(claim.clone()),
            // The key's family does not match the declared algorithm (e.g. ES256 over an Ed25519 key).
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_) => AuthFailure::Algorithm(format!("{algorithm:?}")),
            other => {
                tracing::debug!(error = ?other, "token refused as malformed");
                AuthFailure::Malformed
            }
        })?;
        Ok(Claims::from_raw(data.claims))
    }
}

/// The `alg` of a token's header, read without trusting anything else in it.
fn declared_algorithm(token: &str) -> Result<String, AuthFailure> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(AuthFailure::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| AuthFailure::Malformed)?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| AuthFailure::Malformed)?;
    header.get("alg").and_then(Value::as_str).map(str::to_owned).ok_or(AuthFailure::Malformed)
}

#[cfg(test)]
mod tests;
