//! Buckets in Redis, shared by every router replica: one Lua script reads, refills and takes a
//! token in a single step (Redis runs scripts atomically), so replicas racing on one client
//! cannot both spend its last token.
//!
//! A bucket is a hash `{level, at}` under `<prefix><capacity>/<per ms>:<client>`. `level` counts
//! tokens in units of 1/`per_ms` of a token, so refilling (`capacity` units per elapsed ms) and
//! taking (`per_ms` units) stay in exact integers. The caller passes "now" in Unix milliseconds,
//! which keeps the script deterministic and lets tests drive time; a replica whose clock is
//! behind never moves `at` backwards (it just refills nothing). The key expires when the bucket
//! would be full again: an absent key *is* a full bucket, so idle clients cost Redis nothing.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Decision, Rule};

/// Returns `{1, whole tokens left}` or `{0, ms until the next token}`.
const TOKEN_BUCKET: &str = r"
local capacity = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local full = capacity * per
local level = full
local at = now
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
if state[1] and state[2] then
  level = tonumber(state[1])
  at = tonumber(state[2])
  if now > at then
    level = math.min(full, level + (now - at) * capacity)
    at = now
  end
end
if level < per then
  return {0, math.ceil((per - level) / capacity)}
end
level = level - per
redis.call('HSET', KEYS[1], 'level', level, 'at', at)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((full - level) / capacity)))
return {1, math.floor(level / per)}
";

/// Why Redis could not decide.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected answer from the rate limit script: {0:?}")]
    Answer(Vec<i64>),
}

/// The connection and script shared by all checks of one router.
pub(super) struct Shared {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("prefix", &self.prefix).field("timeout", &self.timeout).finish()
    }
}

impl Shared {
    /// Prepares a connection made on first use (and remade after failures): a router starting
    /// while Redis is down still starts, deciding by `on_redis_error` meanwhile.
    pub(super) fn connect_lazily(url: &str, prefix: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        // One quick retry only: a request waits at most `timeout`, which the outer bound enforces.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { connection, script: redis::Script::new(TOKEN_BUCKET), prefix: prefix.to_owned(), timeout })
    }

    /// Takes a token from `bucket` under `rule` at `now_ms` (Unix milliseconds).
    pub(super) async fn check(&self, bucket: &str, rule: &Rule, now_ms: u64) -> Result<Decision, Error> {
        let per_ms = u64::try_from(rule.per.as_millis()).unwrap_or(u64::MAX).max(1);
        let capacity = rule.capacity.max(1);
        let key = format!("{}{capacity}/{per_ms}:{bucket}", self.prefix);
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key);
        invocation.arg(capacity).arg(per_ms).arg(now_ms);
        // EVALSHA; on NOSCRIPT (a restarted or new Redis) the script is loaded and run again.
        let answer = tokio::time::timeout(self.timeout, invocation.invoke_async::<Vec<i64>>(&mut connection))
            .await
            .map_err(|_| Error::Timeout(self.timeout))??;
        match answer.as_slice() {
            [1, remaining] => Ok(Decision::Allowed { remaining: u32::try_from(*remaining).unwrap_or(u32::MAX) }),
            [0, wait_ms] => {
                Ok(Decision::Limited { retry_after: Duration::from_millis(u64::try_from(*wait_ms).unwrap_or(1)) })
            }
            _ => Err(Error::Answer(answer)),
        }
    }
}
