//! The booking service's configuration, read from the environment at start-up.

use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env};

#[derive(Debug, Clone)]
pub struct BookingConfig {
    pub common: CommonConfig,
    pub policy: Policy,
    /// `BOOKING_SWEEP_INTERVAL`: how often deadlines are checked (30s).
    pub sweep_interval: Duration,
}

/// The time rules of the saga.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `BOOKING_PAYMENT_TIMEOUT`: a pending booking not paid within this is cancelled (30m).
    pub payment_timeout: Duration,
    /// `BOOKING_AUTO_COMPLETE_AFTER`: a confirmed session is completed this long after its end
    /// when the tutor has not done it (24h).
    pub auto_complete_after: Duration,
    /// `BOOKING_MEETING_BASE_URL`: confirmed sessions get `<base>/<booking id>`.
    pub meeting_base_url: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            payment_timeout: Duration::from_secs(30 * 60),
            auto_complete_after: Duration::from_secs(24 * 3600),
            meeting_base_url: "https://meet.edustream.example".into(),
        }
    }
}

pub const DEFAULT_PORT: u16 = 8003;

impl BookingConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Policy::default();
        let payment_timeout = env.duration_or("BOOKING_PAYMENT_TIMEOUT", defaults.payment_timeout)?;
        if payment_timeout.is_zero() {
            return Err(invalid("BOOKING_PAYMENT_TIMEOUT", "0", "must be positive"));
        }
        let meeting_base_url = env.get_or("BOOKING_MEETING_BASE_URL", &defaults.meeting_base_url);
        if !(meeting_base_url.starts_with("https://") || meeting_base_url.starts_with("http://")) {
            return Err(invalid("BOOKING_MEETING_BASE_URL", &meeting_base_url, "expected an http(s):// URL"));
        }
        let sweep_interval = env.duration_or("BOOKING_SWEEP_INTERVAL", Duration::from_secs(30))?;
        if sweep_interval.is_zero() {
            return Err(invalid("BOOKING_SWEEP_INTERVAL", "0", "must be positive"));
        }
        Ok(Self {
            common: CommonConfig::from_env(env, "booking", DEFAULT_PORT)?,
            policy: Policy {
                payment_timeout,
                auto_complete_after: env.duration_or("BOOKING_AUTO_COMPLETE_AFTER", defaults.auto_complete_after)?,
                meeting_base_url,
            },
            sweep_interval,
        })
    }
}

fn invalid(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { name: name.into(), value: value.into(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let config = BookingConfig::from_env(&Env::from_pairs([("X", "y")])).expect("defaults");
        assert_eq!(config.policy.payment_timeout, Duration::from_secs(1800));
        assert_eq!(config.common.listen_addr.port(), DEFAULT_PORT);
        let err = BookingConfig::from_env(&Env::from_pairs([("BOOKING_MEETING_BASE_URL", "meet")])).expect_err("bad");
        assert!(err.to_string().starts_with("BOOKING_MEETING_BASE_URL="), "{err}");
        let err = BookingConfig::from_env(&Env::from_pairs([("BOOKING_PAYMENT_TIMEOUT", "0s")])).expect_err("bad");
        assert!(err.to_string().starts_with("BOOKING_PAYMENT_TIMEOUT="), "{err}");
    }
}
