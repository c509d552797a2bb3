//! Where JWT verification keys come from: a JWKS URL (fetched, cached, refreshed on rotation,
//! kept while the key server is down) or keys held in memory.
//!
//! Shared by the subgraphs' chassis (`platform::auth`) and the router, so that both refresh,
//! rate-limit and survive key-server outages the same way. It knows nothing about claims: the
//! callers decide which algorithms, issuers and audiences they accept.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use tokio::sync::RwLock;

/// Why a token was refused. Messages are safe to show to the client, except
/// [`KeysUnavailable`](Self::KeysUnavailable)'s detail, which names the key server: log it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token is signed with an unknown key")]
    UnknownKey,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    #[error("the signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

/// Where verification keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The key with this id, refreshing the cached set if the id is unknown.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, AuthError>;
}

/// Keys held in memory (the identity service verifies with its own keys).
#[derive(Clone, Default)]
pub struct StaticKeys(HashMap<String, DecodingKey>);

impl StaticKeys {
    pub fn new(keys: impl IntoIterator<Item = (String, DecodingKey)>) -> Self {
        Self(keys.into_iter().collect())
    }
}

#[async_trait]
impl KeySource for StaticKeys {
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, AuthError> {
        Ok(self.0.get(kid).cloned())
    }
}

/// Keys fetched from a JWKS URL and cached. The set is refreshed when it is older than `ttl`,
/// or at once when a token names an unknown `kid` (key rotation), but at most once per
/// `min_refresh` so that tokens with made-up kids cannot hammer the key server. When a refresh
/// fails, the keys already fetched stay in use.
pub struct JwksKeySource {
    url: String,
    client: reqwest::Client,
    ttl: Duration,
    min_refresh: Duration,
    cache: RwLock<Option<CachedKeys>>,
}

struct CachedKeys {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

impl JwksKeySource {
    /// A source refreshed every 5 minutes, and on an unknown `kid` at most every 10 seconds.
    pub fn new(url: &str) -> Self {
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a plain HTTP client builds");
        Self {
            url: url.to_owned(),
            client,
            ttl: Duration::from_secs(300),
            min_refresh: Duration::from_secs(10),
            cache: RwLock::new(None),
        }
    }

    /// Other intervals: `ttl` is the age after which the set is refetched, `min_refresh` the
    /// shortest time between two fetches forced by unknown key ids.
    pub fn with_intervals(mut self, ttl: Duration, min_refresh: Duration) -> Self {
        self.ttl = ttl;
        self.min_refresh = min_refresh;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::KeysUnavailable(e.to_string());
        let response = self.client.get(&self.url).send().await.map_err(unavailable)?;
        let set: JwkSet = response.error_for_status().map_err(unavailable)?.json().await.map_err(unavailable)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // A symmetric key in a public key set is a mistake: accepting it would let anyone who
            // reads the set sign tokens.
            if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                tracing::warn!(url = %self.url, "ignoring a symmetric (oct) key published in a JWKS");
                continue;
            }
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else {
                tracing::warn!(url = %self.url, "ignoring a JWKS entry without kid or with an unsupported key");
                continue;
            };
            keys.insert(kid, key);
        }
        Ok(keys)
    }

    async fn refresh(&self, force: bool) -> Result<(), AuthError> {
        let mut cache = self.cache.write().await;
        let age = cache.as_ref().map(|c| c.fetched_at.elapsed());
        let due = match age {
            None => true,
            Some(age) if force => age >= self.min_refresh,
            Some(age) => age >= self.ttl,
        };
        if !due {
            return Ok(());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(url = %self.url, keys = keys.len(), "JWKS refreshed");
                *cache = Some(CachedKeys { keys, fetched_at: Instant::now() });
                Ok(())
            }
            // Keep serving the keys we have while the key server is down.
            Err(error) if cache.is_some() => {
                tracing::warn!(url = %self.url, %error, "JWKS refresh failed; keeping cached keys");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.cache.read().await.as_ref().and_then(|c| c.keys.get(kid).cloned())
    }
}

#[async_trait]
impl KeySource for JwksKeySource {
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, AuthError> {
        self.refresh(false).await?;
        if let Some(key) = self.cached(kid).await {
            return Ok(Some(key));
        }
        self.refresh(true).await?;
        Ok(self.cached(kid).await)
    }
}

/// The JWKS entry of an Ed25519 public key (RFC 8037), built from the raw 32 bytes.
pub fn ed25519_jwk(kid: &str, public_key: &[u8; 32]) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(public_key),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::*;

    /// A key server: serves the set in `keys`, or 503 while it is `None`; counts requests.
    struct KeyServer {
        keys: Arc<Mutex<Option<serde_json::Value>>>,
        hits: Arc<AtomicUsize>,
        url: String,
    }

    impl KeyServer {
        async fn start(kids: &[&str]) -> Self {
            let keys = Arc::new(Mutex::new(Some(set(kids))));
            let hits = Arc::new(AtomicUsize::new(0));
            let (state, counter) = (keys.clone(), hits.clone());
            let app = axum::Router::new().route(
                "/jwks",
                get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let current = state.lock().expect("not poisoned").clone();
                    async move {
                        match current {
                            Some(set) => axum::Json(set).into_response(),
                            None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                        }
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a free port");
            let url = format!("http://{}/jwks", listener.local_addr().expect("has an address"));
            tokio::spawn(async move { axum::serve(listener, app).await });
            Self { keys, hits, url }
        }

        fn publish(&self, set: Option<serde_json::Value>) {
            *self.keys.lock().expect("not poisoned") = set;
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    fn set(kids: &[&str]) -> serde_json::Value {
        let keys: Vec<_> = kids.iter().map(|kid| ed25519_jwk(kid, &[7; 32])).collect();
        serde_json::json!({ "keys": keys })
    }

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn an_unknown_kid_refetches_the_set_so_rotated_keys_are_found() {
        let server = KeyServer::start(&["old"]).await;
        let source = JwksKeySource::new(&server.url).with_intervals(LONG, Duration::ZERO);
        assert!(source.key("old").await.expect("fetched").is_some());
        assert!(source.key("new").await.expect("fetched").is_none());
        server.publish(Some(set(&["old", "new"])));
        assert!(source.key("new").await.expect("fetched").is_some(), "the unknown kid forced a refresh");
    }

    #[tokio::test]
    async fn made_up_kids_refetch_at_most_once_per_min_refresh() {
        let server = KeyServer::start(&["k1"]).await;
        let source = JwksKeySource::new(&server.url).with_intervals(LONG, LONG);
        for kid in ["a", "b", "c", "k1"] {
            let _ = source.key(kid).await.expect("fetched");
        }
        assert_eq!(server.hits(), 1, "only the first fetch; the forced ones are within min_refresh");
    }

    #[tokio::test]
    async fn cached_keys_stay_in_use_while_the_key_server_is_down() {
        let server = KeyServer::start(&["k1"]).await;
        // A zero TTL: every lookup tries to refetch.
        let source = JwksKeySource::new(&server.url).with_intervals(Duration::ZERO, Duration::ZERO);
        assert!(source.key("k1").await.expect("fetched").is_some());
        server.publish(None);
        assert!(source.key("k1").await.expect("cached keys serve").is_some());
        assert!(server.hits() >= 2, "the refresh was attempted");
    }

    #[tokio::test]
    async fn without_any_fetched_keys_an_unreachable_server_is_an_error() {
        let server = KeyServer::start(&["k1"]).await;
        server.publish(None);
        let source = JwksKeySource::new(&server.url);
        assert!(matches!(source.key("k1").await, Err(AuthError::KeysUnavailable(_))));
    }

    #[tokio::test]
    async fn symmetric_keys_in_a_jwks_are_ignored() {
        let server = KeyServer::start(&[]).await;
        server.publish(Some(serde_json::json!({ "keys": [{ "kty": "oct", "kid": "secret", "k": "c2VjcmV0" }] })));
        let source = JwksKeySource::new(&server.url);
        assert!(source.key("secret").await.expect("fetched").is_none());
    }

    #[tokio::test]
    async fn static_keys_answer_by_kid() {
        let key = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode([7; 32])).expect("32 bytes");
        let keys = StaticKeys::new([("k1".to_owned(), key)]);
        assert!(keys.key("k1").await.expect("no I/O").is_some());
        assert!(keys.key("k2").await.expect("no I/O").is_none());
    }
}
