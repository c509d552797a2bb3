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
//!   message the same way (and in the same order) as everyone else's. The connection is
//!   re-established with backoff after a broker restart.

use std::collections::HashMap;
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
use tokio::sync::broadcast;

use crate::bus::BusError;
use crate::shutdown::Shutdown;

/// How many live messages of one topic a slow subscriber may fall behind before it skips ahead.
const TOPIC_CAPACITY: usize = 256;

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
    // Boxed: a connection and channel are large, the in-process variant is empty.
    Rabbit { exchange: String, url: String, publisher: Box<tokio::sync::Mutex<Option<(Connection, Channel)>>> },
}

/// The local subscribers, by topic.
#[derive(Default)]
struct Topics(Mutex<HashMap<String, broadcast::Sender<Arc<LiveMessage>>>>);

impl Topics {
    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Arc<LiveMessage>> {
        let mut topics = self.0.lock().expect("not poisoned");
        topics.entry(topic.to_owned()).or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0).subscribe()
    }

    /// Hands `message` to the topic's local subscribers; forgets topics nobody listens to.
    fn deliver(&self, message: LiveMessage) {
        let mut topics = self.0.lock().expect("not poisoned");
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
        let fanout = Arc::new(Self {
            topics: Arc::default(),
            transport: Transport::Rabbit {
                exchange: exchange.to_owned(),
                url: url.to_owned(),
                publisher: Box::new(tokio::sync::Mutex::new(None)),
            },
        });
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

    /// Sends `payload` to the subscribers of `topic` on every replica. An error means the
    /// broker could not be reached: the live message is lost (nothing durable depends on it).
    pub async fn publish(&self, topic: &str, payload: Value) -> Result<(), BusError> {
        let message = LiveMessage { topic: topic.to_owned(), payload };
        match &self.transport {
            Transport::InProcess => {
                self.topics.deliver(message);
                Ok(())
            }
            Transport::Rabbit { exchange, url, publisher } => {
                let body = serde_json::to_vec(&message).expect("a live message serialises");
                let mut guard = publisher.lock().await;
                let result = publish_rabbit(&mut guard, url, exchange, &body).await;
                if result.is_err() {
                    *guard = None;
                }
                result
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
        let outcome = tokio::select! {
            _ = shutdown.wait() => return,
            outcome = consume_once(&url, &exchange, &topics) => outcome,
        };
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
        assert!(fanout.topics.0.lock().expect("lock").is_empty());
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
