//! Access tokens: Ed25519 signing keys (with a `kid` each), the JWKS published at
//! `/.well-known/jwks.json`, and issuing short-lived EdDSA JWTs.
//!
//! Rotation: configure the new key as `JWT_SIGNING_KEY` and list the old public key in
//! `JWT_PREVIOUS_PUBLIC_KEYS`; tokens signed with either verify until the old ones expire.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use kernel::AccessClaims;
use platform::TokenVerifier;
use platform::auth::{StaticKeys, ed25519_jwk};
use platform::config::JwtSettings;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::User;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{name} must be the base64 of a 32-byte Ed25519 key")]
    Malformed { name: &'static str },
    #[error("cannot read or write the signing key at {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The current signing key and the public keys of earlier ones still accepted.
pub struct SigningKeys {
    current: SigningKey,
    kid: String,
    encoding: EncodingKey,
    previous: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").field("kid", &self.kid).field("previous", &self.previous.len()).finish()
    }
}

/// A key id derived from the public key, so the same key always has the same id.
pub fn key_id(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_key(raw: &str, name: &'static str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD.decode(raw.trim()).map_err(|_| KeyError::Malformed { name })?;
    bytes.try_into().map_err(|_| KeyError::Malformed { name })
}

impl SigningKeys {
    pub fn new(current: SigningKey, previous_public: Vec<[u8; 32]>) -> Self {
        let der = current.to_pkcs8_der().expect("an Ed25519 key encodes as PKCS#8");
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let kid = key_id(&current.verifying_key().to_bytes());
        let previous = previous_public.into_iter().map(|key| (key_id(&key), key)).collect();
        Self { current, kid, encoding, previous }
    }

    /// From configuration: the base64 seed of the signing key and earlier public keys.
    pub fn from_config(seed_base64: &str, previous_base64: &[String]) -> Result<Self, KeyError> {
        let seed = decode_key(seed_base64, "JWT_SIGNING_KEY")?;
        let previous = previous_base64
            .iter()
            .map(|key| decode_key(key, "JWT_PREVIOUS_PUBLIC_KEYS"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(SigningKey::from_bytes(&seed), previous))
    }

    /// The embedded mode's key: read from `dir/identity-signing.key`, generated there on first run.
    pub fn load_or_generate(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join("identity-signing.key");
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(seed) => Self::from_config(&seed, &[]),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io)?;
                let key = SigningKey::generate(&mut rand::rngs::OsRng);
                write_private(&path, &STANDARD.encode(key.to_bytes())).map_err(io)?;
                tracing::info!(path = %path.display(), "generated a new signing key for access tokens");
                Ok(Self::new(key, Vec::new()))
            }
            Err(error) => Err(io(error)),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as base64, for `JWT_PREVIOUS_PUBLIC_KEYS` after a rotation.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.current.verifying_key().to_bytes())
    }

    fn public_keys(&self) -> impl Iterator<Item = (String, [u8; 32])> + '_ {
        std::iter::once((self.kid.clone(), self.current.verifying_key().to_bytes()))
            .chain(self.previous.iter().cloned())
    }

    /// The JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self.public_keys().map(|(kid, key)| ed25519_jwk(&kid, &key)).collect();
        serde_json::json!({ "keys": keys })
    }

    /// A verifier that checks tokens against these keys without a network round trip.
    pub fn verifier(&self, settings: &JwtSettings) -> TokenVerifier {
        let keys = self.public_keys().map(|(kid, key)| {
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
            (kid, DecodingKey::from_ed_components(&x).expect("a 32-byte key is a valid component"))
        });
        TokenVerifier::new(std::sync::Arc::new(StaticKeys::new(keys)), settings)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Issues access tokens.
pub struct TokenIssuer {
    keys: std::sync::Arc<SigningKeys>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenIssuer {
    pub fn new(keys: std::sync::Arc<SigningKeys>, settings: &JwtSettings, ttl: Duration) -> Self {
        Self { keys, issuer: settings.issuer.clone(), audience: settings.audience.clone(), ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed access token for `user` in `session`.
    pub fn issue(&self, user: &User, session: Uuid, now: DateTime<Utc>) -> String {
        let claims = AccessClaims {
            sub: user.id.to_string(),
            role: user.role,
            sid: session.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.ttl.as_secs() as i64,
            jti: Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.keys.encoding)
            .expect("signing with a valid Ed25519 key cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_persisted_and_reloaded_with_the_same_kid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = SigningKeys::load_or_generate(dir.path()).expect("generated");
        let second = SigningKeys::load_or_generate(dir.path()).expect("reloaded");
        assert_eq!(first.kid(), second.kid());
        assert_eq!(first.jwks()["keys"][0]["kid"], first.kid());
        assert_eq!(first.jwks()["keys"][0]["kty"], "OKP");
    }

    #[test]
    fn a_malformed_configured_key_is_refused_by_name() {
        let err = SigningKeys::from_config("not base64!", &[]).expect_err("malformed");
        assert!(err.to_string().contains("JWT_SIGNING_KEY"));
    }
}
