//! `subscriptions:`: subscriptions over WebSocket and SSE (`subscription`): how many
//! connections and operations, how upstream subscriptions are shared and reconnected.
//!
//! ```yaml
//! subscriptions:
//!   enabled: true
//!   max_connections: 20000       # WebSocket and SSE, router-wide (503 TOO_MANY_CONNECTIONS)
//!   max_per_connection: 100      # operations on one WebSocket (TOO_MANY_SUBSCRIPTIONS)
//!   init_timeout: 10s            # for connection_init (close code 4408)
//!   keepalive: 15s
//!   dedup: true                  # identical subscriptions share one upstream
//!   buffer: 128
//!   reconnect_attempts: 5
//!   reconnect_backoff: 250ms
//!   upstream_timeout: 10s
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::primitives::duration;

/// Subscription settings; [`SubscriptionSettings::check`] refuses zero limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionSettings {
    /// Whether clients may subscribe at all (WebSocket and SSE).
    pub enabled: bool,
    /// Open WebSocket and SSE connections at once, router-wide; more get 503 `TOO_MANY_CONNECTIONS`.
    pub max_connections: usize,
    /// Operations running at once on one WebSocket; more get `TOO_MANY_SUBSCRIPTIONS`.
    pub max_per_connection: usize,
    /// Time a WebSocket client has to send `connection_init` (close code 4408 after it).
    #[serde(deserialize_with = "duration")]
    pub init_timeout: Duration,
    /// Ping interval on idle client connections (WebSocket ping frames, SSE comments).
    #[serde(deserialize_with = "duration")]
    pub keepalive: Duration,
    /// Share one upstream subscription among identical client subscriptions (same operation,
    /// variables and forwarded headers).
    pub dedup: bool,
    /// Events an upstream keeps for a slow listener before the listener skips ahead.
    pub buffer: usize,
    /// Reconnections to a subgraph whose socket dropped, before listeners get an error.
    pub reconnect_attempts: u32,
    /// The first reconnection's delay; doubles per failed attempt.
    #[serde(deserialize_with = "duration")]
    pub reconnect_backoff: Duration,
    /// Connecting to a subgraph and its `connection_ack`.
    #[serde(deserialize_with = "duration")]
    pub upstream_timeout: Duration,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_connections: 20_000,
            max_per_connection: 100,
            init_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            dedup: true,
            buffer: 128,
            reconnect_attempts: 5,
            reconnect_backoff: Duration::from_millis(250),
            upstream_timeout: Duration::from_secs(10),
        }
    }
}

impl SubscriptionSettings {
    pub fn check(&self) -> Result<(), String> {
        if self.max_connections == 0 || self.max_per_connection == 0 || self.buffer == 0 {
            return Err("subscriptions: max_connections, max_per_connection and buffer must be positive".into());
        }
        if self.keepalive.is_zero() || self.init_timeout.is_zero() || self.upstream_timeout.is_zero() {
            return Err("subscriptions: keepalive, init_timeout and upstream_timeout must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_from_yaml_with_defaults_and_are_checked() {
        let settings: SubscriptionSettings =
            yaml_serde::from_str("max_connections: 10\ninit_timeout: 2s\ndedup: false").expect("valid");
        assert_eq!(settings.max_connections, 10);
        assert_eq!(settings.init_timeout, Duration::from_secs(2));
        assert!(!settings.dedup);
        assert_eq!(settings.max_per_connection, SubscriptionSettings::default().max_per_connection);
        assert!(settings.check().is_ok());
        let zero: SubscriptionSettings = yaml_serde::from_str("max_per_connection: 0").expect("parses");
        assert!(zero.check().is_err());
        assert!(yaml_serde::from_str::<SubscriptionSettings>("unknown: 1").is_err());
        assert!(yaml_serde::from_str::<SubscriptionSettings>("keepalive: soon").is_err());
    }
}
