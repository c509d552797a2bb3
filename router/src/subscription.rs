//! Subscriptions through the router.
//!
//! Clients subscribe over WebSocket ([`ws`], the `graphql-transport-ws` protocol) or GraphQL
//! over SSE (see [`crate::http`]). The root field of a subscription belongs to one subgraph: the
//! router opens a subscription to it over WebSocket ([`upstream`]), forwarding the client's
//! headers, and runs the rest of the plan for every event — `messageAdded { sender { profile {
//! firstName } } }` arrives with the sender's name from the subgraph that owns users. Identical
//! upstream subscriptions share one socket. A connection and everything it subscribed to keep
//! the router they started on across hot reloads.

pub mod upstream;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use crate::execute::Forwarded;
use crate::operation::RequestError;
use crate::{GraphqlRequest, GraphqlResponse, Router};
use upstream::{Upstream, UpstreamKey};

/// `subscriptions:` in the router's YAML.
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

fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    crate::config::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// The router's subscription state: the connection budget and the open upstreams.
pub struct Subscriptions {
    pub settings: SubscriptionSettings,
    connections: Arc<Semaphore>,
    pub upstreams: Arc<upstream::Upstreams>,
}

impl Subscriptions {
    pub fn new(settings: SubscriptionSettings, metrics: Arc<crate::telemetry::Metrics>) -> Self {
        Self {
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            upstreams: upstream::Upstreams::new(settings.clone(), metrics),
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

/// The responses of one client subscription; dropping it ends the subscription (and the upstream
/// one when nobody else listens).
pub struct ResponseStream {
    receiver: mpsc::Receiver<Value>,
    task: tokio::task::JoinHandle<()>,
}

impl ResponseStream {
    /// The next response, or `None` once the subscription has ended.
    pub async fn next(&mut self) -> Option<Value> {
        self.receiver.recv().await
    }
}

impl Drop for ResponseStream {
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
        let graph = &self.supergraph.graphs[root.graph];
        let variables = crate::execute::Executor::subgraph_variables(&root, &ready.variables);
        let key = UpstreamKey {
            subgraph: graph.name.clone(),
            url: graph.url.clone(),
            body: json!({ "query": root.operation, "variables": variables }).to_string(),
            headers: forwarded
                .headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect(),
        };
        let mut feed = self.subscriptions.upstreams.listen(key, &root.operation, &variables);
        let (sender, receiver) = mpsc::channel(16);
        let router = self.clone();
        self.metrics.live("subscriptions", 1.0);
        let task = tokio::spawn(async move {
            let _active = Active(router.metrics.clone());
            loop {
                let event = tokio::select! {
                    _ = sender.closed() => return,
                    event = feed.recv() => event,
                };
                let body = match event {
                    Ok(Upstream::Next(payload)) => {
                        let (data, errors) = router
                            .executor
                            .run_after_root(&router.supergraph, &root, &payload, &ready.variables, &forwarded)
                            .await;
                        router.metrics.subscription_event();
                        router.finish(&ready, data, errors, false)
                    }
                    Ok(Upstream::Complete) | Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    Ok(Upstream::Failed(errors)) => {
                        let _ = sender.send(json!({ "data": null, "errors": *errors })).await;
                        return;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "a slow subscriber skipped events");
                        continue;
                    }
                };
                if sender.send(body).await.is_err() {
                    return;
                }
            }
        });
        Subscribed::Stream(ResponseStream { receiver, task })
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

/// Counts a running client subscription in the metrics while it lives.
struct Active(Arc<crate::telemetry::Metrics>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.live("subscriptions", -1.0);
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
