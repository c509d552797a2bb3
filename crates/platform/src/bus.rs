//! The event bus: publish an envelope, subscribe a handler. Two adapters: RabbitMQ for
//! production ([`rabbit`]) and in-process for the embedded mode ([`memory`]).
//!
//! Delivery is at-least-once in both; handlers make the effect exactly-once with the inbox.

use std::sync::Arc;

use async_trait::async_trait;
use kernel::EventEnvelope;

use crate::shutdown::Shutdown;

pub mod memory;
pub mod rabbit;

pub use memory::MemoryBus;
pub use rabbit::RabbitBus;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("the broker could not route the message to any queue")]
    Unroutable,
    #[error("a subscriber failed to handle {event_type}: {reason}")]
    Handler { event_type: String, reason: String },
}

/// Why a handler did not apply an event.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying later (database unavailable, lock timeout).
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help (malformed payload): the event goes to the dead-letter queue.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Applies events of other contexts, idempotently (through the inbox).
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError>;
}

/// Which events reach a handler: `exchange` is `<producer>.events`, `routing_key` a topic
/// pattern over event types (`identity.#`, `booking.BookingConfirmed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub exchange: String,
    pub routing_key: String,
}

impl Binding {
    /// Every event of one producing context.
    pub fn all_of(producer: &str) -> Self {
        Self { exchange: exchange_of(producer), routing_key: format!("{producer}.#") }
    }

    /// One event type, e.g. `identity.UserRegistered`.
    pub fn event(event_type: &str) -> Self {
        let producer = event_type.split('.').next().unwrap_or(event_type);
        Self { exchange: exchange_of(producer), routing_key: event_type.to_owned() }
    }

    pub fn matches(&self, event: &EventEnvelope) -> bool {
        self.exchange == exchange_of(&event.producer) && topic_matches(&self.routing_key, &event.event_type)
    }
}

/// A consumer: its queue name (`<consumer context>.<purpose>`), bindings and handler.
#[derive(Clone)]
pub struct Subscription {
    pub queue: String,
    pub bindings: Vec<Binding>,
    pub handler: Arc<dyn EventHandler>,
}

/// The exchange a context publishes to.
pub fn exchange_of(producer: &str) -> String {
    format!("{producer}.events")
}

/// AMQP topic matching: words split on `.`, `*` is one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(pw), Some(kw)) if pw == kw => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

/// Publishes and consumes domain events.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Returns once the event is durably accepted: confirmed by the broker, or applied by every
    /// in-process subscriber. An error means it may or may not have been delivered: retry.
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError>;

    /// Declares what the subscription needs and consumes until `shutdown` (or the returned
    /// handle is stopped).
    async fn subscribe(&self, subscription: Subscription, shutdown: Shutdown) -> Result<SubscriptionHandle, BusError>;

    /// Whether the bus can currently publish (readiness).
    async fn is_ready(&self) -> bool;
}

/// A running consumer; stopping it closes its channel, so unacknowledged deliveries return to
/// the queue exactly as if the process had died.
#[derive(Debug)]
pub struct SubscriptionHandle {
    stop: Shutdown,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SubscriptionHandle {
    pub(crate) fn new(stop: Shutdown, task: Option<tokio::task::JoinHandle<()>>) -> Self {
        Self { stop, task }
    }

    pub async fn stop(mut self) {
        self.stop.trigger();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Metrics common to both buses: consumed count and lag (now − the event's time).
pub(crate) fn record_consumed(queue: &str, event: &EventEnvelope, took: std::time::Duration) {
    let lag = (chrono::Utc::now() - event.occurred_at).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::counter!("events_consumed_total", "queue" => queue.to_owned(), "type" => event.event_type.clone())
        .increment(1);
    metrics::gauge!("consumer_lag_seconds", "queue" => queue.to_owned()).set(lag);
    metrics::histogram!("event_handler_duration_seconds", "queue" => queue.to_owned()).record(took.as_secs_f64());
}

/// Opens the bus named by `AMQP_URL`: `memory:` for in-process, `amqp://…` for RabbitMQ.
pub fn open(url: &str, prefetch: u16) -> Arc<dyn EventBus> {
    if url.starts_with("memory:") { Arc::new(MemoryBus::new()) } else { Arc::new(RabbitBus::new(url, prefetch)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        assert!(topic_matches("identity.#", "identity.UserRegistered"));
        assert!(topic_matches("#", "a.b.c"));
        assert!(topic_matches("identity.*", "identity.UserRegistered"));
        assert!(!topic_matches("identity.*", "identity.a.b"));
        assert!(!topic_matches("booking.#", "identity.UserRegistered"));
        assert!(topic_matches("a.#.c", "a.c"));
        assert!(topic_matches("identity.UserRegistered", "identity.UserRegistered"));
    }
}
