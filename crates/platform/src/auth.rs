//! Access-token verification (EdDSA JWTs with `kid`, issuer, audience, expiry and clock skew)
//! against a JWKS, the auth context resolvers read, and the guards "signed in" and "has role".

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kernel::{AccessClaims, ErrorCode, Role, UserId};
use tokio::sync::RwLock;

use crate::config::JwtSettings;
use crate::graphql::error_with_code;

/// The signed-in user, as every resolver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
    /// The session the access token belongs to.
    pub session_id: String,
}

/// What a request carries about its caller; present in every GraphQL request's data.
#[derive(Debug, Clone, Default)]
pub struct AuthContext {
    pub principal: Option<Principal>,
}

/// The client's address, for per-address throttling.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// Why a token was refused. Messages are safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token is signed with an unknown key")]
    UnknownKey,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    #[error("the signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

/// Where verification keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The key with this id, refreshing the cached set if the id is unknown.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, AuthError>;
}

/// Keys held in memory (the identity service verifies with its own keys).
#[derive(Clone, Default)]
pub struct StaticKeys(HashMap<String, DecodingKey>);

impl StaticKeys {
    pub fn new(keys: impl IntoIterator<Item = (String, DecodingKey)>) -> Self {
        Self(keys.into_iter().collect())
    }
}

#[async_trait]
impl KeySource for StaticKeys {
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, AuthError> {
        Ok(self.0.get(kid).cloned())
    }
}

/// Keys fetched from a JWKS URL and cached. The set is refreshed when it is older than `ttl`,
/// or at once when a token names an unknown `kid` (key rotation), but at most once per
/// `min_refresh` so that tokens with made-up kids cannot hammer the key server.
pub struct JwksKeySource {
    url: String,
    client: reqwest::Client,
    ttl: Duration,
    min_refresh: Duration,
    cache: RwLock<Option<CachedKeys>>,
}

struct CachedKeys {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

impl JwksKeySource {
    pub fn new(url: &str) -> Self {
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a plain HTTP client builds");
        Self {
            url: url.to_owned(),
            client,
            ttl: Duration::from_secs(300),
            min_refresh: Duration::from_secs(10),
            cache: RwLock::new(None),
        }
    }

    /// Shorter intervals, for tests of rotation.
    pub fn with_intervals(mut self, ttl: Duration, min_refresh: Duration) -> Self {
        self.ttl = ttl;
        self.min_refresh = min_refresh;
        self
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::KeysUnavailable(e.to_string());
        let response = self.client.get(&self.url).send().await.map_err(unavailable)?;
        let set: JwkSet = response.error_for_status().map_err(unavailable)?.json().await.map_err(unavailable)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else {
                tracing::warn!(url = %self.url, "ignoring a JWKS entry without kid or with an unsupported key");
                continue;
            };
            keys.insert(kid, key);
        }
        Ok(keys)
    }

    async fn refresh(&self, force: bool) -> Result<(), AuthError> {
        let mut cache = self.cache.write().await;
        let age = cache.as_ref().map(|c| c.fetched_at.elapsed());
        let due = match age {
            None => true,
            Some(age) if force => age >= self.min_refresh,
            Some(age) => age >= self.ttl,
        };
        if !due {
            return Ok(());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(url = %self.url, keys = keys.len(), "JWKS refreshed");
                *cache = Some(CachedKeys { keys, fetched_at: Instant::now() });
                Ok(())
            }
            // Keep serving the keys we have while the key server is down.
            Err(error) if cache.is_some() => {
                tracing::warn!(url = %self.url, %error, "JWKS refresh failed; keeping cached keys");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.cache.read().await.as_ref().and_then(|c| c.keys.get(kid).cloned())
    }
}

#[async_trait]
impl KeySource for JwksKeySource {
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, AuthError> {
        self.refresh(false).await?;
        if let Some(key) = self.cached(kid).await {
            return Ok(Some(key));
        }
        self.refresh(true).await?;
        Ok(self.cached(kid).await)
    }
}

/// Checks access tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<dyn KeySource>,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(keys: Arc<dyn KeySource>, settings: &JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway.as_secs();
        Self { keys, validation }
    }

    /// Verifies with keys from `settings.jwks_url`.
    pub fn from_jwks(settings: &JwtSettings) -> Option<Self> {
        let url = settings.jwks_url.as_deref()?;
        Some(Self::new(Arc::new(JwksKeySource::new(url)), settings))
    }

    pub async fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        // Only EdDSA: `alg: none` and HMAC confusion are refused before any key is looked up.
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let key = self.keys.key(&kid).await?.ok_or(AuthError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation).map(|data| data.claims).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
                ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                _ => AuthError::Invalid(e.to_string()),
            }
        })
    }

    /// Verifies and turns the claims into a principal.
    pub async fn principal(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.verify(token).await?;
        let user_id = claims.sub.parse().map_err(|_| AuthError::Invalid("the subject is not a user id".into()))?;
        Ok(Principal { user_id, role: claims.role, session_id: claims.sid })
    }
}

/// The JWKS entry of an Ed25519 public key (RFC 8037), built from the raw 32 bytes.
pub fn ed25519_jwk(kid: &str, public_key: &[u8; 32]) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(public_key),
    })
}

/// The principal of the request, if it carried a valid token.
pub fn viewer<'a>(ctx: &async_graphql::Context<'a>) -> Option<&'a Principal> {
    ctx.data_opt::<AuthContext>().and_then(|auth| auth.principal.as_ref())
}

/// The principal of the request, or an `UNAUTHENTICATED` error.
pub fn require_principal<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<AuthContext>()
        .and_then(|auth| auth.principal.as_ref())
        .ok_or_else(|| error_with_code(ErrorCode::Unauthenticated, "sign in first"))
}

/// Guard: the caller is signed in.
pub struct SignedInGuard;

impl async_graphql::Guard for SignedInGuard {
    async fn check(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<()> {
        require_principal(ctx).map(drop)
    }
}

/// Guard: the caller is signed in with this role.
pub struct RoleGuard(pub Role);

impl async_graphql::Guard for RoleGuard {
    async fn check(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<()> {
        let principal = require_principal(ctx)?;
        if principal.role == self.0 {
            Ok(())
        } else {
            Err(error_with_code(ErrorCode::Forbidden, format!("only a user with role {} may do this", self.0)))
        }
    }
}
