//! The notification service's configuration, read from the environment at start-up.

use std::path::PathBuf;
use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env};
use secrecy::SecretString;

use crate::domain::RetryPolicy;

pub const DEFAULT_PORT: u16 = 8005;

#[derive(Debug, Clone)]
pub struct NotificationConfig {
    pub common: CommonConfig,
    /// `NEW_MESSAGE_NOTIFY_DELAY`: a message still unread this long after it was sent is
    /// notified (60s).
    pub new_message_delay: Duration,
    /// `NOTIFY_MAX_ATTEMPTS` (5), `NOTIFY_RETRY_BASE` (30s), `NOTIFY_RETRY_MAX` (1h).
    pub retry: RetryPolicy,
    /// `NOTIFY_DISPATCH_INTERVAL`: how often due deliveries and messages are looked for when
    /// nothing wakes the dispatcher (1s).
    pub dispatch_interval: Duration,
    pub email: EmailConfig,
    /// `PUSH_PROVIDER_URL`: the push provider's HTTP endpoint; unset: pushes are logged.
    pub push_provider_url: Option<String>,
    /// `SMS_PROVIDER_URL`: the SMS provider's HTTP endpoint; unset: messages are logged.
    pub sms_provider_url: Option<String>,
    /// `PROVIDER_TIMEOUT`: one delivery attempt (SMTP or HTTP) gives up after this (10s).
    pub provider_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// `SMTP_URL` (`smtp://[user:password@]host[:port]`, port 25 by default); unset: emails are
    /// written as `.eml` files to `mail_dir`.
    pub smtp: Option<SmtpUrl>,
    /// `MAIL_DIR` (`./.edustream/mail`).
    pub mail_dir: PathBuf,
    /// `MAIL_FROM` (`EduStream <no-reply@edustream.example>`).
    pub from: String,
}

/// An SMTP relay: no TLS (see the README), so only `smtp://` inside the cluster.
#[derive(Debug, Clone)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    /// User and password (the password never reaches logs).
    pub credentials: Option<(String, SecretString)>,
}

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest =
            raw.strip_prefix("smtp://").ok_or("expected smtp://[user:password@]host[:port] (no TLS is built in)")?;
        let rest = rest.trim_end_matches('/');
        let (credentials, host_port) = match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = userinfo.split_once(':').ok_or("credentials must be user:password")?;
                (Some((user.to_owned(), SecretString::from(password.to_owned()))), host)
            }
            None => (None, rest),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| format!("`{port}` is not a port"))?),
            None => (host_port, 25),
        };
        if host.is_empty() {
            return Err("the host is missing".into());
        }
        Ok(Self { host: host.to_owned(), port, credentials })
    }
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name: name.into(), value: value.into(), reason: reason.into() }
}

fn positive(env: &Env, name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let value = env.duration_or(name, default)?;
    if value.is_zero() {
        return Err(invalid(name, "0", "must be positive"));
    }
    Ok(value)
}

fn http_url(env: &Env, name: &str) -> Result<Option<String>, ConfigError> {
    match env.get(name) {
        Some(url) if !url.starts_with("http://") => {
            Err(invalid(name, &url, "expected an http:// URL (the HTTP client is built without TLS)"))
        }
        other => Ok(other),
    }
}

impl NotificationConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_attempts: u32 = env.parse_or("NOTIFY_MAX_ATTEMPTS", 5)?;
        if !(1..=50).contains(&max_attempts) {
            return Err(invalid("NOTIFY_MAX_ATTEMPTS", &max_attempts.to_string(), "between 1 and 50"));
        }
        let retry = RetryPolicy {
            max_attempts,
            base: positive(env, "NOTIFY_RETRY_BASE", Duration::from_secs(30))?,
            cap: positive(env, "NOTIFY_RETRY_MAX", Duration::from_secs(3600))?,
        };
        let smtp = match env.get("SMTP_URL") {
            Some(raw) => Some(SmtpUrl::parse(&raw).map_err(|reason| invalid("SMTP_URL", &raw, reason))?),
            None => None,
        };
        let email = EmailConfig {
            smtp,
            mail_dir: PathBuf::from(env.get_or("MAIL_DIR", "./.edustream/mail")),
            from: env.get_or("MAIL_FROM", "EduStream <no-reply@edustream.example>"),
        };
        if email.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid("MAIL_FROM", &email.from, "expected an address such as `Name <user@example.org>`"));
        }
        Ok(Self {
            common: CommonConfig::from_env(env, "notification", DEFAULT_PORT)?,
            new_message_delay: env.duration_or("NEW_MESSAGE_NOTIFY_DELAY", Duration::from_secs(60))?,
            retry,
            dispatch_interval: positive(env, "NOTIFY_DISPATCH_INTERVAL", Duration::from_secs(1))?,
            email,
            push_provider_url: http_url(env, "PUSH_PROVIDER_URL")?,
            sms_provider_url: http_url(env, "SMS_PROVIDER_URL")?,
            provider_timeout: positive(env, "PROVIDER_TIMEOUT", Duration::from_secs(10))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_embedded() {
        let config = NotificationConfig::from_env(&Env::from_pairs([("X", "y")])).expect("defaults");
        assert_eq!(config.common.listen_addr.port(), DEFAULT_PORT);
        assert_eq!(config.new_message_delay, Duration::from_secs(60));
        assert_eq!(config.retry.max_attempts, 5);
        assert!(config.email.smtp.is_none());
        assert_eq!(config.email.mail_dir, PathBuf::from("./.edustream/mail"));
        assert_eq!((config.push_provider_url, config.sms_provider_url), (None, None));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("NOTIFY_MAX_ATTEMPTS", "0"),
            ("NOTIFY_RETRY_BASE", "0s"),
            ("SMTP_URL", "smtps://mail.example:465"),
            ("SMTP_URL", "smtp://host:port"),
            ("PUSH_PROVIDER_URL", "https://push.example"),
            ("MAIL_FROM", "nobody"),
        ] {
            let err = NotificationConfig::from_env(&Env::from_pairs([(name, value)])).expect_err(value);
            assert!(err.to_string().starts_with(&format!("{name}=")), "{err}");
        }
    }

    #[test]
    fn smtp_urls_carry_host_port_and_credentials() {
        use secrecy::ExposeSecret as _;
        let url = SmtpUrl::parse("smtp://app:s3cret@mail.internal:2525").expect("valid");
        assert_eq!((url.host.as_str(), url.port), ("mail.internal", 2525));
        let (user, password) = url.credentials.as_ref().expect("credentials");
        assert_eq!((user.as_str(), password.expose_secret()), ("app", "s3cret"));
        assert!(!format!("{url:?}").contains("s3cret"), "redacted in logs");
        assert_eq!(SmtpUrl::parse("smtp://127.0.0.1").map(|u| u.port).ok(), Some(25));
    }
}
