//! The payment service's configuration, read from the environment at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env};
use rand::RngCore;
use secrecy::SecretString;

pub const DEFAULT_PORT: u16 = 8006;

#[derive(Debug, Clone)]
pub struct PaymentConfig {
    pub common: CommonConfig,
    /// `PAYMENT_PLATFORM_FEE_BPS`: the platform's share of what a booking retains, in basis
    /// points (1500 = 15 %; 0 to 10000).
    pub platform_fee_bps: u32,
    /// `PAYMENT_WEBHOOK_SECRET`: signs and verifies the provider's webhooks (`Stripe-Signature`).
    pub webhook_secret: SecretString,
    /// Whether `webhook_secret` was generated at start because none was configured (fine only
    /// when the provider is the simulated one in the same process).
    pub webhook_secret_generated: bool,
    /// `PAYMENT_WEBHOOK_TOLERANCE_SECS`: how old a webhook's signed timestamp may be (300).
    pub webhook_tolerance: Duration,
    /// `PAYMENT_WEBHOOK_URL`: where the simulated provider posts its webhooks
    /// (`http://<LISTEN_ADDR>/webhooks/provider`).
    pub webhook_url: String,
    /// `PAYMENT_OPEN_WAIT_MS`: how long paying waits for a just-requested booking's payment to
    /// open (3000; 0 to 30000).
    pub open_wait: Duration,
}

impl PaymentConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, "payment", DEFAULT_PORT)?;
        let platform_fee_bps: u32 = env.parse_or("PAYMENT_PLATFORM_FEE_BPS", 1500)?;
        if platform_fee_bps > 10_000 {
            return Err(invalid("PAYMENT_PLATFORM_FEE_BPS", platform_fee_bps, "basis points from 0 to 10000"));
        }
        let open_wait_ms: u64 = env.parse_or("PAYMENT_OPEN_WAIT_MS", 3000)?;
        if open_wait_ms > 30_000 {
            return Err(invalid("PAYMENT_OPEN_WAIT_MS", open_wait_ms, "milliseconds from 0 to 30000"));
        }
        let tolerance_secs: u64 = env.parse_or("PAYMENT_WEBHOOK_TOLERANCE_SECS", 300)?;
        if !(1..=86_400).contains(&tolerance_secs) {
            return Err(invalid("PAYMENT_WEBHOOK_TOLERANCE_SECS", tolerance_secs, "seconds from 1 to 86400"));
        }
        let (webhook_secret, webhook_secret_generated) = match env.get("PAYMENT_WEBHOOK_SECRET") {
            Some(secret) if secret.len() < 16 => {
                return Err(invalid("PAYMENT_WEBHOOK_SECRET", "(hidden)", "at least 16 characters"));
            }
            Some(secret) => (SecretString::from(secret), false),
            None => (generated_secret(), true),
        };
        let webhook_url = env.get_or("PAYMENT_WEBHOOK_URL", &default_webhook_url(common.listen_addr));
        if !(webhook_url.starts_with("http://") || webhook_url.starts_with("https://")) {
            return Err(invalid("PAYMENT_WEBHOOK_URL", &webhook_url, "an http:// or https:// URL"));
        }
        Ok(Self {
            common,
            platform_fee_bps,
            webhook_secret,
            webhook_secret_generated,
            webhook_tolerance: Duration::from_secs(tolerance_secs),
            webhook_url,
            open_wait: Duration::from_millis(open_wait_ms),
        })
    }
}

fn invalid(name: &str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::Invalid { name: name.into(), value: value.to_string(), reason: reason.into() }
}

/// A `whsec_`-prefixed random secret, like the ones Stripe issues.
fn generated_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("whsec_{}", hex::encode(bytes)))
}

/// The service's own webhook endpoint (a wildcard listen address is reached on loopback).
fn default_webhook_url(listen: SocketAddr) -> String {
    let host = if listen.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), listen.port())
    } else {
        listen
    };
    format!("http://{host}/webhooks/provider")
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<PaymentConfig, ConfigError> {
        PaymentConfig::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_suit_the_embedded_process() {
        let config = config(&[]).expect("valid");
        assert_eq!(config.common.listen_addr.port(), DEFAULT_PORT);
        assert_eq!((config.platform_fee_bps, config.webhook_tolerance.as_secs()), (1500, 300));
        assert_eq!(config.webhook_url, "http://127.0.0.1:8006/webhooks/provider");
        assert_eq!(config.open_wait, Duration::from_secs(3));
        assert!(config.webhook_secret_generated && config.webhook_secret.expose_secret().starts_with("whsec_"));
        let wildcard = PaymentConfig::from_env(&Env::from_pairs([("LISTEN_ADDR", "0.0.0.0:9006")])).expect("valid");
        assert_eq!(wildcard.webhook_url, "http://127.0.0.1:9006/webhooks/provider");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("PAYMENT_PLATFORM_FEE_BPS", "10001"),
            ("PAYMENT_PLATFORM_FEE_BPS", "-1"),
            ("PAYMENT_WEBHOOK_TOLERANCE_SECS", "0"),
            ("PAYMENT_WEBHOOK_SECRET", "short"),
            ("PAYMENT_WEBHOOK_URL", "ftp://x"),
            ("PAYMENT_OPEN_WAIT_MS", "30001"),
            ("PAYMENT_OPEN_WAIT_MS", "soon"),
        ] {
            let err = config(&[(name, value)]).expect_err("invalid");
            assert!(err.to_string().starts_with(&format!("{name}=")), "{err}");
        }
        let configured =
            config(&[("PAYMENT_WEBHOOK_SECRET", "whsec_0123456789abcdef"), ("PAYMENT_PLATFORM_FEE_BPS", "0")])
                .expect("valid");
        assert!(!configured.webhook_secret_generated);
        assert_eq!(configured.platform_fee_bps, 0);
    }
}
