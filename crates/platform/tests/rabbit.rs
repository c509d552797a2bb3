//! Delivery guarantees against a real RabbitMQ (and PostgreSQL when `DATABASE_URL` names one):
//! no event lost and none applied twice across a relay crash between publish and mark and a
//! consumer crash before ack; delayed retry, dead-lettering and unrouted events.
//! Runs when `AMQP_URL` is set (CI's second pass); otherwise each test says it was skipped.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kernel::EventEnvelope;
use lapin::options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use platform::Shutdown;
use platform::bus::{Binding, BusError, EventBus, RabbitBus, Subscription, SubscriptionHandle};
use platform::outbox::Relay;
use support::*;
use tokio::sync::Notify;

fn amqp_url() -> Option<String> {
    let url = std::env::var("AMQP_URL").ok().filter(|u| u.starts_with("amqp"));
    if url.is_none() {
        eprintln!("skipped: set AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f to run the RabbitMQ tests");
    }
    url
}

/// A bus that publishes (and gets the broker's confirm), then never returns: the relay process
/// "dies" between publishing and marking the row.
struct CrashAfterPublish {
    inner: Arc<RabbitBus>,
    published: Notify,
}

#[async_trait]
impl EventBus for CrashAfterPublish {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        self.inner.publish(event).await?;
        self.published.notify_one();
        std::future::pending().await
    }
    async fn subscribe(&self, s: Subscription, d: Shutdown) -> Result<SubscriptionHandle, BusError> {
        self.inner.subscribe(s, d).await
    }
    async fn is_ready(&self) -> bool {
        true
    }
}

async fn subscribe(bus: &RabbitBus, producer: &str, handler: Arc<InboxHandler>) -> SubscriptionHandle {
    let sub =
        Subscription { queue: format!("{producer}.consumer"), bindings: vec![Binding::all_of(producer)], handler };
    bus.subscribe(sub, Shutdown::new()).await.expect("subscribes")
}

async fn channel(url: &str) -> (lapin::Connection, lapin::Channel) {
    let connection = lapin::Connection::connect(url, Default::default()).await.expect("connects");
    let channel = connection.create_channel().await.expect("channel");
    (connection, channel)
}

async fn message_count(url: &str, queue: &str) -> u32 {
    let (connection, channel) = channel(url).await;
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let count = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .expect("queue exists")
        .message_count();
    let _ = connection.close(200, "done".into()).await;
    count
}

/// Removes what a test declared, so repeated runs leave nothing behind.
async fn cleanup(url: &str, producer: &str) {
    let (connection, channel) = channel(url).await;
    let queue = format!("{producer}.consumer");
    for q in [queue.clone(), format!("{queue}.retry"), format!("{queue}.dead"), format!("{producer}.events.unrouted")] {
        let _ = channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
    }
    for x in [format!("{queue}.dlx"), format!("{producer}.events"), format!("{producer}.events.unrouted")] {
        let _ = channel.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()).await;
    }
    let _ = connection.close(200, "done".into()).await;
}

#[tokio::test]
async fn a_relay_crash_between_publish_and_mark_republishes_and_the_inbox_applies_once() {
    let Some(url) = amqp_url() else { return };
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(RabbitBus::new(&url, 8));
    let handler = InboxHandler::new(&test.db, "consumer");
    let subscription = subscribe(&bus, &producer, handler.clone()).await;
    let event = event(&producer, 1);
    append(&test.db, std::slice::from_ref(&event)).await;

    let crashing = Arc::new(CrashAfterPublish { inner: bus.clone(), published: Notify::new() });
    let relay = Relay::new(test.db.clone(), crashing.clone(), "test");
    let crashed = tokio::spawn(async move { relay.publish_pending().await });
    crashing.published.notified().await;
    crashed.abort();
    let _ = crashed.await;
    eventually("the first delivery", || async { handler.deliveries() >= 1 }).await;
    assert_eq!(backlog(&test.db).await, 1, "the row was never marked");

    let relay = Relay::new(test.db.clone(), bus.clone(), "test");
    eventually("the restarted relay to publish the row", || async {
        relay.publish_pending().await.is_ok() && backlog(&test.db).await == 0
    })
    .await;
    eventually("the redelivery", || async { handler.deliveries() >= 2 }).await;
    assert_eq!(effects(&test.db, "consumer", event.id).await, 1, "applied exactly once");

    subscription.stop().await;
    cleanup(&url, &producer).await;
}

#[tokio::test]
async fn a_consumer_crash_before_ack_redelivers_and_the_inbox_applies_once() {
    let Some(url) = amqp_url() else { return };
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(RabbitBus::new(&url, 8));
    let crashing = InboxHandler::with(&test.db, "consumer", 0, AfterCommit::HangFirstTime);
    let first = subscribe(&bus, &producer, crashing.clone()).await;
    let event = event(&producer, 1);
    append(&test.db, std::slice::from_ref(&event)).await;
    Relay::new(test.db.clone(), bus.clone(), "test").publish_pending().await.expect("publishes");

    // The handler committed its effect and the inbox row, then the consumer dies before acking.
    crashing.committed.notified().await;
    first.stop().await;

    let restarted = InboxHandler::new(&test.db, "consumer");
    let second = subscribe(&bus, &producer, restarted.clone()).await;
    eventually("the redelivery to the restarted consumer", || async { restarted.deliveries() >= 1 }).await;
    assert_eq!(effects(&test.db, "consumer", event.id).await, 1, "applied exactly once");
    second.stop().await;
    assert_eq!(message_count(&url, &format!("{producer}.consumer")).await, 0, "acknowledged after the redelivery");
    cleanup(&url, &producer).await;
}

#[tokio::test]
async fn a_transient_failure_is_retried_after_a_delay_and_a_permanent_one_is_dead_lettered() {
    let Some(url) = amqp_url() else { return };
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(RabbitBus::new(&url, 8).with_retry_delay(Duration::from_millis(200)));
    let flaky = InboxHandler::with(&test.db, "consumer", 2, AfterCommit::Ack);
    let subscription = subscribe(&bus, &producer, flaky.clone()).await;
    let good = event(&producer, 1);
    bus.publish(&good).await.expect("publishes");
    eventually("the event to be applied after two delayed retries", || async {
        effects(&test.db, "consumer", good.id).await == 1
    })
    .await;
    assert_eq!(flaky.deliveries(), 3);

    // A payload that is not an envelope can never be handled: it goes to the dead-letter queue.
    let (connection, channel) = channel(&url).await;
    channel
        .basic_publish(
            format!("{producer}.events").as_str().into(),
            format!("{producer}.Happened").as_str().into(),
            Default::default(),
            b"not json",
            Default::default(),
        )
        .await
        .expect("publishes");
    let _ = connection.close(200, "done".into()).await;
    let dead = format!("{producer}.consumer.dead");
    eventually("the malformed event in the dead-letter queue", || async { message_count(&url, &dead).await == 1 })
        .await;
    subscription.stop().await;
    cleanup(&url, &producer).await;
}

#[tokio::test]
async fn an_event_nobody_subscribes_to_yet_is_kept_not_returned() {
    let Some(url) = amqp_url() else { return };
    let producer = unique_producer();
    let bus = RabbitBus::new(&url, 8);
    bus.publish(&event(&producer, 1)).await.expect("confirmed although unrouted");
    assert_eq!(message_count(&url, &format!("{producer}.events.unrouted")).await, 1);
    assert!(bus.is_ready().await);
    cleanup(&url, &producer).await;
}

#[tokio::test]
async fn an_unreachable_broker_is_reported_not_ready_and_publishing_fails_cleanly() {
    if amqp_url().is_none() {
        return;
    }
    let bus = RabbitBus::new("amqp://guest:guest@127.0.0.1:1/%2f", 8);
    assert!(!bus.is_ready().await);
    assert!(matches!(bus.publish(&event("nobody", 1)).await, Err(BusError::Unavailable(_))));
}
