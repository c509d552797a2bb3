//! Subgraph response caching for public data: the answer to a read-only subgraph request (a
//! root query or an `_entities` fetch) kept for the subgraph's configured TTL, in memory or in
//! Redis (shared by every replica). Opt-in per subgraph (`subgraphs.<name>.cache.ttl`).
//!
//! What keeps private data private: the key covers the subgraph, the exact request body
//! (operation and variables, representations included) and every forwarded header — so an
//! answer fetched with one user's token is only ever served for that same token; answers with
//! errors are not stored; and a subgraph can refuse per response with
//! `Cache-Control: private` or `no-store`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Where cached answers live: in memory (bounded; a full cache evicts its coldest answers, an
/// expired answer is dropped when read), until Redis is configured.
enum Store {
    Memory { entries: quick_cache::sync::Cache<String, (Instant, Arc<Value>)> },
    Redis { connection: redis::aio::ConnectionManager, prefix: String },
}

/// The response cache shared by the lanes that opted in.
pub struct ResponseCache {
    memory: Store,
    shared: OnceLock<Store>,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.shared.get().is_some() { "redis" } else { "memory" };
        f.debug_struct("ResponseCache").field("store", &kind).finish()
    }
}

impl ResponseCache {
    /// An in-memory cache of at most `capacity` answers.
    pub fn memory(capacity: usize) -> Self {
        Self {
            memory: Store::Memory { entries: quick_cache::sync::Cache::new(capacity.max(1)) },
            shared: OnceLock::new(),
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// From now on, answers live in Redis at `url` under `prefix` (every replica shares them).
    pub async fn share_through_redis(&self, url: &str, prefix: &str) -> Result<(), redis::RedisError> {
        let client = redis::Client::open(url)?;
        let connection = redis::aio::ConnectionManager::new(client).await?;
        let _ = self.shared.set(Store::Redis { connection, prefix: prefix.to_owned() });
        Ok(())
    }

    fn store(&self) -> &Store {
        self.shared.get().unwrap_or(&self.memory)
    }

    /// The key of a request: sha256 over the subgraph, the body and the forwarded headers.
    pub fn key(
        &self,
        subgraph: &str,
        body: &[u8],
        headers: &[(reqwest::header::HeaderName, reqwest::header::HeaderValue)],
    ) -> String {
        let mut hasher = Sha256::new();
        hasher.update(subgraph.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        for (name, value) in headers {
            hasher.update([0]);
            hasher.update(name.as_str().as_bytes());
            hasher.update([b':']);
            hasher.update(value.as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// A fresh answer for `key`, if any. Redis being away is a miss, never an error.
    pub async fn get(&self, key: &str) -> Option<Arc<Value>> {
        let found = match self.store() {
            Store::Memory { entries } => match entries.get(key) {
                Some((expires, value)) if Instant::now() < expires => Some(value),
                Some(_) => {
                    entries.remove(key);
                    None
                }
                None => None,
            },
            Store::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let got = redis::cmd("GET")
                    .arg(format!("{prefix}{key}"))
                    .query_async::<Option<Vec<u8>>>(&mut connection)
                    .await;
                match got {
                    Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok().map(Arc::new),
                    Ok(None) => None,
                    Err(error) => {
                        tracing::warn!(%error, "response cache: Redis unavailable; fetching from the subgraph");
                        None
                    }
                }
            }
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        found
    }

    /// Stores an answer for `ttl`.
    pub async fn put(&self, key: String, value: Arc<Value>, ttl: Duration) {
        match self.store() {
            Store::Memory { entries } => entries.insert(key, (Instant::now() + ttl, value)),
            Store::Redis { connection, prefix } => {
                let Ok(bytes) = serde_json::to_vec(&*value) else { return };
                let mut connection = connection.clone();
                let set = redis::cmd("SET")
                    .arg(format!("{prefix}{key}"))
                    .arg(bytes)
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64)
                    .query_async::<()>(&mut connection)
                    .await;
                if let Err(error) = set {
                    tracing::warn!(%error, "response cache: cannot store in Redis");
                }
            }
        }
    }

    /// Hits and misses since start.
    pub fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &'static str, value: &'static str) -> (reqwest::header::HeaderName, reqwest::header::HeaderValue) {
        (reqwest::header::HeaderName::from_static(name), reqwest::header::HeaderValue::from_static(value))
    }

    #[test]
    fn keys_differ_by_subgraph_body_and_forwarded_headers() {
        let cache = ResponseCache::memory(10);
        let base = cache.key("tutoring", b"{}", &[]);
        assert_ne!(base, cache.key("identity", b"{}", &[]));
        assert_ne!(base, cache.key("tutoring", b"{ }", &[]));
        let alice = cache.key("tutoring", b"{}", &[header("authorization", "Bearer alice")]);
        let bob = cache.key("tutoring", b"{}", &[header("authorization", "Bearer bob")]);
        assert_ne!(alice, bob);
        assert_ne!(alice, base);
        assert_eq!(alice, cache.key("tutoring", b"{}", &[header("authorization", "Bearer alice")]));
    }

    #[tokio::test(start_paused = true)]
    async fn memory_entries_expire_and_the_size_stays_bounded() {
        let cache = ResponseCache::memory(2);
        cache.put("a".into(), Arc::new(serde_json::json!({"data": 1})), Duration::from_secs(5)).await;
        assert_eq!(cache.get("a").await.as_deref(), Some(&serde_json::json!({"data": 1})));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(cache.get("a").await.is_none(), "expired");
        assert_eq!(cache.stats(), (1, 1));
        for key in ["b", "c", "d", "e"] {
            cache.put(key.into(), Arc::new(Value::Null), Duration::from_secs(60)).await;
            assert!(cache.get("b").await.is_some(), "a full cache evicts its coldest, never the hot one");
        }
        let Store::Memory { entries } = cache.store() else { panic!("a memory store") };
        assert!(entries.len() <= 2, "bounded: {}", entries.len());
        assert!(!entries.is_empty(), "never emptied wholesale");
    }

    #[tokio::test]
    async fn replicas_share_answers_through_redis() {
        let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| u.starts_with("redis://")) else {
            eprintln!("skipped: set REDIS_URL=redis://127.0.0.1:6379 to run the Redis test");
            return;
        };
        let prefix = format!("edustream:test:cache:{}:", uuid_like());
        let (one, two) = (ResponseCache::memory(10), ResponseCache::memory(10));
        one.share_through_redis(&url, &prefix).await.expect("redis reachable");
        two.share_through_redis(&url, &prefix).await.expect("redis reachable");
        let key = one.key("tutoring", b"{\"query\":\"{ tutors }\"}", &[]);
        assert!(two.get(&key).await.is_none());
        one.put(key.clone(), Arc::new(serde_json::json!({"data": {"tutors": []}})), Duration::from_secs(30)).await;
        assert_eq!(two.get(&key).await.as_deref(), Some(&serde_json::json!({"data": {"tutors": []}})));
    }

    fn uuid_like() -> String {
        format!("{:x}", rand::random::<u64>())
    }
}
