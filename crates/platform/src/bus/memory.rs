//! The in-process bus of the embedded mode: `publish` hands the event to every matching
//! subscriber and returns only when each has applied it, so the relay marks an outbox row sent
//! only after every subscriber's inbox committed. A subscriber's transient failure fails the
//! publish (the relay retries; subscribers that already applied it skip it through their inbox);
//! a permanent failure is dead-lettered here, as RabbitMQ would.

use std::sync::{Mutex, RwLock};

use async_trait::async_trait;
use kernel::EventEnvelope;

use super::{BusError, EventBus, HandlerError, Subscription, SubscriptionHandle};
use crate::shutdown::Shutdown;

/// An event a subscriber refused for good, kept for inspection.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub queue: String,
    pub event: EventEnvelope,
    pub reason: String,
}

#[derive(Default)]
pub struct MemoryBus {
    subscribers: RwLock<Vec<(Subscription, Shutdown)>>,
    dead_letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn matching(&self, event: &EventEnvelope) -> Vec<Subscription> {
        let subscribers = self.subscribers.read().unwrap_or_else(|p| p.into_inner());
        subscribers
            .iter()
            .filter(|(_, stop)| !stop.is_triggered())
            .filter(|(sub, _)| sub.bindings.iter().any(|b| b.matches(event)))
            .map(|(sub, _)| sub.clone())
            .collect()
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        for subscription in self.matching(event) {
            let started = std::time::Instant::now();
            match subscription.handler.handle(event).await {
                Ok(()) => {}
                Err(HandlerError::Transient(reason)) => {
                    return Err(BusError::Handler { event_type: event.event_type.clone(), reason });
                }
                Err(HandlerError::Permanent(reason)) => {
                    tracing::error!(queue = %subscription.queue, event_id = %event.id, event_type = %event.event_type, %reason, "event dead-lettered");
                    let letter = DeadLetter { queue: subscription.queue.clone(), event: event.clone(), reason };
                    self.dead_letters.lock().unwrap_or_else(|p| p.into_inner()).push(letter);
                }
            }
            super::record_consumed(&subscription.queue, event, started.elapsed());
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
        self.subscribers.write().unwrap_or_else(|p| p.into_inner()).push((subscription, stop.clone()));
        Ok(SubscriptionHandle::new(stop, None))
    }

    async fn is_ready(&self) -> bool {
        true
    }
}
