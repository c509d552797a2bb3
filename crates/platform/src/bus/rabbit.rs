//! The RabbitMQ adapter (lapin).
//!
//! Topology, all durable:
//! - each producer publishes to a topic exchange `<producer>.events`, routing key = event type.
//!   The exchange has an alternate exchange `<producer>.events.unrouted` (fanout, bound to a
//!   queue of the same name) so an event nobody subscribes to yet is kept instead of returned;
//! - each subscription has a quorum queue `<queue>` bound to its patterns, with a delivery limit
//!   (bounded redelivery after crashes) and a dead-letter exchange `<queue>.dlx` feeding
//!   `<queue>.dead`;
//! - `<queue>.retry` holds transiently failed events for a delay, then dead-letters them back to
//!   `<queue>` (delayed retry); after `max_retries` they go to `<queue>.dead`.
//!
//! Messages carry the trace context of the event's cause as `traceparent` / `tracestate`
//! headers; the consumer's span continues that trace.
//!
//! Publishing waits for the broker's confirm with `mandatory` set; a nack or a returned message
//! is an error, so the outbox keeps the row. Consumers ack only after the handler committed.
//! Connections are re-established with backoff after a broker restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use kernel::EventEnvelope;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;
use tracing::Instrument as _;

use super::{BusError, EventBus, HandlerError, Subscription, SubscriptionHandle, exchange_of, record_consumed};
use crate::shutdown::Shutdown;

/// How many deliveries a message gets before it is dead-lettered (crash loops included).
const DELIVERY_LIMIT: i64 = 10;
/// How many delayed retries a transiently failing event gets.
const MAX_RETRIES: i64 = 5;
const RETRY_HEADER: &str = "x-edustream-retries";
const PERSISTENT: u8 = 2;

pub struct RabbitBus {
    url: String,
    prefetch: u16,
    retry_delay: Duration,
    /// Prefixed to every exchange and queue name (empty in production): lets tests share one
    /// broker without their consumers competing for each other's events.
    namespace: String,
    publisher: Mutex<Option<Publisher>>,
}

struct Publisher {
    connection: Connection,
    channel: Channel,
    /// Exchanges declared on this connection.
    declared: std::collections::HashSet<String>,
}

impl RabbitBus {
    pub fn new(url: &str, prefetch: u16) -> Self {
        Self {
            url: url.to_owned(),
            prefetch,
            retry_delay: Duration::from_secs(5),
            namespace: String::new(),
            publisher: Mutex::new(None),
        }
    }

    /// Prefixes every exchange and queue this bus declares with `namespace` (tests on a shared
    /// broker); such queues are classic queues that expire after a minute without consumers.
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Namespaced (test) queues are deleted by the broker after a minute without consumers.
    fn expires(&self) -> Option<Duration> {
        (!self.namespace.is_empty()).then_some(Duration::from_secs(60))
    }

    fn exchange(&self, producer: &str) -> String {
        format!("{}{}", self.namespace, exchange_of(producer))
    }

    fn namespaced(&self, mut subscription: Subscription) -> Subscription {
        if !self.namespace.is_empty() {
            subscription.queue = format!("{}{}", self.namespace, subscription.queue);
            for binding in &mut subscription.bindings {
                binding.exchange = format!("{}{}", self.namespace, binding.exchange);
            }
        }
        subscription
    }

    /// How long a transiently failed event waits before it is redelivered.
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    async fn connect(&self) -> Result<Connection, BusError> {
        let properties = ConnectionProperties::default().with_connection_name("edustream".into());
        let connect = Connection::connect(&self.url, properties);
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(unavailable(error)),
            Err(_) => Err(BusError::Unavailable("connecting timed out".into())),
        }
    }

    async fn publish_once(&self, guard: &mut Option<Publisher>, event: &EventEnvelope) -> Result<(), BusError> {
        if guard.as_ref().is_none_or(|p| !p.connection.status().connected() || !p.channel.status().connected()) {
            let connection = self.connect().await?;
            let channel = connection.create_channel().await.map_err(unavailable)?;
            channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
            *guard = Some(Publisher { connection, channel, declared: Default::default() });
        }
        let publisher = guard.as_mut().expect("set just above");
        let exchange = self.exchange(&event.producer);
        if !publisher.declared.contains(&exchange) {
            declare_exchange(&publisher.channel, &exchange, self.expires()).await?;
            publisher.declared.insert(exchange.clone());
        }
        // Published directly (not through the outbox): the publisher's span is the cause.
        let event = &*crate::telemetry::stamp_trace_context(event);
        let payload = serde_json::to_vec(event).expect("an envelope serialises to JSON");
        let confirm = publisher
            .channel
            .basic_publish(
                exchange.into(),
                event.event_type.as_str().into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                &payload,
                properties_of(event),
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        if confirm.is_nack() {
            return Err(BusError::Nacked);
        }
        if confirm.take_message().is_some() {
            return Err(BusError::Unroutable);
        }
        Ok(())
    }

    async fn consume_until_error(&self, subscription: &Subscription, stop: &Shutdown) -> Result<(), BusError> {
        let connection = self.connect().await?;
        let result = self.consume_on(&connection, subscription, stop).await;
        // Closing the connection hands unacknowledged deliveries back to the queue.
        let _ = connection.close(200, "consumer stopping".into()).await;
        result
    }

    async fn consume_on(&self, connection: &Connection, sub: &Subscription, stop: &Shutdown) -> Result<(), BusError> {
        let channel = connection.create_channel().await.map_err(unavailable)?;
        declare_subscription(&channel, sub, self.retry_delay, self.expires()).await?;
        channel.basic_qos(self.prefetch, BasicQosOptions::default()).await.map_err(unavailable)?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
        let mut consumer = channel
            .basic_consume(sub.queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(unavailable)?;
        tracing::info!(queue = %sub.queue, "consuming");
        loop {
            let delivery = tokio::select! {
                _ = stop.wait() => return Ok(()),
                next = consumer.next() => next,
            };
            let delivery = match delivery {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => return Err(unavailable(error)),
                None => return Err(BusError::Unavailable("the consumer was cancelled by the broker".into())),
            };
            tokio::select! {
                // A stop while the handler runs abandons the delivery unacknowledged: it returns to
                // the queue and the inbox makes the redelivery harmless.
                _ = stop.wait() => return Ok(()),
                outcome = handle_delivery(&channel, sub, &delivery) => outcome?,
            }
        }
    }
}

async fn handle_delivery(
    channel: &Channel,
    sub: &Subscription,
    delivery: &lapin::message::Delivery,
) -> Result<(), BusError> {
    let started = Instant::now();
    let event: EventEnvelope = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(queue = %sub.queue, %error, "malformed event dead-lettered");
            return reject(delivery).await;
        }
    };
    let span = crate::telemetry::consumer_span(&sub.queue, &event, Some(&trace_headers(delivery)));
    match sub.handler.handle(&event).instrument(span).await {
        Ok(()) => {
            record_consumed(&sub.queue, &event, started.elapsed());
            delivery.acker.ack(BasicAckOptions::default()).await.map(drop).map_err(unavailable)
        }
        Err(HandlerError::Permanent(reason)) => {
            tracing::error!(queue = %sub.queue, event_id = %event.id, event_type = %event.event_type, %reason, "event dead-lettered");
            reject(delivery).await
        }
        Err(HandlerError::Transient(reason)) => {
            let retries = retries_of(delivery);
            if retries >= MAX_RETRIES {
                tracing::error!(queue = %sub.queue, event_id = %event.id, %reason, retries, "retries exhausted; event dead-lettered");
                return reject(delivery).await;
            }
            tracing::warn!(queue = %sub.queue, event_id = %event.id, %reason, retries, "handler failed; retrying later");
            schedule_retry(channel, sub, delivery, retries + 1).await?;
            delivery.acker.ack(BasicAckOptions::default()).await.map(drop).map_err(unavailable)
        }
    }
}

async fn reject(delivery: &lapin::message::Delivery) -> Result<(), BusError> {
    delivery.acker.reject(BasicRejectOptions { requeue: false }).await.map(drop).map_err(unavailable)
}

fn retries_of(delivery: &lapin::message::Delivery) -> i64 {
    let headers = delivery.properties.headers().as_ref();
    match headers.and_then(|h| h.inner().get(RETRY_HEADER)) {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        _ => 0,
    }
}

/// Re-publishes a copy to `<queue>.retry` (through the default exchange) with the retry count;
/// its TTL dead-letters it back to the queue after the delay.
async fn schedule_retry(
    channel: &Channel,
    sub: &Subscription,
    delivery: &lapin::message::Delivery,
    retries: i64,
) -> Result<(), BusError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(RETRY_HEADER.into(), AMQPValue::LongLongInt(retries));
    let properties = delivery.properties.clone().with_headers(headers);
    let confirm = channel
        .basic_publish(
            "".into(),
            format!("{}.retry", sub.queue).into(),
            BasicPublishOptions { mandatory: true, ..Default::default() },
            &delivery.data,
            properties,
        )
        .await
        .map_err(unavailable)?
        .await
        .map_err(unavailable)?;
    if confirm.is_nack() || confirm.take_message().is_some() {
        return Err(BusError::Unroutable);
    }
    Ok(())
}

/// The W3C trace context headers (`traceparent`, `tracestate`) of a delivery.
fn trace_headers(delivery: &lapin::message::Delivery) -> BTreeMap<String, String> {
    let Some(headers) = delivery.properties.headers().as_ref() else { return BTreeMap::new() };
    TRACE_HEADERS
        .iter()
        .filter_map(|&name| match headers.inner().get(name)? {
            AMQPValue::LongString(value) => {
                Some((name.to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            }
            AMQPValue::ShortString(value) => Some((name.to_owned(), value.as_str().to_owned())),
            _ => None,
        })
        .collect()
}

/// Message headers that carry the trace context, as on HTTP requests.
const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

fn properties_of(event: &EventEnvelope) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("version".into(), AMQPValue::LongUInt(event.version));
    headers.insert("producer".into(), AMQPValue::LongString(LongString::from(event.producer.as_str())));
    for (name, value) in event.trace_context.iter().filter(|(name, _)| TRACE_HEADERS.contains(&name.as_str())) {
        headers.insert(name.as_str().into(), AMQPValue::LongString(LongString::from(value.as_str())));
    }
    BasicProperties::default()
        .with_message_id(event.id.to_string().into())
        .with_correlation_id(event.correlation_id.to_string().into())
        .with_type(event.event_type.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_timestamp(event.occurred_at.timestamp().max(0) as u64)
        .with_headers(headers)
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in entries {
        table.insert(ShortString::from(*key), value.clone());
    }
    table
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// A queue's arguments. Temporary queues (a namespaced test bus) are classic queues that expire
/// when idle: quorum queues hold file descriptors each, and a test run declares hundreds of
/// queues on one broker.
fn queue_args(entries: &[(&str, AMQPValue)], expires: Option<Duration>) -> FieldTable {
    let Some(expires) = expires else { return table(entries) };
    let mut temporary: Vec<(&str, AMQPValue)> = entries
        .iter()
        .filter(|(key, _)| *key != "x-delivery-limit")
        .map(|(key, value)| if *key == "x-queue-type" { (*key, text("classic")) } else { (*key, value.clone()) })
        .collect();
    temporary.push(("x-expires", AMQPValue::LongLongInt(expires.as_millis() as i64)));
    table(&temporary)
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions { durable: true, ..Default::default() }
}

/// The producer's topic exchange and its alternate exchange for unrouted events.
async fn declare_exchange(channel: &Channel, exchange: &str, expires: Option<Duration>) -> Result<(), BusError> {
    let unrouted = format!("{exchange}.unrouted");
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(unrouted.as_str().into(), ExchangeKind::Fanout, durable, FieldTable::default())
        .await
        .map_err(unavailable)?;
    // Bounded so that events of a context nobody consumes yet cannot fill the disk.
    let unrouted_args =
        queue_args(&[("x-queue-type", text("quorum")), ("x-max-length", AMQPValue::LongLongInt(100_000))], expires);
    channel.queue_declare(unrouted.as_str().into(), durable_queue(), unrouted_args).await.map_err(unavailable)?;
    channel
        .queue_bind(
            unrouted.as_str().into(),
            unrouted.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    let args = table(&[("alternate-exchange", text(&unrouted))]);
    channel.exchange_declare(exchange.into(), ExchangeKind::Topic, durable, args).await.map_err(unavailable)
}

async fn declare_subscription(
    channel: &Channel,
    sub: &Subscription,
    retry_delay: Duration,
    expires: Option<Duration>,
) -> Result<(), BusError> {
    let queue = sub.queue.as_str();
    let dlx = format!("{queue}.dlx");
    let dead = format!("{queue}.dead");
    let retry = format!("{queue}.retry");
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(dlx.as_str().into(), ExchangeKind::Fanout, durable, FieldTable::default())
        .await
        .map_err(unavailable)?;
    let quorum = queue_args(&[("x-queue-type", text("quorum"))], expires);
    channel.queue_declare(dead.as_str().into(), durable_queue(), quorum).await.map_err(unavailable)?;
    channel
        .queue_bind(
            dead.as_str().into(),
            dlx.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    let main_args = queue_args(
        &[
            ("x-queue-type", text("quorum")),
            ("x-dead-letter-exchange", text(&dlx)),
            ("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)),
        ],
        expires,
    );
    channel.queue_declare(queue.into(), durable_queue(), main_args).await.map_err(unavailable)?;
    let retry_args = queue_args(
        &[
            ("x-queue-type", text("quorum")),
            ("x-message-ttl", AMQPValue::LongLongInt(retry_delay.as_millis() as i64)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text(queue)),
        ],
        expires,
    );
    channel.queue_declare(retry.as_str().into(), durable_queue(), retry_args).await.map_err(unavailable)?;
    for binding in &sub.bindings {
        declare_exchange(channel, &binding.exchange, expires).await?;
        channel
            .queue_bind(
                queue.into(),
                binding.exchange.as_str().into(),
                binding.routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

fn unavailable(error: lapin::Error) -> BusError {
    BusError::Unavailable(error.to_string())
}

#[async_trait]
impl EventBus for RabbitBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        let mut guard = self.publisher.lock().await;
        let result = self.publish_once(&mut guard, event).await;
        if let Err(BusError::Unavailable(_)) = &result {
            // Reconnect on the next publish.
            *guard = None;
        }
        result
    }

    async fn subscribe(&self, subscription: Subscription, shutdown: Shutdown) -> Result<SubscriptionHandle, BusError> {
        let subscription = self.namespaced(subscription);
        let stop = Shutdown::new();
        let bus = Self {
            url: self.url.clone(),
            prefetch: self.prefetch,
            retry_delay: self.retry_delay,
            namespace: self.namespace.clone(),
            publisher: Mutex::new(None),
        };
        // Declare once up front so a misconfiguration fails at start-up, not in the loop.
        let connection = bus.connect().await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        declare_subscription(&channel, &subscription, bus.retry_delay, bus.expires()).await?;
        let _ = connection.close(200, "declared".into()).await;

        let task_stop = stop.clone();
        let task = tokio::spawn(async move {
            // The process's shutdown stops this consumer the same way its own handle does.
            let forward = {
                let task_stop = task_stop.clone();
                tokio::spawn(async move {
                    shutdown.wait().await;
                    task_stop.trigger();
                })
            };
            let mut backoff = Duration::from_millis(200);
            loop {
                let started = Instant::now();
                let result = bus.consume_until_error(&subscription, &task_stop).await;
                if task_stop.is_triggered() {
                    break;
                }
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = Duration::from_millis(200);
                }
                if let Err(error) = result {
                    tracing::warn!(queue = %subscription.queue, %error, retry_in = ?backoff, "consumer lost its connection; reconnecting");
                }
                tokio::select! {
                    _ = task_stop.wait() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            forward.abort();
            tracing::debug!(queue = %subscription.queue, "consumer stopped");
        });
        Ok(SubscriptionHandle::new(stop, Some(task)))
    }

    async fn is_ready(&self) -> bool {
        let mut guard = self.publisher.lock().await;
        if guard.as_ref().is_some_and(|p| p.connection.status().connected()) {
            return true;
        }
        let Ok(connection) = self.connect().await else { return false };
        let Ok(channel) = connection.create_channel().await else { return false };
        if channel.confirm_select(ConfirmSelectOptions::default()).await.is_err() {
            return false;
        }
        *guard = Some(Publisher { connection, channel, declared: Default::default() });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_context_of_an_event_goes_into_the_message_headers() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut event = EventEnvelope {
            id: uuid::Uuid::now_v7(),
            event_type: "identity.UserLoggedIn".into(),
            version: 1,
            occurred_at: chrono::Utc::now(),
            producer: "identity".into(),
            aggregate_id: "u1".into(),
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
            payload: serde_json::json!({}),
            trace_context: Default::default(),
        };
        let headers = properties_of(&event).headers().clone().unwrap_or_default();
        assert!(!headers.inner().contains_key("traceparent"), "no trace, no header");

        event.trace_context.insert("traceparent".into(), traceparent.into());
        event.trace_context.insert("tracestate".into(), "vendor=1".into());
        let headers = properties_of(&event).headers().clone().unwrap_or_default();
        assert_eq!(headers.inner().get("traceparent"), Some(&text(traceparent)));
        assert_eq!(headers.inner().get("tracestate"), Some(&text("vendor=1")));
    }
}
