//! Live fan-out between the replicas of a context: what subscribers connected to *any* replica
//! must see now — a message just sent, someone typing, a notification just stored.
//!
//! Unlike domain events it is ephemeral: nothing is stored or retried, a replica that is down
//! misses what was said meanwhile (its clients re-read history from the database when they
//! reconnect). Messages are grouped by `topic` (a conversation id, a user id); a subscriber
//! receives the topic it asked for, from the moment it subscribed.
//!
//! - In-process ([`Fanout::in_process`], the embedded default): one broadcast per topic; replicas
//!   in one process share the `Fanout`.
//! - RabbitMQ ([`Fanout::rabbit`]): a fanout exchange `<name>`; every replica binds an
//!   exclusive, auto-deleted queue of its own to it and re-broadcasts what arrives to its local
//!   subscribers. Publishing goes to the exchange only, so a replica's own subscribers get the
//!   message the same way (and in the same order) as everyone else's. The connections are
//!   re-established with backoff after a broker restart.
//!
//! Publishing never waits for the broker: [`Fanout::publish`] queues the message for a
//! background publisher (bounded; a full queue drops the message and says so), which gives each
//! message at most [`PUBLISH_TIMEOUT`] and, after a failure, drops messages until its back-off
//! has passed. A broker that blocks publishers (memory or disk alarm) or is down therefore never
//! holds a mutation or a consumer that publishes after its commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::bus::BusError;
use crate::shutdown::Shutdown;

/// How many live messages of one topic a slow subscriber may fall behind before it skips ahead
/// (allocated per topic up front).
const TOPIC_CAPACITY: usize = 64;
/// Live messages waiting for the RabbitMQ publisher; more are dropped.
const PUBLISH_QUEUE: usize = 4096;
/// The longest one live message may take to reach the broker.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// Forget topics without subscribers every this many subscriptions (memory stays bounded by
/// the topics someone listens to, even for topics that never get a message).
const SWEEP_EVERY: u64 = 256;

/// One live message: its topic and a JSON payload the publishing context defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveMessage {
    pub topic: String,
    pub payload: Value,
}

/// Fan-out of live messages to the subscribers of every replica.
pub struct Fanout {
    topics: Arc<Topics>,
    transport: Transport,
}

enum Transport {
    InProcess,
    /// The queue of the background publisher.
    Rabbit(mpsc::Sender<Vec<u8>>),
}

/// The local subscribers, by topic.
#[derive(Default)]
struct Topics {
    by_topic: Mutex<HashMap<String, broadcast::Sender<Arc<LiveMessage>>>>,
    subscriptions: AtomicU64,
}

impl Topics {
    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Arc<LiveMessage>> {
        let mut topics = self.by_topic.lock().expect("not poisoned");
        if self.subscriptions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            topics.retain(|_, sender| sender.receiver_count() > 0);
        }
        topics.entry(topic.to_owned()).or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0).subscribe()
    }

    /// Hands `message` to the topic's local subscribers; forgets topics nobody listens to.
    fn deliver(&self, message: LiveMessage) {
        let mut topics = self.by_topic.lock().expect("not poisoned");
        let Some(sender) = topics.get(&message.topic) else { return };
        if sender.receiver_count() == 0 {
            topics.remove(&message.topic);
            return;
        }
        let _ = sender.send(Arc::new(message));
    }
}

impl Fanout {
    /// Fan-out within this process (the embedded default; replicas share the returned value).
    pub fn in_process() -> Arc<Self> {
        Arc::new(Self { topics: Arc::default(), transport: Transport::InProcess })
    }

    /// Fan-out through the RabbitMQ fanout exchange `exchange`, consumed until `shutdown`.
    pub fn rabbit(url: &str, exchange: &str, shutdown: &Shutdown) -> Arc<Self> {
        let (queue, queued) = mpsc::channel(PUBLISH_QUEUE);
        let fanout = Arc::new(Self { topics: Arc::default(), transport: Transport::Rabbit(queue) });
        tokio::spawn(publish_loop(url.to_owned(), exchange.to_owned(), queued, shutdown.clone()));
        tokio::spawn(consume(url.to_owned(), exchange.to_owned(), fanout.topics.clone(), shutdown.clone()));
        fanout
    }

    /// In-process for `memory:`, else RabbitMQ at `amqp_url` (the context's `AMQP_URL`).
    pub fn open(amqp_url: &str, exchange: &str, shutdown: &Shutdown) -> Arc<Self> {
        if amqp_url.starts_with("memory:") { Self::in_process() } else { Self::rabbit(amqp_url, exchange, shutdown) }
    }

    /// The live messages of `topic` from now on. A receiver that lags more than a few hundred
    /// messages behind gets `RecvError::Lagged` and continues with the newest.
    pub fn subscribe(&self, topic: &str) -> broadcast::Receiver<Arc<LiveMessage>> {
        self.topics.subscribe(topic)
    }

    /// How many subscribers of `topic` this replica has (metrics, readiness in tests).
    pub fn listeners(&self, topic: &str) -> usize {
        self.topics.by_topic.lock().expect("not poisoned").get(topic).map_or(0, broadcast::Sender::receiver_count)
    }

    /// Sends `payload` to the subscribers of `topic` on every replica, without waiting for the
    /// broker: `Ok` means queued for the publisher. An error means it was dropped (the queue is
    /// full or the publisher stopped); nothing durable depends on a live message.
    pub async fn publish(&self, topic: &str, payload: Value) -> Result<(), BusError> {
        let message = LiveMessage { topic: topic.to_owned(), payload };
        match &self.transport {
            Transport::InProcess => {
                self.topics.deliver(message);
                Ok(())
            }
            Transport::Rabbit(queue) => {
                let body = serde_json::to_vec(&message).expect("a live message serialises");
                queue.try_send(body).map_err(|error| {
                    let reason = match error {
                        mpsc::error::TrySendError::Full(_) => "the live publisher's queue is full",
                        mpsc::error::TrySendError::Closed(_) => "the live publisher has stopped",
                    };
                    BusError::Unavailable(reason.into())
                })
            }
        }
    }
}

/// Publishes what is queued until shutdown: each message gets [`PUBLISH_TIMEOUT`]; after a
/// failure the connection is dropped and messages are discarded (counted, logged once) until the
/// back-off has passed, so a dead or blocking broker costs a queue slot, never a caller's time.
async fn publish_loop(url: String, exchange: String, mut queued: mpsc::Receiver<Vec<u8>>, shutdown: Shutdown) {
    let mut publisher: Option<(Connection, Channel)> = None;
    let mut backoff = Duration::from_millis(100);
    let mut paused_until: Option<tokio::time::Instant> = None;
    let mut dropped = 0u64;
    loop {
        let body = tokio::select! {
            _ = shutdown.wait() => return,
            body = queued.recv() => match body {
                Some(body) => body,
                None => return,
            },
        };
        if paused_until.is_some_and(|until| tokio::time::Instant::now() < until) {
            dropped += 1;
            metrics::counter!("live_messages_dropped_total", "exchange" => exchange.clone()).increment(1);
            continue;
        }
        let attempt = tokio::time::timeout(PUBLISH_TIMEOUT, publish_rabbit(&mut publisher, &url, &exchange, &body));
        match attempt.await.unwrap_or_else(|_| Err(BusError::Unavailable("publishing timed out".into()))) {
            Ok(()) => {
                if dropped > 0 {
                    tracing::info!(%exchange, dropped, "live fan-out publishing again");
                }
                (backoff, paused_until, dropped) = (Duration::from_millis(100), None, 0);
            }
            Err(error) => {
                publisher = None;
                dropped += 1;
                metrics::counter!("live_messages_dropped_total", "exchange" => exchange.clone()).increment(1);
                tracing::warn!(%exchange, %error, pause_ms = backoff.as_millis() as u64, "live message dropped; pausing the publisher");
                paused_until = Some(tokio::time::Instant::now() + backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn connect(url: &str) -> Result<Connection, BusError> {
    let properties = ConnectionProperties::default().with_connection_name("edustream-live".into());
    match tokio::time::timeout(Duration::from_secs(5), Connection::connect(url, properties)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(BusError::Unavailable(error.to_string())),
        Err(_) => Err(BusError::Unavailable("connecting timed out".into())),
    }
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

async fn declare(channel: &Channel, exchange: &str) -> Result<(), BusError> {
    // Not durable and gone with the last replica: live messages never outlive their listeners.
    let options = ExchangeDeclareOptions { durable: false, auto_delete: true, ..Default::default() };
    channel
        .exchange_declare(exchange.into(), ExchangeKind::Fanout, options, FieldTable::default())
        .await
        .map_err(unavailable)
}

async fn publish_rabbit(
    guard: &mut Option<(Connection, Channel)>,
    url: &str,
    exchange: &str,
    body: &[u8],
) -> Result<(), BusError> {
    if guard
        .as_ref()
        .is_none_or(|(connection, channel)| !connection.status().connected() || !channel.status().connected())
    {
        let connection = connect(url).await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        declare(&channel, exchange).await?;
        *guard = Some((connection, channel));
    }
    let (_, channel) = guard.as_ref().expect("set just above");
    channel
        .basic_publish(
            exchange.into(),
            "".into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_content_type("application/json".into()),
        )
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Consumes the replica's own queue until shutdown, reconnecting with backoff.
async fn consume(url: String, exchange: String, topics: Arc<Topics>, shutdown: Shutdown) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = tokio::time::Instant::now();
        let outcome = tokio::select! {
            _ = shutdown.wait() => return,
            outcome = consume_once(&url, &exchange, &topics) => outcome,
        };
        // A connection that lived a while was healthy: the next one starts with a short pause.
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(100);
        }
        if let Err(error) = outcome {
            tracing::warn!(%exchange, %error, retry_in_ms = backoff.as_millis() as u64, "live fan-out disconnected");
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn consume_once(url: &str, exchange: &str, topics: &Topics) -> Result<(), BusError> {
    let connection = connect(url).await?;
    let channel = connection.create_channel().await.map_err(unavailable)?;
    declare(&channel, exchange).await?;
    let options = QueueDeclareOptions { exclusive: true, auto_delete: true, durable: false, ..Default::default() };
    let queue = channel.queue_declare("".into(), options, FieldTable::default()).await.map_err(unavailable)?;
    let queue = queue.name().as_str().to_owned();
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    let no_ack = BasicConsumeOptions { no_ack: true, ..Default::default() };
    let mut consumer = channel
        .basic_consume(queue.as_str().into(), "".into(), no_ack, FieldTable::default())
        .await
        .map_err(unavailable)?;
    tracing::info!(%exchange, %queue, "live fan-out consuming");
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery.map_err(unavailable)?;
        match serde_json::from_slice::<LiveMessage>(&delivery.data) {
            Ok(message) => topics.deliver(message),
            Err(error) => tracing::warn!(%exchange, %error, "malformed live message dropped"),
        }
    }
    Err(BusError::Unavailable("the live consumer was cancelled by the broker".into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn subscribers_get_their_topic_only_from_the_moment_they_subscribed() {
        let fanout = Fanout::in_process();
        fanout.publish("c1", json!("before anyone listened")).await.expect("published");
        let mut c1 = fanout.subscribe("c1");
        let mut c2 = fanout.subscribe("c2");
        assert_eq!((fanout.listeners("c1"), fanout.listeners("c2"), fanout.listeners("c3")), (1, 1, 0));
        fanout.publish("c1", json!({ "n": 1 })).await.expect("published");
        fanout.publish("c2", json!({ "n": 2 })).await.expect("published");
        assert_eq!(c1.recv().await.expect("a message").payload, json!({ "n": 1 }));
        assert_eq!(c2.recv().await.expect("a message").payload, json!({ "n": 2 }));
        assert!(c1.try_recv().is_err(), "c1 got nothing else");
    }

    #[tokio::test]
    async fn a_topic_nobody_listens_to_is_forgotten() {
        let fanout = Fanout::in_process();
        drop(fanout.subscribe("gone"));
        fanout.publish("gone", json!(1)).await.expect("published");
        assert!(fanout.topics.by_topic.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn topics_whose_subscribers_left_are_swept_even_without_messages() {
        let fanout = Fanout::in_process();
        let kept = fanout.subscribe("kept");
        for n in 0..(SWEEP_EVERY * 3) {
            drop(fanout.subscribe(&format!("user:{n}")));
        }
        let topics = fanout.topics.by_topic.lock().expect("lock").len();
        assert!(topics <= SWEEP_EVERY as usize + 1, "{topics} topics kept");
        assert_eq!(fanout.listeners("kept"), 1);
        drop(kept);
    }

    /// A broker that cannot be reached never holds the publisher's caller: messages are queued
    /// and dropped by the background publisher.
    #[tokio::test]
    async fn publishing_does_not_wait_for_an_unreachable_broker() {
        let shutdown = Shutdown::new();
        // Nothing listens on port 1: every connection attempt fails.
        let fanout = Fanout::rabbit("amqp://guest:guest@127.0.0.1:1/%2f", "t.unreachable.live", &shutdown);
        let publishing = async {
            for n in 0..100 {
                fanout.publish("c1", json!({ "n": n })).await.expect("queued");
            }
        };
        // A generous bound: 100 publishes that waited on the broker would take minutes.
        tokio::time::timeout(Duration::from_secs(5), publishing).await.expect("publish never waits for the broker");
        shutdown.trigger();
    }

    /// Two replicas on one broker: what one publishes, the other's subscribers receive.
    #[tokio::test]
    async fn two_replicas_share_live_messages_through_rabbitmq() {
        let Ok(url) = std::env::var("AMQP_URL") else { return };
        if !url.starts_with("amqp") {
            return;
        }
        let shutdown = Shutdown::new();
        let exchange = format!("t{}.live", uuid::Uuid::now_v7().simple());
        let one = Fanout::rabbit(&url, &exchange, &shutdown);
        let two = Fanout::rabbit(&url, &exchange, &shutdown);
        let mut on_two = two.subscribe("c1");
        let mut on_one = one.subscribe("c1");
        // The consumers bind their queues asynchronously: publish until the first arrives.
        let mut received = None;
        for attempt in 0..100 {
            one.publish("c1", json!({ "attempt": attempt })).await.expect("published");
            if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(100), on_two.recv()).await {
                received = Some(message);
                break;
            }
        }
        let received = received.expect("replica two received what replica one published");
        assert_eq!(received.topic, "c1");
        let mine = tokio::time::timeout(Duration::from_secs(5), on_one.recv()).await.expect("in time").expect("got");
        assert_eq!(mine.topic, "c1", "the publishing replica's own subscribers hear it through the broker too");
        shutdown.trigger();
    }
}
