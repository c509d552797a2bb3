//! Subscriptions to subgraphs: one WebSocket (`graphql-transport-ws`) per upstream subscription,
//! shared by every client subscription that would open the identical one (same subgraph,
//! operation, variables and forwarded headers — so two users never share an answer).
//!
//! The upstream lives while someone listens: when the last client goes away the router sends
//! `complete` and closes the socket. A socket that drops without `complete` (the subgraph
//! restarted, the network blinked) is reopened with backoff and the subscription sent again;
//! when that keeps failing, listeners get one error and the end of the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use super::SubscriptionSettings;
use crate::telemetry::Metrics;

/// The WebSocket subprotocol spoken with clients and subgraphs.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// What an upstream subscription produces.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// One result: the subgraph's `next` payload (`{data, errors}`).
    Next(Arc<Value>),
    /// The subgraph completed the subscription.
    Complete,
    /// It ended in errors (GraphQL error objects): refused by the subgraph, or lost for good.
    Failed(Arc<Vec<Value>>),
}

/// What identifies an upstream subscription (and lets identical ones share it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamKey {
    pub subgraph: String,
    pub url: String,
    /// The subgraph operation and its variables, as JSON text.
    pub body: String,
    /// The forwarded headers (the caller's authorization among them).
    pub headers: Vec<(String, String)>,
}

/// The open upstream subscriptions of one router.
pub struct Upstreams {
    open: Mutex<HashMap<UpstreamKey, Weak<Source>>>,
    settings: SubscriptionSettings,
    metrics: Arc<Metrics>,
}

/// One upstream subscription; its task stops when the last [`Feed`] is dropped.
struct Source {
    events: broadcast::Sender<Upstream>,
    _stop: oneshot::Sender<()>,
}

/// A listener of an upstream subscription.
pub struct Feed {
    _source: Arc<Source>,
    events: broadcast::Receiver<Upstream>,
}

impl Feed {
    /// The next event of the upstream subscription.
    pub async fn recv(&mut self) -> Result<Upstream, broadcast::error::RecvError> {
        self.events.recv().await
    }
}

impl Upstreams {
    pub fn new(settings: SubscriptionSettings, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self { open: Mutex::default(), settings, metrics })
    }

    /// How many upstream subscriptions are open.
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|w| w.strong_count() > 0).count()
    }

    /// Listens to the upstream subscription `key`, opening it unless an identical one is open
    /// (and sharing is on).
    pub fn listen(self: &Arc<Self>, key: UpstreamKey, query: &str, variables: &serde_json::Map<String, Value>) -> Feed {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if self.settings.dedup
            && let Some(source) = open.get(&key).and_then(Weak::upgrade)
        {
            let events = source.events.subscribe();
            return Feed { _source: source, events };
        }
        open.retain(|_, source| source.strong_count() > 0);
        let (events, receiver) = broadcast::channel(self.settings.buffer);
        let (stop, stopped) = oneshot::channel();
        let source = Arc::new(Source { events: events.clone(), _stop: stop });
        if self.settings.dedup {
            open.insert(key.clone(), Arc::downgrade(&source));
        }
        drop(open);
        let body = json!({ "query": query, "variables": variables });
        let task = Task { hub: self.clone(), key, body, events };
        tokio::spawn(task.run(stopped));
        Feed { _source: source, events: receiver }
    }
}

struct Task {
    hub: Arc<Upstreams>,
    key: UpstreamKey,
    body: Value,
    events: broadcast::Sender<Upstream>,
}

/// How a connection to the subgraph ended.
enum Ended {
    /// The subgraph sent `complete`, or `error`: the subscription is over.
    Finished(Upstream),
    /// Every listener went away; the router completed the subscription itself.
    Stopped,
    /// The socket failed or closed without `complete`; `subscribed`: it had been acknowledged.
    Lost { reason: String, subscribed: bool },
}

impl Task {
    async fn run(self, mut stopped: oneshot::Receiver<()>) {
        let settings = &self.hub.settings;
        self.hub.metrics.live("upstreams", 1.0);
        let mut failures = 0u32;
        let last = loop {
            match self.connect_once(&mut stopped).await {
                Ended::Finished(last) => break Some(last),
                Ended::Stopped => break None,
                Ended::Lost { reason, subscribed } => {
                    failures = if subscribed { 1 } else { failures + 1 };
                    if failures > settings.reconnect_attempts {
                        tracing::warn!(subgraph = %self.key.subgraph, %reason, "subgraph subscription lost; giving up");
                        let message = format!("the subscription to subgraph {} was lost", self.key.subgraph);
                        let error =
                            json!({ "message": message, "extensions": { "code": "SUBSCRIPTION_UPSTREAM_LOST" } });
                        break Some(Upstream::Failed(Arc::new(vec![error])));
                    }
                    let delay = backoff(settings.reconnect_backoff, failures);
                    tracing::info!(subgraph = %self.key.subgraph, %reason, attempt = failures, delay_ms = delay.as_millis() as u64, "reconnecting a subgraph subscription");
                    tokio::select! {
                        _ = &mut stopped => break None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        };
        // Forget the key first: a client arriving now opens a fresh upstream rather than joining
        // one that is ending; whoever joined before gets the last word below.
        {
            let mut open = self.hub.open.lock().unwrap_or_else(|p| p.into_inner());
            if open.get(&self.key).is_some_and(|w| w.upgrade().is_none_or(|s| s.events.same_channel(&self.events))) {
                open.remove(&self.key);
            }
        }
        if let Some(last) = last {
            let _ = self.events.send(last);
        }
        self.hub.metrics.live("upstreams", -1.0);
    }

    async fn connect_once(&self, stopped: &mut oneshot::Receiver<()>) -> Ended {
        let lost = |reason: String, subscribed| Ended::Lost { reason, subscribed };
        let url = websocket_url(&self.key.url);
        let mut request = match url.as_str().into_client_request() {
            Ok(request) => request,
            Err(error) => return Ended::Finished(failed(&self.key.subgraph, &format!("bad subgraph URL: {error}"))),
        };
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", PROTOCOL.parse().expect("a valid header value"));
        for (name, value) in &self.key.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                headers.insert(name, value);
            }
        }
        let timeout = self.hub.settings.upstream_timeout;
        let mut socket = match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(error)) => return lost(format!("connecting: {error}"), false),
            Err(_) => return lost("connecting timed out".into(), false),
        };
        // The forwarded headers also travel in `connection_init` (where subgraphs read tokens).
        let init: serde_json::Map<String, Value> =
            self.key.headers.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
        let handshake = async {
            send(&mut socket, json!({ "type": "connection_init", "payload": init })).await?;
            loop {
                match next_message(&mut socket).await? {
                    Some(message) if message["type"] == "connection_ack" => return Ok(()),
                    Some(message) if message["type"] == "ping" => send(&mut socket, json!({ "type": "pong" })).await?,
                    Some(_) => {}
                    None => return Err("the subgraph closed the connection during the handshake".to_owned()),
                }
            }
        };
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return lost(reason, false),
            Err(_) => return lost("no connection_ack in time".into(), false),
        }
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": self.body });
        if let Err(reason) = send(&mut socket, subscribe).await {
            return lost(reason, false);
        }
        let mut subscribed = false;
        loop {
            let message = tokio::select! {
                _ = &mut *stopped => {
                    let _ = send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
                    let _ = socket.close(None).await;
                    return Ended::Stopped;
                }
                message = next_message(&mut socket) => message,
            };
            let message = match message {
                Ok(Some(message)) => message,
                Ok(None) => return lost("the subgraph closed the connection".into(), subscribed),
                Err(reason) => return lost(reason, subscribed),
            };
            match message["type"].as_str() {
                Some("next") if message["id"] == "1" => {
                    subscribed = true;
                    let payload = message.get("payload").cloned().unwrap_or(Value::Null);
                    // No listener left between two events: the stop signal follows.
                    let _ = self.events.send(Upstream::Next(Arc::new(payload)));
                }
                Some("error") if message["id"] == "1" => {
                    let errors = match message.get("payload") {
                        Some(Value::Array(errors)) => errors.clone(),
                        _ => vec![json!({ "message": "the subgraph refused the subscription" })],
                    };
                    let _ = socket.close(None).await;
                    return Ended::Finished(Upstream::Failed(Arc::new(errors)));
                }
                Some("complete") if message["id"] == "1" => {
                    let _ = socket.close(None).await;
                    return Ended::Finished(Upstream::Complete);
                }
                Some("ping") => {
                    if let Err(reason) = send(&mut socket, json!({ "type": "pong" })).await {
                        return lost(reason, subscribed);
                    }
                }
                _ => {}
            }
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(socket: &mut Socket, message: Value) -> Result<(), String> {
    socket.send(Message::text(message.to_string())).await.map_err(|e| format!("sending: {e}"))
}

/// The next protocol message; `None` when the socket closed.
async fn next_message(socket: &mut Socket) -> Result<Option<Value>, String> {
    loop {
        match socket.next().await {
            None => return Ok(None),
            Some(Err(error)) => return Err(format!("receiving: {error}")),
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).map(Some).map_err(|e| format!("not JSON: {e}"));
            }
            Some(Ok(Message::Close(_))) => return Ok(None),
            // Pings are answered by the library; binary frames are not part of the protocol.
            Some(Ok(_)) => {}
        }
    }
}

fn failed(subgraph: &str, message: &str) -> Upstream {
    tracing::warn!(subgraph, message, "subgraph subscription failed");
    let error = json!({ "message": format!("subgraph {subgraph}: {message}"), "extensions": { "code": "SUBSCRIPTION_UPSTREAM_LOST" } });
    Upstream::Failed(Arc::new(vec![error]))
}

/// `http(s)://…` → `ws(s)://…` (a `ws://` URL stays as it is).
pub fn websocket_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        url.to_owned()
    }
}

/// Exponential backoff from `base`, doubling per failure, capped at 30 s.
fn backoff(base: Duration, failures: u32) -> Duration {
    base.saturating_mul(1 << failures.saturating_sub(1).min(8)).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subgraph_urls_become_websocket_urls() {
        assert_eq!(websocket_url("http://messaging:8004/graphql"), "ws://messaging:8004/graphql");
        assert_eq!(websocket_url("https://m.example/graphql"), "wss://m.example/graphql");
        assert_eq!(websocket_url("ws://m/graphql"), "ws://m/graphql");
    }

    #[test]
    fn reconnection_backs_off_exponentially_up_to_a_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 4), Duration::from_millis(800));
        assert_eq!(backoff(base, 40), Duration::from_millis(25_600));
        assert_eq!(backoff(Duration::from_secs(10), 40), Duration::from_secs(30));
    }
}
