//! The review service's configuration, read from the environment at start-up.

use platform::config::{CommonConfig, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct ReviewConfig {
    pub common: CommonConfig,
    /// `REVIEW_FLAG_THRESHOLD`: unsettled flags that hide a review pending moderation (3).
    pub flag_threshold: i64,
}

pub const DEFAULT_PORT: u16 = 8007;

impl ReviewConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let flag_threshold: i64 = env.parse_or("REVIEW_FLAG_THRESHOLD", 3)?;
        if flag_threshold < 1 {
            return Err(ConfigError::Invalid {
                name: "REVIEW_FLAG_THRESHOLD".into(),
                value: flag_threshold.to_string(),
                reason: "at least 1".into(),
            });
        }
        Ok(Self { common: CommonConfig::from_env(env, "review", DEFAULT_PORT)?, flag_threshold })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_threshold_is_positive() {
        let err = ReviewConfig::from_env(&Env::from_pairs([("REVIEW_FLAG_THRESHOLD", "0")])).expect_err("invalid");
        assert!(err.to_string().starts_with("REVIEW_FLAG_THRESHOLD="), "{err}");
        assert_eq!(ReviewConfig::from_env(&Env::from_pairs([("X", "y")])).map(|c| c.flag_threshold).ok(), Some(3));
    }
}
