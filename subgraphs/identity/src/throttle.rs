//! Throttling of failed sign-ins, per account and per client address: after `max_failures`
//! failures within `window`, further attempts are refused with `RATE_LIMITED` until the window
//! ends. In memory for one process; in Redis (`REDIS_URL`) when several replicas share it.
//!
//! This counts failures rather than limiting every request (what `governor` does), so that a
//! user who signs in correctly is never slowed down by the throttle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// How many failures a key may have within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_failures: u32,
    pub window: Duration,
}

/// A throttled subject (`account:<email>` or `ip:<address>`) and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub key: String,
    pub limit: Limit,
}

#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// `Some(retry_after)` when any key has used up its failures.
    async fn blocked(&self, keys: &[ThrottleKey]) -> Option<Duration>;
    async fn record_failure(&self, keys: &[ThrottleKey]);
    /// Forgets a key's failures (after a successful sign-in).
    async fn reset(&self, key: &ThrottleKey);
}

/// One process's failure counters.
#[derive(Default)]
pub struct MemoryThrottle {
    windows: Mutex<HashMap<String, (u32, Instant)>>,
}

impl MemoryThrottle {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl LoginThrottle for MemoryThrottle {
    async fn blocked(&self, keys: &[ThrottleKey]) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| {
                let (count, started) = windows.get(&k.key)?;
                let elapsed = started.elapsed();
                (elapsed < k.limit.window && *count >= k.limit.max_failures).then(|| k.limit.window - elapsed)
            })
            .max()
    }

    async fn record_failure(&self, keys: &[ThrottleKey]) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            // Bounded memory: forget windows that ended (an hour is longer than any window).
            windows.retain(|_, (_, started)| started.elapsed() < Duration::from_secs(3600));
        }
        for k in keys {
            let entry = windows.entry(k.key.clone()).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= k.limit.window {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    async fn reset(&self, key: &ThrottleKey) {
        self.windows.lock().unwrap_or_else(|p| p.into_inner()).remove(&key.key);
    }
}

/// Counters in Redis: `INCR` plus an expiry set with the first failure of a window.
/// If Redis cannot be reached the throttle lets attempts through and logs it (sign-in stays
/// available; the password check still applies).
pub struct RedisThrottle {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisThrottle {
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let connection = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self { connection, prefix: "edustream:identity:login-failures:".into() })
    }

    /// A separate namespace (tests running side by side).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    fn key(&self, key: &ThrottleKey) -> String {
        format!("{}{}", self.prefix, key.key)
    }
}

#[async_trait]
impl LoginThrottle for RedisThrottle {
    async fn blocked(&self, keys: &[ThrottleKey]) -> Option<Duration> {
        let mut connection = self.connection.clone();
        let mut longest = None;
        for k in keys {
            let result: redis::RedisResult<(Option<u32>, i64)> =
                redis::pipe().get(self.key(k)).pttl(self.key(k)).query_async(&mut connection).await;
            match result {
                Ok((Some(count), ttl_ms)) if count >= k.limit.max_failures && ttl_ms > 0 => {
                    let wait = Duration::from_millis(ttl_ms as u64);
                    longest = Some(longest.map_or(wait, |l: Duration| l.max(wait)));
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "login throttle: Redis unavailable; not throttling"),
            }
        }
        longest
    }

    async fn record_failure(&self, keys: &[ThrottleKey]) {
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for k in keys {
            let window_ms = k.limit.window.as_millis() as u64;
            pipe.incr(self.key(k), 1).ignore();
            pipe.cmd("PEXPIRE").arg(self.key(k)).arg(window_ms).arg("NX").ignore();
        }
        if let Err(error) = pipe.query_async::<()>(&mut connection).await {
            tracing::warn!(%error, "login throttle: cannot record a failure in Redis");
        }
    }

    async fn reset(&self, key: &ThrottleKey) {
        let mut connection = self.connection.clone();
        if let Err(error) = redis::cmd("DEL").arg(self.key(key)).query_async::<()>(&mut connection).await {
            tracing::warn!(%error, "login throttle: cannot reset a key in Redis");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(max: u32) -> ThrottleKey {
        ThrottleKey {
            key: "account:a@b.co".into(),
            limit: Limit { max_failures: max, window: Duration::from_secs(60) },
        }
    }

    #[tokio::test]
    async fn failures_past_the_limit_block_until_reset() {
        let throttle = MemoryThrottle::new();
        let k = key(2);
        throttle.record_failure(std::slice::from_ref(&k)).await;
        assert_eq!(throttle.blocked(std::slice::from_ref(&k)).await, None);
        throttle.record_failure(std::slice::from_ref(&k)).await;
        let wait = throttle.blocked(std::slice::from_ref(&k)).await.expect("blocked");
        assert!(wait <= Duration::from_secs(60));
        throttle.reset(&k).await;
        assert_eq!(throttle.blocked(&[k]).await, None);
    }
}
