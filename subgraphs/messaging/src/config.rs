//! The messaging service's configuration, read from the environment at start-up.

use std::num::NonZeroU32;

use platform::config::{CommonConfig, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct MessagingConfig {
    pub common: CommonConfig,
    /// `MESSAGE_RATE_PER_MINUTE`: messages a sender may send per minute, sustained (30).
    pub rate_per_minute: NonZeroU32,
    /// `MESSAGE_RATE_BURST`: messages a sender may send at once before the rate applies (5).
    pub rate_burst: NonZeroU32,
}

pub const DEFAULT_PORT: u16 = 8004;

fn positive(env: &Env, name: &str, default: u32) -> Result<NonZeroU32, ConfigError> {
    let value: u32 = env.parse_or(name, default)?;
    NonZeroU32::new(value).ok_or_else(|| ConfigError::Invalid {
        name: name.into(),
        value: value.to_string(),
        reason: "at least 1".into(),
    })
}

impl MessagingConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, "messaging", DEFAULT_PORT)?,
            rate_per_minute: positive(env, "MESSAGE_RATE_PER_MINUTE", 30)?,
            rate_burst: positive(env, "MESSAGE_RATE_BURST", 5)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_rate_has_defaults_and_must_be_positive() {
        let config = MessagingConfig::from_env(&Env::from_pairs([("X", "y")])).expect("defaults");
        assert_eq!((config.rate_per_minute.get(), config.rate_burst.get()), (30, 5));
        assert_eq!(config.common.listen_addr.port(), DEFAULT_PORT);
        let err = MessagingConfig::from_env(&Env::from_pairs([("MESSAGE_RATE_PER_MINUTE", "0")])).expect_err("zero");
        assert!(err.to_string().starts_with("MESSAGE_RATE_PER_MINUTE="), "{err}");
        let err = MessagingConfig::from_env(&Env::from_pairs([("MESSAGE_RATE_BURST", "many")])).expect_err("text");
        assert!(err.to_string().starts_with("MESSAGE_RATE_BURST="), "{err}");
    }
}
