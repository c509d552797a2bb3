//! Access-token verification (EdDSA JWTs with `kid`, issuer, audience, expiry and clock skew)
//! against a JWKS, the auth context resolvers read, and the guards "signed in" and "has role".
//!
//! The key sources (a cached JWKS, keys in memory) live in the `jwks` crate, shared with the
//! router, and are re-exported here.

use std::net::IpAddr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
pub use jwks::{AuthError, JwksKeySource, KeySource, StaticKeys, ed25519_jwk};
use kernel::{AccessClaims, ErrorCode, Role, UserId};

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
        // A token not valid yet (`nbf` in the future, past the leeway) is refused, as at the router.
        validation.validate_nbf = true;
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
                ErrorKind::ImmatureSignature => AuthError::Invalid("the token is not valid yet (nbf)".into()),
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
