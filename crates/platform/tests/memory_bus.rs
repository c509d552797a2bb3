//! The embedded mode's delivery guarantees: outbox → relay → in-process bus → inbox.

mod support;

use std::sync::Arc;

use platform::Shutdown;
use platform::bus::{Binding, EventBus, MemoryBus, Subscription};
use platform::outbox::Relay;
use support::*;

#[tokio::test]
async fn an_outboxed_event_reaches_every_subscriber_once_even_when_one_fails_first() {
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(MemoryBus::new());
    let shutdown = Shutdown::new();
    let steady = InboxHandler::new(&test.db, "steady");
    let flaky = InboxHandler::with(&test.db, "flaky", 2, AfterCommit::Ack);
    for (queue, handler) in [("steady", steady.clone()), ("flaky", flaky.clone())] {
        let sub = Subscription { queue: queue.into(), bindings: vec![Binding::all_of(&producer)], handler };
        bus.subscribe(sub, shutdown.clone()).await.expect("subscribes");
    }
    let event = event(&producer, 1);
    append(&test.db, std::slice::from_ref(&event)).await;

    let relay = Relay::new(test.db.clone(), bus.clone(), "test");
    // Two transient failures of one subscriber: the row stays unpublished and is retried.
    assert!(relay.publish_pending().await.is_err());
    assert!(relay.publish_pending().await.is_err());
    assert_eq!(backlog(&test.db).await, 1);
    assert_eq!(relay.publish_pending().await.expect("third attempt succeeds"), 1);

    assert_eq!(backlog(&test.db).await, 0);
    assert_eq!(steady.deliveries(), 3, "the steady subscriber saw every attempt");
    assert_eq!(effects(&test.db, "steady", event.id).await, 1, "but applied it once");
    assert_eq!(effects(&test.db, "flaky", event.id).await, 1);
    shutdown.trigger();
}

#[tokio::test]
async fn events_of_other_producers_do_not_reach_a_subscription() {
    let test = fresh_db().await;
    let (mine, theirs) = (unique_producer(), unique_producer());
    let bus = Arc::new(MemoryBus::new());
    let handler = InboxHandler::new(&test.db, "mine");
    let sub = Subscription { queue: "mine".into(), bindings: vec![Binding::all_of(&mine)], handler: handler.clone() };
    bus.subscribe(sub, Shutdown::new()).await.expect("subscribes");
    bus.publish(&event(&theirs, 1)).await.expect("publishes");
    assert_eq!(handler.deliveries(), 0);
    bus.publish(&event(&mine, 2)).await.expect("publishes");
    assert_eq!(handler.deliveries(), 1);
}

#[tokio::test]
async fn the_relay_loop_drains_the_outbox_and_stops_on_shutdown() {
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(MemoryBus::new());
    let handler = InboxHandler::new(&test.db, "loop");
    let sub =
        Subscription { queue: "loop".into(), bindings: vec![Binding::all_of(&producer)], handler: handler.clone() };
    let shutdown = Shutdown::new();
    bus.subscribe(sub, shutdown.clone()).await.expect("subscribes");
    let events: Vec<_> = (0..250).map(|n| event(&producer, n)).collect();
    append(&test.db, &events).await;

    let relay = tokio::spawn(Relay::new(test.db.clone(), bus.clone(), "test").run(shutdown.clone()));
    eventually("the outbox to drain", || async { backlog(&test.db).await == 0 }).await;
    shutdown.trigger();
    relay.await.expect("the relay stops cleanly");
    assert_eq!(handler.deliveries(), 250);
    for e in [&events[0], &events[249]] {
        assert_eq!(effects(&test.db, "loop", e.id).await, 1);
    }
}

#[tokio::test]
async fn a_queue_keeps_what_arrives_while_its_consumer_is_stopped_and_delivers_it_in_order_on_resubscribe() {
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(MemoryBus::new());
    let first = InboxHandler::new(&test.db, "durable");
    let sub = |handler| Subscription { queue: "durable".into(), bindings: vec![Binding::all_of(&producer)], handler };
    let handle = bus.subscribe(sub(first.clone()), Shutdown::new()).await.expect("subscribes");
    bus.publish(&event(&producer, 1)).await.expect("publishes");
    handle.stop().await;

    // The consumer is gone (a context restarting): the queue keeps the events.
    let (second_event, third_event) = (event(&producer, 2), event(&producer, 3));
    bus.publish(&second_event).await.expect("accepted while nobody consumes");
    bus.publish(&third_event).await.expect("accepted while nobody consumes");
    assert_eq!(first.deliveries(), 1);

    let second = InboxHandler::new(&test.db, "durable");
    bus.subscribe(sub(second.clone()), Shutdown::new()).await.expect("subscribes again");
    assert_eq!(second.deliveries(), 2, "the backlog is delivered on subscribe");
    assert_eq!(effects(&test.db, "durable", second_event.id).await, 1);
    assert_eq!(effects(&test.db, "durable", third_event.id).await, 1);
    let order = "SELECT event_id FROM effects WHERE consumer = 'durable' ORDER BY id";
    let applied: Vec<String> = match &test.db {
        platform::db::Db::Postgres(pool) => sqlx::query_scalar(order).fetch_all(pool).await,
        platform::db::Db::Sqlite(pool) => sqlx::query_scalar(order).fetch_all(pool).await,
    }
    .expect("effects");
    assert_eq!(applied[1..], [second_event.id.to_string(), third_event.id.to_string()], "in publishing order");
}

#[tokio::test]
async fn an_event_that_keeps_failing_transiently_is_dead_lettered_and_stops_blocking_the_outbox() {
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(MemoryBus::new());
    // Fails six times: every attempt at the first event.
    let stuck = InboxHandler::with(&test.db, "stuck", 6, AfterCommit::Ack);
    let sub =
        Subscription { queue: "stuck".into(), bindings: vec![Binding::all_of(&producer)], handler: stuck.clone() };
    bus.subscribe(sub, Shutdown::new()).await.expect("subscribes");
    let (poison, next) = (event(&producer, 1), event(&producer, 2));
    append(&test.db, &[poison.clone(), next]).await;
    let relay = Relay::new(test.db.clone(), bus.clone(), "test");
    for _ in 0..5 {
        assert!(relay.publish_pending().await.is_err(), "retried while attempts remain");
    }
    // The sixth attempt dead-letters it; the event behind it flows again.
    assert_eq!(relay.publish_pending().await.expect("published"), 2);
    assert_eq!(effects(&test.db, "stuck", poison.id).await, 0);
    let letters = bus.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event.id, poison.id);
    assert!(letters[0].reason.starts_with("retries exhausted"), "{}", letters[0].reason);
}
