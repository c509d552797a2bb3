//! The tutoring service's configuration, read from the environment at start-up.

use platform::config::{CommonConfig, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct TutoringConfig {
    pub common: CommonConfig,
}

pub const DEFAULT_PORT: u16 = 8002;

impl TutoringConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self { common: CommonConfig::from_env(env, "tutoring", DEFAULT_PORT)? })
    }
}
