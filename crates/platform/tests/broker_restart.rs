//! No event lost and none applied twice across a RabbitMQ restart: events written while the
//! broker is down are published once it is back, and the consumer reconnects by itself.
//!
//! Restarts the local broker with `rabbitmqctl stop_app` / `start_app`, so it is its own test
//! binary (cargo runs test binaries one after another). Runs when `AMQP_URL` is set.

mod support;

use std::sync::Arc;

use platform::Shutdown;
use platform::bus::{Binding, EventBus, RabbitBus, Subscription};
use platform::outbox::Relay;
use support::*;

async fn rabbitmqctl(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let run = args.clone();
    let status = tokio::task::spawn_blocking(move || std::process::Command::new("rabbitmqctl").args(&run).status())
        .await
        .expect("joins")
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

#[tokio::test]
async fn events_written_while_the_broker_restarts_are_delivered_exactly_once() {
    let Some(url) = std::env::var("AMQP_URL").ok().filter(|u| u.starts_with("amqp")) else {
        eprintln!("skipped: set AMQP_URL to run the broker-restart test");
        return;
    };
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(RabbitBus::new(&url, 8));
    let handler = InboxHandler::new(&test.db, "consumer");
    let shutdown = Shutdown::new();
    let sub = Subscription {
        queue: format!("{producer}.consumer"),
        bindings: vec![Binding::all_of(&producer)],
        handler: handler.clone(),
    };
    let subscription = bus.subscribe(sub, shutdown.clone()).await.expect("subscribes");
    let relay = tokio::spawn(Relay::new(test.db.clone(), bus.clone(), "test").run(shutdown.clone()));

    let before = event(&producer, 1);
    append(&test.db, std::slice::from_ref(&before)).await;
    eventually("the event before the restart", || async { effects(&test.db, "consumer", before.id).await == 1 }).await;

    rabbitmqctl(&["stop_app"]).await;
    let during: Vec<_> = (2..=4).map(|n| event(&producer, n)).collect();
    append(&test.db, &during).await;
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;

    for e in &during {
        eventually("an event written during the restart", || async { effects(&test.db, "consumer", e.id).await == 1 })
            .await;
    }
    eventually("the outbox to drain", || async { backlog(&test.db).await == 0 }).await;
    for e in std::iter::once(&before).chain(&during) {
        assert_eq!(effects(&test.db, "consumer", e.id).await, 1, "applied exactly once");
    }
    shutdown.trigger();
    subscription.stop().await;
    relay.await.expect("relay stops");
}
