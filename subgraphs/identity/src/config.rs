//! The identity service's configuration, read from the environment at start-up.

use std::path::PathBuf;
use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env};

use crate::domain::Email;
use crate::throttle::Limit;

/// Where the access-token signing key comes from.
#[derive(Clone)]
pub enum SigningKeySource {
    /// `JWT_SIGNING_KEY` (base64 of a 32-byte Ed25519 seed) and earlier public keys.
    Configured { seed: secrecy::SecretString, previous: Vec<String> },
    /// Embedded mode: generated once and kept under the data directory.
    Generated { dir: PathBuf },
}

impl std::fmt::Debug for SigningKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Configured { previous, .. } => write!(f, "Configured {{ previous: {} }}", previous.len()),
            Self::Generated { dir } => write!(f, "Generated {{ dir: {} }}", dir.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub common: CommonConfig,
    pub signing_key: SigningKeySource,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub admin_email: Option<Email>,
    pub per_account: Limit,
    pub per_address: Limit,
}

pub const DEFAULT_PORT: u16 = 8001;

impl IdentityConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, "identity", DEFAULT_PORT)?;
        let signing_key = match env.get("JWT_SIGNING_KEY") {
            Some(seed) => SigningKeySource::Configured {
                seed: seed.into(),
                previous: env
                    .get("JWT_PREVIOUS_PUBLIC_KEYS")
                    .map(|keys| keys.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect())
                    .unwrap_or_default(),
            },
            None if common.database_url.starts_with("sqlite:") => {
                SigningKeySource::Generated { dir: PathBuf::from(env.get_or("DATA_DIR", ".edustream")) }
            }
            None => {
                return Err(ConfigError::Missing {
                    name: "JWT_SIGNING_KEY".into(),
                    hint: "production (PostgreSQL) needs a configured signing key; `edustream keygen` prints one"
                        .into(),
                });
            }
        };
        let admin_email = match env.get("ADMIN_EMAIL") {
            None => None,
            Some(raw) => Some(Email::parse(&raw).map_err(|e| ConfigError::Invalid {
                name: "ADMIN_EMAIL".into(),
                value: raw.clone(),
                reason: e.to_string(),
            })?),
        };
        let window = env.duration_or("LOGIN_FAILURE_WINDOW", Duration::from_secs(15 * 60))?;
        Ok(Self {
            signing_key,
            access_token_ttl: env.duration_or("ACCESS_TOKEN_TTL", Duration::from_secs(15 * 60))?,
            refresh_token_ttl: env.duration_or("REFRESH_TOKEN_TTL", Duration::from_secs(30 * 24 * 3600))?,
            admin_email,
            per_account: Limit { max_failures: env.parse_or("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)?, window },
            per_address: Limit { max_failures: env.parse_or("LOGIN_MAX_FAILURES_PER_ADDRESS", 50)?, window },
            common,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_requires_a_signing_key() {
        let env = Env::from_pairs([("DATABASE_URL", "postgres://db/identity")]);
        let err = IdentityConfig::from_env(&env).expect_err("no key");
        assert!(err.to_string().contains("JWT_SIGNING_KEY"), "{err}");
    }

    #[test]
    fn a_bad_admin_email_is_reported() {
        let env = Env::from_pairs([("ADMIN_EMAIL", "not-an-email")]);
        let err = IdentityConfig::from_env(&env).expect_err("invalid");
        assert!(err.to_string().starts_with("ADMIN_EMAIL="), "{err}");
    }
}
