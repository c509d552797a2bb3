//! Subscriptions through the router.
//!
//! Clients subscribe over WebSocket ([`ws`], the `graphql-transport-ws` protocol) or GraphQL
//! over SSE (see [`crate::http`]). The root field of a subscription belongs to one subgraph: the
//! router opens a subscription to it over WebSocket ([`upstream`]), forwarding the client's
//! headers, and runs the rest of the plan for every event — `messageAdded { sender { profile {
//! firstName } } }` arrives with the sender's name from the subgraph that owns users. Identical
//! upstream subscriptions share one socket. A connection and everything it subscribed to keep
//! the router they started on across hot reloads. The limits and timeouts are
//! [`crate::config::subscriptions`]'s.

pub mod framing;
pub mod upstream;
pub mod ws;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast};

use crate::config::subscriptions::SubscriptionSettings;
use crate::execute::Forwarded;
use crate::operation::RequestError;
use crate::{GraphqlRequest, GraphqlResponse, Router};
use upstream::{Upstream, UpstreamKey};

/// The router's subscription state: the connection budget, the open upstreams, and the client
/// streams shared by identical client subscriptions.
pub struct Subscriptions {
    pub settings: SubscriptionSettings,
    connections: Arc<Semaphore>,
    pub upstreams: Arc<upstream::Upstreams>,
    streams: Arc<std::sync::Mutex<HashMap<String, Weak<Shared>>>>,
}

impl Subscriptions {
    pub fn new(settings: SubscriptionSettings, metrics: Arc<crate::telemetry::Metrics>) -> Self {
        Self {
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            upstreams: upstream::Upstreams::new(settings.clone(), metrics),
            streams: Arc::default(),
            settings,
        }
    }
}

/// A client connection (WebSocket or SSE) counted against `max_connections` and in the
/// metrics while it lives.
pub struct ConnectionSlot {
    metrics: Arc<crate::telemetry::Metrics>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.metrics.live("connections", -1.0);
    }
}

/// The answer to an operation sent over a subscription transport.
pub enum Subscribed {
    /// A query or a mutation, or a request error: one response.
    Single(GraphqlResponse),
    /// A subscription: its responses, one per event, until it ends.
    Stream(ResponseStream),
}

/// The responses of one client subscription, as JSON text; dropping it ends the subscription
/// (and the shared execution and the upstream subscription when nobody else listens).
pub struct ResponseStream {
    events: broadcast::Receiver<Option<Arc<str>>>,
    _shared: Arc<Shared>,
    _active: Active,
}

impl ResponseStream {
    /// The next response, or `None` once the subscription has ended.
    pub async fn next(&mut self) -> Option<Arc<str>> {
        loop {
            match self.events.recv().await {
                Ok(Some(response)) => return Some(response),
                Ok(None) | Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "a slow subscriber skipped events");
                }
            }
        }
    }
}

/// One execution of a subscription's plan per upstream event, shared by every client
/// subscription with the same operation, variables and forwarded headers (so the same answer);
/// its task stops when the last of them is dropped. `None` on the channel ends the stream.
struct Shared {
    events: broadcast::Sender<Option<Arc<str>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Router {
    /// Runs `request` for a subscription transport: a subscription opens (or joins) the upstream
    /// subscription and yields a response per event; anything else runs once.
    pub async fn subscribe(self: &Arc<Self>, request: GraphqlRequest, forwarded: Forwarded) -> Subscribed {
        let failed = |error: RequestError| {
            Subscribed::Single(GraphqlResponse {
                body: json!({ "errors": [{ "message": error.to_string(), "extensions": { "code": error.code() } }] }),
                request_error: true,
            })
        };
        let ready = match self.prepare(&request, &forwarded) {
            Ok(ready) => ready,
            Err(error) => return failed(error),
        };
        if ready.kind != apollo_compiler::ast::OperationType::Subscription || ready.plan().is_none() {
            return Subscribed::Single(self.execute(request, &forwarded, false).await);
        }
        let root = match ready.plan().map(|plan| plan.roots.as_slice()) {
            Some([root]) => root.clone(),
            _ => return failed(RequestError::Validation("a subscription selects exactly one root field".into())),
        };
        let headers: Vec<(String, String)> = forwarded
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let shares = self.subscriptions.settings.dedup;
        let key = format!(
            "{}\u{0}{}\u{0}{}\u{0}{:?}",
            request.query,
            request.operation_name.as_deref().unwrap_or(""),
            Value::Object(ready.variables.clone()),
            headers
        );
        let active = Active::new(self.metrics.clone());
        let mut streams = self.subscriptions.streams.lock().unwrap_or_else(|p| p.into_inner());
        if shares && let Some(shared) = streams.get(&key).and_then(Weak::upgrade) {
            let events = shared.events.subscribe();
            return Subscribed::Stream(ResponseStream { events, _shared: shared, _active: active });
        }
        streams.retain(|_, shared| shared.strong_count() > 0);
        let graph = &self.supergraph.graphs[root.graph];
        let variables = crate::execute::Executor::subgraph_variables(&root, &ready.variables);
        let upstream_key = UpstreamKey {
            subgraph: graph.name.clone(),
            url: graph.url.clone(),
            body: json!({ "query": root.operation, "variables": variables }).to_string(),
            headers,
        };
        let feed = self.subscriptions.upstreams.listen(upstream_key, &root.operation, &variables);
        let (events, receiver) = broadcast::channel(self.subscriptions.settings.buffer);
        let run = Execution {
            router: self.clone(),
            ready,
            root,
            forwarded,
            events: events.clone(),
            key: shares.then(|| key.clone()),
        };
        let shared = Arc::new(Shared { events, task: tokio::spawn(run.run(feed)) });
        if shares {
            streams.insert(key, Arc::downgrade(&shared));
        }
        Subscribed::Stream(ResponseStream { events: receiver, _shared: shared, _active: active })
    }

    /// The subscription state (limits, upstreams).
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// A slot for one more subscription connection, or `None` when `max_connections` are open.
    pub fn open_connection(&self) -> Option<ConnectionSlot> {
        let permit = self.subscriptions.connections.clone().try_acquire_owned().ok()?;
        self.metrics.live("connections", 1.0);
        Some(ConnectionSlot { metrics: self.metrics.clone(), _permit: permit })
    }
}

/// The shared execution of one subscription: the rest of the plan per upstream event.
struct Execution {
    router: Arc<Router>,
    ready: crate::Ready,
    root: crate::plan::FetchNode,
    forwarded: Forwarded,
    events: broadcast::Sender<Option<Arc<str>>>,
    /// Its key among the shared streams (`None`: not shared).
    key: Option<String>,
}

impl Execution {
    async fn run(self, mut feed: upstream::Feed) {
        let router = &self.router;
        loop {
            let body = match feed.recv().await {
                Ok(Upstream::Next(payload)) => {
                    let (data, errors) = router
                        .executor
                        .run_after_root(
                            &router.supergraph,
                            &self.root,
                            &payload,
                            &self.ready.variables,
                            &self.forwarded,
                        )
                        .await;
                    router.metrics.subscription_event();
                    router.finish(&self.ready, data, errors, false).body
                }
                Ok(Upstream::Complete) | Err(broadcast::error::RecvError::Closed) => break,
                Ok(Upstream::Failed(errors)) => {
                    let _ = self.events.send(Some(json!({ "data": null, "errors": *errors }).to_string().into()));
                    break;
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "a subscription's execution skipped upstream events");
                    continue;
                }
            };
            // No listener left: the task is being aborted.
            // Written as JSON once, shared by every listener; our writer emits UTF-8 only.
            let text: Arc<str> = String::from_utf8_lossy(&body).into();
            let _ = self.events.send(Some(text));
        }
        // Forget the key before the end is announced: a client arriving now starts afresh.
        if let Some(key) = &self.key {
            let mut streams = router.subscriptions.streams.lock().unwrap_or_else(|p| p.into_inner());
            if streams.get(key).is_some_and(|w| w.upgrade().is_none_or(|s| s.events.same_channel(&self.events))) {
                streams.remove(key);
            }
        }
        let _ = self.events.send(None);
    }
}

/// Counts a running client subscription in the metrics while it lives.
struct Active(Arc<crate::telemetry::Metrics>);

impl Active {
    fn new(metrics: Arc<crate::telemetry::Metrics>) -> Self {
        metrics.live("subscriptions", 1.0);
        Self(metrics)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.live("subscriptions", -1.0);
    }
}
