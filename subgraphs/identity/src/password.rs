//! Password hashing with Argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane), always on the
//! blocking pool with bounded concurrency so hashing neither stalls the runtime nor lets a burst
//! of logins exhaust memory. Parameters are read back from each stored hash, so they can be raised.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified when the e-mail is unknown so that a login
    /// for an unknown account costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new() -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
        let concurrency = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy = Self::hash_with(&params, "a password nobody has: 8c1f0e59").expect("hashing a constant works");
        Self { params, permits: Arc::new(Semaphore::new(concurrency)), dummy_hash: dummy.into() }
    }

    fn argon(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    fn hash_with(params: &Params, password: &str) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        Self::argon(params)
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let _permit = self.permits.acquire().await.map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| HashError(e.to_string()))
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let params = self.params.clone();
        self.blocking(move || Self::hash_with(&params, &password)).await?
    }

    /// Whether `password` matches `hash`; a malformed hash never matches.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, HashError> {
        let params = self.params.clone();
        self.blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else { return false };
            Self::argon(&params).verify_password(password.as_bytes(), &parsed).is_ok()
        })
        .await
    }

    /// Spends the time of a verification without an account (always `false`).
    pub async fn verify_dummy(&self, password: String) -> Result<bool, HashError> {
        let hash = self.dummy_hash.to_string();
        self.verify(password, hash).await.map(|_| false)
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new();
        let hash = hasher.hash("correct horse battery".into()).await.expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify("correct horse battery".into(), hash.clone()).await.expect("verifies"));
        assert!(!hasher.verify("wrong horse battery".into(), hash).await.expect("verifies"));
        assert!(!hasher.verify("x".into(), "not a hash".into()).await.expect("verifies"));
        assert!(!hasher.verify_dummy("anything".into()).await.expect("verifies"));
    }
}
