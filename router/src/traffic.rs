//! The way to one subgraph (a [`Lane`]): its pooled client, a circuit breaker, retries with
//! backoff and jitter for idempotent operations, in-flight de-duplication of identical requests,
//! and an optional response cache for public data.
//!
//! Order of a fetch: cache (queries with a TTL configured) → join an identical request in flight
//! (same subgraph, body and forwarded headers — so two users' tokens never share an answer) →
//! the breaker (an open circuit fails at once instead of waiting for a timeout) → send, retried
//! for queries on transport errors and 502/503/504 while the breaker stays closed.
//!
//! The settings (timeout, protocol, retries, breaker, de-duplication, cache TTL) are
//! [`crate::config::subgraphs`]'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde_json::Value;
use tokio::time::Instant;

use crate::cache::ResponseCache;
use crate::config::subgraphs::{BreakerSettings, RetrySettings, SubgraphSettings};

/// A circuit breaker: closed (counting consecutive failures), open (refusing until a deadline),
/// half-open (one probe in flight decides).
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed { consecutive: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self { settings, state: Mutex::new(BreakerState::Closed { consecutive: 0 }) }
    }

    /// Whether a request may go out now; `Err(CircuitOpen)` when the circuit is open.
    pub fn admit(&self) -> Result<(), FetchError> {
        if self.settings.failures == 0 {
            return Ok(());
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            BreakerState::Closed { .. } => Ok(()),
            BreakerState::Open { until } if Instant::now() < until => Err(FetchError::CircuitOpen),
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: false } => {
                *state = BreakerState::HalfOpen { probing: true };
                Ok(())
            }
            BreakerState::HalfOpen { probing: true } => Err(FetchError::CircuitOpen),
        }
    }

    /// Records the outcome of an admitted request.
    pub fn record(&self, success: bool) {
        if self.settings.failures == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let open = BreakerState::Open { until: Instant::now() + self.settings.open_for };
        *state = match (*state, success) {
            (_, true) => BreakerState::Closed { consecutive: 0 },
            (BreakerState::Closed { consecutive }, false) if consecutive + 1 < self.settings.failures => {
                BreakerState::Closed { consecutive: consecutive + 1 }
            }
            (BreakerState::Open { until }, false) => BreakerState::Open { until },
            (_, false) => open,
        };
    }

    pub fn is_open(&self) -> bool {
        matches!(*self.state.lock().unwrap_or_else(|p| p.into_inner()), BreakerState::Open { until } if Instant::now() < until)
    }
}

/// The wait before retry number `attempt` (0-based), capped at 2 s.
pub fn backoff(settings: &RetrySettings, attempt: u32) -> Duration {
    let full = settings.backoff.saturating_mul(1 << attempt.min(10)).min(Duration::from_secs(2));
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// A subgraph answer shared by every request that waited for it.
pub type Fetched = Result<Arc<Value>, FetchError>;

/// A request in flight that several callers await.
type SharedFetch = Shared<BoxFuture<'static, Fetched>>;

/// Why a subgraph could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The circuit is open: the subgraph failed repeatedly and is given time to recover.
    CircuitOpen,
    /// Unreachable, timed out, or not a GraphQL answer.
    Failed(String),
    /// The request itself was refused — by the router before sending (larger than the subgraph
    /// accepts) or by the subgraph with a 4xx that is no GraphQL answer (413, 431). Says nothing
    /// about the subgraph's health: never counted by the breaker, never retried.
    Refused { code: &'static str, message: String },
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::CircuitOpen => "SUBGRAPH_CIRCUIT_OPEN",
            Self::Failed(_) => "SUBGRAPH_REQUEST_FAILED",
            Self::Refused { code, .. } => code,
        }
    }
}

/// The code of a request larger than the router or a subgraph accepts.
pub const REQUEST_TOO_LARGE: &str = "REQUEST_TOO_LARGE";
/// The code of headers larger than the router or a subgraph accepts.
pub const HEADERS_TOO_LARGE: &str = "HEADERS_TOO_LARGE";

/// One subgraph's lane.
pub struct Lane {
    name: String,
    url: String,
    client: reqwest::Client,
    retry: RetrySettings,
    dedup: bool,
    cache_ttl: Option<Duration>,
    /// The largest request body this subgraph accepts (its `BODY_LIMIT_BYTES`).
    max_request_bytes: usize,
    breaker: Breaker,
    /// Requests in flight by body and headers, each with the token of the request that started it.
    inflight: Mutex<HashMap<Vec<u8>, (u64, SharedFetch)>>,
    tokens: std::sync::atomic::AtomicU64,
    cache: Option<Arc<ResponseCache>>,
    metrics: Option<Arc<crate::telemetry::Metrics>>,
}

/// Takes a shared request out of the lane's map when its waiter is done.
struct Leave<'a> {
    lane: &'a Lane,
    key: Vec<u8>,
    token: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut inflight = self.lane.inflight.lock().unwrap_or_else(|p| p.into_inner());
        // Only the entry this request joined (a newer identical one may have started since),
        // once it has answered (no strong count) or when only the map and this waiter hold it.
        let done =
            inflight.get(&self.key).is_some_and(|(t, s)| *t == self.token && s.strong_count().is_none_or(|n| n <= 2));
        if done {
            inflight.remove(&self.key);
        }
    }
}

/// One attempt's outcome: the body; or why it failed, whether trying again may help and whether
/// the failure says the subgraph is unhealthy (the breaker counts only those); or a refusal of
/// the request itself.
enum Attempt {
    Done(Value, CachePolicy, Health),
    Failed { message: String, transient: bool },
    Refused { code: &'static str, message: String },
}

/// What an answer says of the subgraph, for the breaker.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Health {
    Healthy,
    Unhealthy,
}

/// Whether the subgraph allowed its answer to be cached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CachePolicy {
    Allowed,
    Forbidden,
}

impl Lane {
    pub fn new(
        name: &str,
        url: &str,
        client: reqwest::Client,
        settings: &SubgraphSettings,
        cache: Option<Arc<ResponseCache>>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            client,
            retry: settings.retry,
            dedup: settings.dedup,
            cache_ttl: settings.cache_ttl,
            max_request_bytes: settings.max_request_bytes,
            breaker: Breaker::new(settings.breaker),
            inflight: Mutex::new(HashMap::new()),
            tokens: Default::default(),
            cache: cache.filter(|_| settings.cache_ttl.is_some()),
            metrics: None,
        }
    }

    /// Records cache hits and misses into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::telemetry::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Sends `body` (a GraphQL request) with the forwarded headers and the client's address
    /// (`x-forwarded-for`, `forwarded`; not part of the keys of sharing and caching). `query`
    /// marks a read-only operation: only those are retried, shared and cached.
    pub async fn fetch(
        self: &Arc<Self>,
        body: Vec<u8>,
        headers: &[(reqwest::header::HeaderName, reqwest::header::HeaderValue)],
        client: Option<std::net::IpAddr>,
        query: bool,
    ) -> Fetched {
        let cache_key = match (&self.cache, query) {
            (Some(cache), true) => {
                let key = cache.key(&self.name, &body, headers);
                let hit = cache.get(&key).await;
                if let Some(metrics) = &self.metrics {
                    metrics.cache("response", hit.is_some());
                }
                if let Some(hit) = hit {
                    return Ok(hit);
                }
                Some(key)
            }
            _ => None,
        };
        let lane = self.clone();
        let key_headers = headers;
        let mut headers = headers.to_vec();
        if let Some(client) = client {
            headers.extend(crate::edge::forwarded::client_headers(client));
        }
        if !(query && self.dedup) {
            return lane.send(body, headers, query, cache_key).await;
        }
        let mut key = body.clone();
        for (name, value) in key_headers {
            key.extend_from_slice(b"\n");
            key.extend_from_slice(name.as_str().as_bytes());
            key.extend_from_slice(b":");
            key.extend_from_slice(value.as_bytes());
        }
        let (token, mut shared) = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            let token = self.tokens.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (token, shared) = inflight
                .entry(key.clone())
                .or_insert_with(|| (token, lane.send(body, headers, query, cache_key).boxed().shared()));
            (*token, shared.clone())
        };
        // Removes the entry when the answer is in, or when the last waiter goes away (a client
        // that disconnects must not leave a request nobody polls in the map).
        let _leave = Leave { lane: self, key, token };
        (&mut shared).await
    }

    /// The number of distinct requests in flight, and of requests waiting for them (for tests
    /// and metrics).
    pub fn in_flight(&self) -> (usize, usize) {
        let inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        // Each waiter holds one handle; the map holds one more.
        let waiting = inflight.values().map(|(_, s)| s.strong_count().unwrap_or(1).saturating_sub(1)).sum();
        (inflight.len(), waiting)
    }

    async fn send(
        self: Arc<Self>,
        body: Vec<u8>,
        headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
        query: bool,
        cache_key: Option<String>,
    ) -> Fetched {
        let retries = if query { self.retry.retries } else { 0 };
        if self.max_request_bytes > 0 && body.len() > self.max_request_bytes {
            let message = format!(
                "the request to subgraph {} would be {} bytes; it accepts at most {}",
                self.name,
                body.len(),
                self.max_request_bytes
            );
            return Err(FetchError::Refused { code: REQUEST_TOO_LARGE, message });
        }
        let mut attempt = 0;
        loop {
            if let Err(open) = self.breaker.admit() {
                tracing::debug!(subgraph = %self.name, "circuit open: request not sent");
                return Err(open);
            }
            let outcome = self.attempt(&body, &headers).await;
            match outcome {
                Attempt::Done(value, policy, health) => {
                    self.breaker.record(health == Health::Healthy);
                    let value = Arc::new(value);
                    if let (Some(cache), Some(key), Some(ttl)) = (&self.cache, cache_key, self.cache_ttl) {
                        let clean = value.get("errors").is_none_or(|e| e.as_array().is_some_and(Vec::is_empty));
                        if clean && policy == CachePolicy::Allowed {
                            cache.put(key, value.clone(), ttl).await;
                        }
                    }
                    return Ok(value);
                }
                Attempt::Refused { code, message } => {
                    // The subgraph answered: it is alive, the request was at fault.
                    self.breaker.record(true);
                    return Err(FetchError::Refused { code, message });
                }
                Attempt::Failed { message, transient } => {
                    self.breaker.record(false);
                    if !transient || attempt >= retries {
                        return Err(FetchError::Failed(message));
                    }
                    let wait = backoff(&self.retry, attempt);
                    tracing::debug!(subgraph = %self.name, attempt, ?wait, %message, "retrying a subgraph query");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(
        &self,
        body: &[u8],
        headers: &[(reqwest::header::HeaderName, reqwest::header::HeaderValue)],
    ) -> Attempt {
        let mut request =
            self.client.post(&self.url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        // The fetch's span (the caller instruments it) as the subgraph's parent: W3C traceparent.
        let mut trace = reqwest::header::HeaderMap::new();
        crate::telemetry::inject(&mut trace);
        request = request.headers(trace);
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let message = format!("subgraph {} is unreachable: {e}", self.name);
                return Attempt::Failed { message, transient: true };
            }
        };
        let status = response.status();
        let policy = match response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
            Some(cc) if cc.contains("private") || cc.contains("no-store") => CachePolicy::Forbidden,
            _ => CachePolicy::Allowed,
        };
        let transient_status = matches!(status.as_u16(), 502..=504);
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(_) if status.is_client_error() => return refused(&self.name, status),
            Err(e) => {
                let message = format!("subgraph {} sent an invalid response ({status}): {e}", self.name);
                return Attempt::Failed { message, transient: transient_status };
            }
        };
        if !body.is_object() {
            if status.is_client_error() {
                return refused(&self.name, status);
            }
            let message = format!("subgraph {} sent a response that is not a JSON object", self.name);
            return Attempt::Failed { message, transient: transient_status };
        }
        let failing = status.is_server_error() && body.get("data").is_none_or(Value::is_null);
        if failing && transient_status {
            // A GraphQL answer, but the subgraph is failing: retried only when the status says
            // it is passing (gateway errors, overload).
            let message = format!("subgraph {} answered {status}", self.name);
            return Attempt::Failed { message, transient: true };
        }
        // A 5xx without data counts against the breaker even though its errors are passed on.
        Attempt::Done(body, policy, if failing { Health::Unhealthy } else { Health::Healthy })
    }
}

/// A 4xx without a GraphQL answer: the subgraph refused the request itself (its body or header
/// limits, a malformed request). Coded by what the status says.
fn refused(subgraph: &str, status: reqwest::StatusCode) -> Attempt {
    let code = match status.as_u16() {
        413 => REQUEST_TOO_LARGE,
        431 => HEADERS_TOO_LARGE,
        _ => "SUBGRAPH_REQUEST_REFUSED",
    };
    Attempt::Refused { code, message: format!("subgraph {subgraph} refused the request ({status})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_after_consecutive_failures_and_probes_after_the_pause() {
        let breaker = Breaker::new(BreakerSettings { failures: 3, open_for: Duration::from_secs(10) });
        for _ in 0..2 {
            assert!(breaker.admit().is_ok());
            breaker.record(false);
        }
        assert!(breaker.admit().is_ok(), "two failures keep it closed");
        breaker.record(true);
        for _ in 0..3 {
            assert!(breaker.admit().is_ok());
            breaker.record(false);
        }
        assert!(breaker.is_open());
        assert!(breaker.admit().is_err(), "open: refused");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(breaker.admit().is_ok(), "after the pause one probe goes");
        assert!(breaker.admit().is_err(), "only one probe at a time");
        breaker.record(false);
        assert!(breaker.admit().is_err(), "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(breaker.admit().is_ok());
        breaker.record(true);
        assert!(breaker.admit().is_ok() && breaker.admit().is_ok(), "a good probe closes it");
    }

    #[test]
    fn a_breaker_with_zero_failures_never_opens() {
        let breaker = Breaker::new(BreakerSettings { failures: 0, open_for: Duration::from_secs(10) });
        for _ in 0..100 {
            breaker.record(false);
        }
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let settings = RetrySettings { retries: 5, backoff: Duration::from_millis(100) };
        for attempt in 0..4 {
            let full = Duration::from_millis(100 * (1 << attempt));
            for _ in 0..50 {
                let wait = backoff(&settings, attempt);
                assert!(
                    wait >= full / 2 && wait <= full,
                    "attempt {attempt}: {wait:?} outside [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
        assert!(backoff(&settings, 30) <= Duration::from_secs(2));
    }
}
