//! Authentication at the router: the request's bearer token is checked against the configured
//! JWKS (signature, algorithm, `kid`, issuer, audience, `exp` and `nbf` with leeway) before the
//! operation is looked at, and its claims are handed to the authorization policies
//! ([`crate::policy`]) and, through [`Claims::subject`], to per-caller limits.
//!
//! A request without the header is anonymous; a request with a header that does not hold a
//! valid token is refused as a whole (HTTP 401, `UNAUTHENTICATED`): a client that sends a token
//! means to be someone, and answering it as anonymous would hide an expired session.
//!
//! ```yaml
//! authentication:
//!   jwks:
//!     - url: http://identity:8001/.well-known/jwks.json
//!       issuer: edustream-identity
//!       audiences: [edustream]
//!       algorithms: [EdDSA]          # default: every asymmetric algorithm
//!   header: authorization            # default
//!   prefix: Bearer                   # default; "" for a bare token
//!   leeway: 60s                      # clock skew allowed on exp/nbf
//!   ttl: 5m                          # the key set is refetched when older
//!   min_refresh: 10s                 # at most one refetch per this, for unknown kids
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use jwks::{AuthError, JwksKeySource, KeySource};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, parse_duration};

/// The algorithms accepted when a JWKS entry names none: every asymmetric one. HMAC is never
/// accepted: its secret would have to be shared with the router, and a JWKS publishes keys.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// One trusted token issuer: where its keys are and what its tokens must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    pub url: String,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// A token's `aud` must name at least one of these.
    pub audiences: Vec<String>,
    /// The `alg` values accepted; anything else is refused before a key is looked up.
    pub algorithms: Vec<Algorithm>,
}

/// The `authentication:` section of the router config (`ROUTER_JWKS_URL`, `ROUTER_JWT_ISSUER`
/// and `ROUTER_JWT_AUDIENCE` override it, see [`AuthSettings::apply_env`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "AuthSection")]
pub struct AuthSettings {
    pub jwks: Vec<JwksSettings>,
    /// The request header holding the token (lower case).
    pub header: String,
    /// The scheme before the token (`Bearer`, compared case-insensitively); empty: the header is
    /// the bare token.
    pub prefix: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Age after which a key set is refetched.
    pub ttl: Duration,
    /// Shortest time between two refetches forced by tokens naming an unknown `kid`.
    pub min_refresh: Duration,
}

impl AuthSettings {
    /// Settings for one JWKS with the defaults for everything else.
    pub fn new(jwks: Vec<JwksSettings>) -> Self {
        Self {
            jwks,
            header: "authorization".into(),
            prefix: "Bearer".into(),
            leeway: Duration::from_secs(60),
            ttl: Duration::from_secs(300),
            min_refresh: Duration::from_secs(10),
        }
    }

    /// Applies `ROUTER_JWKS_URL`, `ROUTER_JWT_ISSUER` and `ROUTER_JWT_AUDIENCE` (comma-separated)
    /// over the file's section. They describe the first (usually the only) JWKS entry;
    /// `ROUTER_JWKS_URL` alone turns authentication on when the file has no section, and then
    /// the issuer and audience must be given too.
    pub fn apply_env(
        settings: Option<Self>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (url, issuer, audiences) = (var("ROUTER_JWKS_URL"), var("ROUTER_JWT_ISSUER"), var("ROUTER_JWT_AUDIENCE"));
        if url.is_none() && issuer.is_none() && audiences.is_none() {
            return Ok(settings);
        }
        let mut settings = match (settings, &url) {
            (Some(settings), _) if !settings.jwks.is_empty() => settings,
            (_, Some(url)) => Self::new(vec![JwksSettings {
                url: url.clone(),
                issuer: String::new(),
                audiences: Vec::new(),
                algorithms: ASYMMETRIC.to_vec(),
            }]),
            _ => {
                return Err(ConfigError(
                    "ROUTER_JWT_ISSUER / ROUTER_JWT_AUDIENCE need a JWKS: set ROUTER_JWKS_URL or `authentication.jwks`"
                        .into(),
                ));
            }
        };
        let first = &mut settings.jwks[0];
        if let Some(url) = url {
            first.url = url;
        }
        if let Some(issuer) = issuer {
            first.issuer = issuer;
        }
        if let Some(audiences) = audiences {
            first.audiences =
                audiences.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect();
        }
        check_jwks(first).map_err(|e| ConfigError(format!("authentication (from the environment): {e}")))?;
        Ok(Some(settings))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    jwks: Vec<JwksSection>,
    header: Option<String>,
    prefix: Option<String>,
    leeway: Option<String>,
    ttl: Option<String>,
    min_refresh: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwksSection {
    url: String,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Option<Vec<String>>,
}

impl TryFrom<AuthSection> for AuthSettings {
    type Error = String;

    fn try_from(section: AuthSection) -> Result<Self, String> {
        if section.jwks.is_empty() {
            return Err("authentication.jwks: list at least one JWKS".into());
        }
        let jwks = section.jwks.into_iter().map(JwksSettings::try_from).collect::<Result<Vec<_>, _>>()?;
        let mut settings = Self::new(jwks);
        if let Some(header) = section.header {
            HeaderName::from_str(&header)
                .map_err(|_| format!("authentication.header: `{header}` is not a header name"))?;
            settings.header = header.to_ascii_lowercase();
        }
        if let Some(prefix) = section.prefix {
            settings.prefix = prefix.trim().to_owned();
        }
        let duration = |key: &str, text: Option<String>, default: Duration| match text {
            Some(text) if text.trim() == "0" || text.trim() == "0s" => Ok(Duration::ZERO),
            Some(text) => parse_duration(&text).map_err(|e| format!("authentication.{key}: {e}")),
            None => Ok(default),
        };
        settings.leeway = duration("leeway", section.leeway, settings.leeway)?;
        settings.ttl = duration("ttl", section.ttl, settings.ttl)?;
        settings.min_refresh = duration("min_refresh", section.min_refresh, settings.min_refresh)?;
        Ok(settings)
    }
}

impl TryFrom<JwksSection> for JwksSettings {
    type Error = String;

    fn try_from(section: JwksSection) -> Result<Self, String> {
        let algorithms = match section.algorithms {
            None => ASYMMETRIC.to_vec(),
            Some(names) => names.iter().map(|name| algorithm(name)).collect::<Result<Vec<_>, _>>()?,
        };
        let settings = Self { url: section.url, issuer: section.issuer, audiences: section.audiences, algorithms };
        check_jwks(&settings).map_err(|e| format!("authentication.jwks: {e}"))?;
        Ok(settings)
    }
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    let algorithm = Algorithm::from_str(name.trim()).map_err(|_| format!("`{name}` is not a JWT algorithm"))?;
    if ASYMMETRIC.contains(&algorithm) {
        Ok(algorithm)
    } else {
        Err(format!(
            "`{name}` is not accepted: only asymmetric algorithms (EdDSA, RS*, PS*, ES*) can be verified with a JWKS"
        ))
    }
}

fn check_jwks(settings: &JwksSettings) -> Result<(), String> {
    if !(settings.url.starts_with("http://") || settings.url.starts_with("https://")) {
        return Err(format!("`{}` is not an http(s) URL", settings.url));
    }
    if settings.issuer.trim().is_empty() {
        return Err(format!("the JWKS {} needs an issuer", settings.url));
    }
    if settings.audiences.iter().all(|a| a.trim().is_empty()) {
        return Err(format!("the JWKS {} needs at least one audience", settings.url));
    }
    if settings.algorithms.is_empty() {
        return Err(format!("the JWKS {} accepts no algorithm", settings.url));
    }
    Ok(())
}

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

    /// The GraphQL response body: `{"errors": [{message, extensions: {code}}]}`.
    pub fn body(&self) -> Value {
        serde_json::json!({ "errors": [{ "message": self.to_string(), "extensions": { "code": self.code() } }] })
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
