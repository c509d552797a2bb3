//! Automatic persisted queries (Apollo's protocol): a client sends
//! `extensions.persistedQuery = {version: 1, sha256Hash}` without the query; an unknown hash is
//! answered `PERSISTED_QUERY_NOT_FOUND`, and the client sends the query with the hash once, which
//! registers it (after checking the hash). Works over GET too, so CDNs can cache answers. The
//! registry is in memory, bounded, and shared through Redis when one is configured (every replica
//! then knows what any replica registered; Redis being away only costs a re-send).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApqError {
    /// Clients match on this exact message.
    #[error("PersistedQueryNotFound")]
    NotFound,
    #[error("PersistedQueryNotSupported")]
    NotSupported,
    #[error("the query's sha256 is not the one given in extensions.persistedQuery")]
    HashMismatch,
    #[error("only persisted query version 1 is supported")]
    Version,
    #[error("extensions.persistedQuery must be {{version: 1, sha256Hash: \"<64 hex digits>\"}}")]
    Malformed,
    #[error("`query` is required")]
    NoQuery,
}

impl ApqError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::NotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            Self::Version | Self::Malformed | Self::NoQuery => "BAD_REQUEST",
        }
    }
}

/// The registry of persisted queries by hash.
pub struct Apq {
    enabled: bool,
    /// Bounded: a full registry evicts its coldest queries (clients re-register them).
    queries: quick_cache::sync::Cache<String, Arc<str>>,
    shared: OnceLock<Shared>,
}

/// The registry's copy in Redis.
struct Shared {
    connection: redis::aio::ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for Apq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apq").field("enabled", &self.enabled).field("shared", &self.shared.get().is_some()).finish()
    }
}

/// The hex sha256 of a query's text (the key clients compute).
pub fn hash(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

impl Apq {
    pub fn new(enabled: bool, capacity: usize) -> Self {
        Self { enabled, queries: quick_cache::sync::Cache::new(capacity.max(1)), shared: OnceLock::new() }
    }

    /// Shares the registry through Redis at `url` under `prefix`; registrations live `ttl` there.
    pub async fn share_through_redis(&self, url: &str, prefix: &str, ttl: Duration) -> Result<(), redis::RedisError> {
        let client = redis::Client::open(url)?;
        let connection = redis::aio::ConnectionManager::new(client).await?;
        let _ = self.shared.set(Shared { connection, prefix: prefix.to_owned(), ttl });
        Ok(())
    }

    fn remember(&self, hash: String, query: &str) {
        self.queries.insert(hash, Arc::from(query));
    }

    async fn publish(&self, hash: &str, query: &str) {
        let Some(shared) = self.shared.get() else { return };
        let mut connection = shared.connection.clone();
        let set = redis::cmd("SET")
            .arg(format!("{}{hash}", shared.prefix))
            .arg(query)
            .arg("EX")
            .arg(shared.ttl.as_secs().max(1))
            .query_async::<()>(&mut connection)
            .await;
        if let Err(error) = set {
            tracing::warn!(%error, "persisted queries: cannot share a registration through Redis");
        }
    }

    async fn lookup_shared(&self, hash: &str) -> Option<String> {
        let shared = self.shared.get()?;
        let mut connection = shared.connection.clone();
        let found = redis::cmd("GET")
            .arg(format!("{}{hash}", shared.prefix))
            .query_async::<Option<String>>(&mut connection)
            .await;
        match found {
            // What another replica stored is checked like a client's registration.
            Ok(Some(query)) if self::hash(&query) == hash => Some(query),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, "persisted queries: Redis unavailable; answering from memory");
                None
            }
        }
    }

    /// The query text of a request: its `query` (registered under the extension's hash when
    /// one is given and matches) or the text registered earlier under that hash.
    pub async fn resolve(&self, query: Option<String>, extensions: Option<&Value>) -> Result<String, ApqError> {
        let persisted = extensions.and_then(|e| e.get("persistedQuery")).filter(|p| !p.is_null());
        let Some(persisted) = persisted else { return query.ok_or(ApqError::NoQuery) };
        if !self.enabled {
            return query.ok_or(ApqError::NotSupported);
        }
        if persisted.get("version").and_then(Value::as_i64) != Some(1) {
            return Err(ApqError::Version);
        }
        let wanted = persisted
            .get("sha256Hash")
            .and_then(Value::as_str)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(ApqError::Malformed)?
            .to_ascii_lowercase();
        match query {
            Some(query) => {
                if hash(&query) != wanted {
                    return Err(ApqError::HashMismatch);
                }
                self.publish(&wanted, &query).await;
                self.remember(wanted, &query);
                Ok(query)
            }
            None => {
                let known = self.queries.get(&wanted).map(|q| q.to_string());
                if let Some(query) = known {
                    return Ok(query);
                }
                let query = self.lookup_shared(&wanted).await.ok_or(ApqError::NotFound)?;
                self.remember(wanted, &query);
                Ok(query)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ext(hash: &str) -> Value {
        json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
    }

    #[tokio::test]
    async fn a_hash_is_registered_by_sending_the_query_once() {
        let apq = Apq::new(true, 10);
        let query = "{__typename}";
        let h = hash(query);
        assert_eq!(h, "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38");
        assert_eq!(apq.resolve(None, Some(&ext(&h))).await, Err(ApqError::NotFound));
        assert_eq!(apq.resolve(Some(query.into()), Some(&ext(&h))).await.as_deref(), Ok(query));
        assert_eq!(apq.resolve(None, Some(&ext(&h.to_uppercase()))).await.as_deref(), Ok(query));
        assert_eq!(apq.resolve(Some("{ x }".into()), Some(&ext(&h))).await, Err(ApqError::HashMismatch));
        assert_eq!(apq.resolve(None, Some(&ext("abc"))).await, Err(ApqError::Malformed));
        let v2 = json!({ "persistedQuery": { "version": 2, "sha256Hash": h } });
        assert_eq!(apq.resolve(None, Some(&v2)).await, Err(ApqError::Version));
        assert_eq!(apq.resolve(None, None).await, Err(ApqError::NoQuery));
        assert_eq!(apq.resolve(Some(query.into()), None).await.as_deref(), Ok(query));
    }

    #[tokio::test]
    async fn disabled_it_only_takes_full_queries() {
        let apq = Apq::new(false, 10);
        let h = hash("{ a }");
        assert_eq!(apq.resolve(None, Some(&ext(&h))).await, Err(ApqError::NotSupported));
        assert_eq!(apq.resolve(Some("{ a }".into()), Some(&ext(&h))).await.as_deref(), Ok("{ a }"));
    }

    /// Two routers sharing one Redis (CI's second pass sets `REDIS_URL`).
    #[tokio::test]
    async fn replicas_share_registrations_through_redis() {
        let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| u.starts_with("redis://")) else {
            eprintln!("skipped: set REDIS_URL=redis://127.0.0.1:6379 to run the Redis test");
            return;
        };
        let prefix = format!("test:apq:{}:", rand::random::<u64>());
        let (first, second) = (Apq::new(true, 10), Apq::new(true, 10));
        for replica in [&first, &second] {
            replica.share_through_redis(&url, &prefix, Duration::from_secs(60)).await.expect("redis reachable");
        }
        let query = "{ products { id } }";
        let h = hash(query);
        assert_eq!(second.resolve(None, Some(&ext(&h))).await, Err(ApqError::NotFound));
        first.resolve(Some(query.into()), Some(&ext(&h))).await.expect("registers");
        assert_eq!(second.resolve(None, Some(&ext(&h))).await.as_deref(), Ok(query), "known through Redis");
        // A tampered entry in Redis is not trusted.
        let other = hash("{ other }");
        let client = redis::Client::open(url.as_str()).expect("url");
        let mut connection = redis::aio::ConnectionManager::new(client).await.expect("connects");
        redis::cmd("SET")
            .arg(format!("{prefix}{other}"))
            .arg("{ products { name } }")
            .arg("EX")
            .arg(60)
            .query_async::<()>(&mut connection)
            .await
            .expect("set");
        assert_eq!(second.resolve(None, Some(&ext(&other))).await, Err(ApqError::NotFound));
    }
}
