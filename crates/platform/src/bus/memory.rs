//! The in-process bus of the embedded mode: `publish` hands the event to every matching
//! subscriber and returns only when each has applied it, so the relay marks an outbox row sent
//! only after every subscriber's inbox committed. A subscriber's transient failure fails the
//! publish (the relay retries; subscribers that already applied it skip it through their inbox)
//! a bounded number of times, after which the event is dead-lettered for that subscriber as
//! RabbitMQ's delayed retries would; a permanent failure is dead-lettered at once.
//!
//! Queues outlive their consumers, as durable RabbitMQ queues do: events for a queue whose
//! consumer has stopped wait in its backlog and are delivered, in order, when a consumer
//! subscribes to the same queue name again (a context restarted within the process).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use kernel::EventEnvelope;
use tracing::Instrument as _;

use super::{BusError, EventBus, HandlerError, Subscription, SubscriptionHandle};
use crate::shutdown::Shutdown;

/// An event a subscriber refused for good, kept for inspection.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub queue: String,
    pub event: EventEnvelope,
    pub reason: String,
}

struct Queue {
    subscription: Subscription,
    stop: Shutdown,
    /// Events that arrived while no consumer was attached.
    backlog: VecDeque<EventEnvelope>,
}

/// Deliveries of one event to one queue before a transient failure dead-letters it (the first
/// and five retries, as on RabbitMQ).
const MAX_ATTEMPTS: u32 = 6;

#[derive(Default)]
pub struct MemoryBus {
    queues: Mutex<Vec<Queue>>,
    dead_letters: Mutex<Vec<DeadLetter>>,
    /// Transient failures so far, per (queue, event).
    failures: Mutex<HashMap<(String, uuid::Uuid), u32>>,
}

enum Outcome {
    Applied,
    Retry(String),
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn dead_letter(&self, subscription: &Subscription, event: &EventEnvelope, reason: String) {
        tracing::error!(queue = %subscription.queue, event_id = %event.id, event_type = %event.event_type, %reason, "event dead-lettered");
        let letter = DeadLetter { queue: subscription.queue.clone(), event: event.clone(), reason };
        self.dead_letters.lock().unwrap_or_else(|p| p.into_inner()).push(letter);
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The subscriptions with a live consumer for `event`; queues without one keep it.
    fn route(&self, event: &EventEnvelope) -> Vec<Subscription> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let mut live = Vec::new();
        for queue in queues.iter_mut().filter(|q| q.subscription.bindings.iter().any(|b| b.matches(event))) {
            if queue.stop.is_triggered() {
                queue.backlog.push_back(event.clone());
            } else {
                live.push(queue.subscription.clone());
            }
        }
        live
    }

    async fn deliver(&self, subscription: &Subscription, event: &EventEnvelope) -> Outcome {
        let started = std::time::Instant::now();
        let key = (subscription.queue.clone(), event.id);
        let span = crate::telemetry::consumer_span(&subscription.queue, event, None);
        let outcome = match subscription.handler.handle(event).instrument(span).await {
            Ok(()) => Outcome::Applied,
            Err(HandlerError::Transient(reason)) => {
                let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
                let attempts = failures.entry(key.clone()).or_insert(0);
                *attempts += 1;
                if *attempts < MAX_ATTEMPTS {
                    return Outcome::Retry(reason);
                }
                drop(failures);
                self.dead_letter(subscription, event, format!("retries exhausted: {reason}"));
                Outcome::Applied
            }
            Err(HandlerError::Permanent(reason)) => {
                self.dead_letter(subscription, event, reason);
                Outcome::Applied
            }
        };
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        super::record_consumed(&subscription.queue, event, started.elapsed());
        outcome
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        // Published directly (not through the outbox): the publisher's span is the cause.
        let event = &*crate::telemetry::stamp_trace_context(event);
        for subscription in self.route(event) {
            if let Outcome::Retry(reason) = self.deliver(&subscription, event).await {
                return Err(BusError::Handler { event_type: event.event_type.clone(), reason });
            }
        }
        Ok(())
    }

    async fn subscribe(&self, subscription: Subscription, shutdown: Shutdown) -> Result<SubscriptionHandle, BusError> {
        let stop = Shutdown::new();
        let watcher = stop.clone();
        // The subscription ends with the process's shutdown or its own handle.
        tokio::spawn(async move {
            shutdown.wait().await;
            watcher.trigger();
        });
        let backlog = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            match queues.iter_mut().find(|q| q.subscription.queue == subscription.queue) {
                Some(queue) => {
                    queue.subscription = subscription.clone();
                    queue.stop = stop.clone();
                    std::mem::take(&mut queue.backlog)
                }
                None => {
                    let queue =
                        Queue { subscription: subscription.clone(), stop: stop.clone(), backlog: VecDeque::new() };
                    queues.push(queue);
                    VecDeque::new()
                }
            }
        };
        // What waited for this queue is delivered in order; transient failures are retried.
        for event in backlog {
            let mut pause = Duration::from_millis(50);
            while let Outcome::Retry(reason) = self.deliver(&subscription, &event).await {
                if stop.is_triggered() {
                    return Err(BusError::Handler { event_type: event.event_type.clone(), reason });
                }
                tracing::warn!(queue = %subscription.queue, event_id = %event.id, %reason, "backlogged event failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
        Ok(SubscriptionHandle::new(stop, None))
    }

    async fn is_ready(&self) -> bool {
        true
    }
}
