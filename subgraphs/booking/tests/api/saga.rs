//! The booking saga end to end with the real payment service and its simulated provider
//! (webhooks over HTTP, signed), on the in-process bus or on RabbitMQ when `AMQP_URL` names a
//! broker: request → payment → confirm; decline → cancel; cancel → refund → refunded; and the
//! payment service stopped mid-saga finishing it after a restart, with nothing lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use platform::Shutdown;
use serde_json::{Value, json};

use crate::helpers::*;

pub struct Saga {
    pub stack: Stack,
    pub payment: SocketAddr,
    provider: Arc<payment::SimulatedProvider>,
    config: payment::PaymentConfig,
    running: Option<(Shutdown, tokio::task::JoinHandle<anyhow::Result<()>>)>,
}

impl std::ops::Deref for Saga {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

pub async fn spawn_saga() -> Saga {
    let graph = testkit::Graph::start_on_broker(&["booking", "payment"]).await;
    let stack = spawn_on(graph, &[]).await;
    let (listener, payment) = testkit::listen().await;
    let env = stack
        .graph
        .env_for("payment")
        .await
        .with("PAYMENT_WEBHOOK_SECRET", "whsec_saga_tests_0123456789")
        .with("PAYMENT_WEBHOOK_URL", format!("http://{payment}/webhooks/provider"));
    let config = payment::PaymentConfig::from_env(&env).expect("payment config");
    // The provider lives outside the payment service, as Stripe does: it keeps retrying its
    // webhooks while the service is down.
    let provider = payment::SimulatedProvider::start(
        config.webhook_secret.clone(),
        config.webhook_url.clone(),
        &stack.graph.shutdown,
    );
    let mut saga = Saga { stack, payment, provider, config, running: None };
    saga.start_payment(listener).await;
    saga
}

impl Saga {
    async fn start_payment(&mut self, listener: tokio::net::TcpListener) {
        let shutdown = Shutdown::new();
        let outer = self.stack.graph.shutdown.clone();
        let inner = shutdown.clone();
        tokio::spawn(async move {
            outer.wait().await;
            inner.trigger();
        });
        let graph = &self.stack.graph;
        let app = payment::build(
            &self.config,
            graph.shared.clone(),
            graph.verifier.clone(),
            self.provider.clone(),
            &shutdown,
        )
        .await
        .expect("payment builds");
        let task = tokio::spawn(app.serve(listener, shutdown.clone(), Duration::from_secs(1)));
        self.running = Some((shutdown, task));
    }

    /// Stops the payment service (server, consumers, relay) as a crash or a deploy would.
    pub async fn stop_payment(&mut self) {
        let (shutdown, task) = self.running.take().expect("payment is running");
        shutdown.trigger();
        task.await.expect("payment task").expect("payment stopped cleanly");
    }

    /// Starts it again on the same address and database.
    pub async fn restart_payment(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.payment).await.expect("rebinds the payment port");
        self.start_payment(listener).await;
    }

    pub async fn payment_gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.stack.graph.post(self.payment, query, variables, token).await
    }

    /// Pays a booking once payment has opened its intent (it does so on `BookingRequested`).
    pub async fn pay(&self, student: &User, booking: &str, method: &str) -> Value {
        let pay = "mutation($b: ID!, $m: String!) { payForBooking(bookingId: $b, paymentMethod: $m) { id status } }";
        eventually("payment to open the booking's intent", || async move {
            let body = self.payment_gql(pay, json!({ "b": booking, "m": method }), Some(&student.token)).await;
            let not_open = body["errors"][0]["extensions"]["code"] == "NOT_FOUND";
            (!not_open).then_some(body)
        })
        .await
    }

    pub async fn booking_payment(&self, booking: &str, token: &str) -> Value {
        let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Booking { payment { id status \
            amount { amountMinor } refunded { amountMinor } failureReason } } } }";
        let body =
            self.payment_gql(query, json!({ "r": [{ "__typename": "Booking", "id": booking }] }), Some(token)).await;
        body["data"]["_entities"][0]["payment"].clone()
    }
}

/// A student's booking with an instant-booking tutor, paid by card: confirmed.
async fn confirmed(saga: &Saga, tutor: &Tutor, student: &User, starts: chrono::DateTime<chrono::Utc>) -> String {
    let id = saga.booked(student, tutor, starts, 60).await;
    let body = saga.pay(student, &id, "4242424242424242").await;
    // Pending until the provider's webhook arrives (which may already have happened).
    let status = body["data"]["payForBooking"]["status"].as_str();
    assert!(matches!(status, Some("PENDING" | "SUCCEEDED")), "{body}");
    saga.wait_status(&id, &student.token, "CONFIRMED").await;
    id
}

#[tokio::test]
async fn request_payment_confirm_for_instant_and_for_accepting_tutors() {
    let saga = spawn_saga().await;
    let instant = saga.tutor("Ines", true).await;
    let student = saga.user("STUDENT", "Sara").await;
    let id = confirmed(&saga, &instant, &student, in_days(3)).await;
    let booking = saga.booking(&id, &student.token).await;
    assert_eq!(booking["paid"], true);
    assert!(booking["session"]["meetingUrl"].is_string(), "{booking}");
    let payment = saga.booking_payment(&id, &student.token).await;
    assert_eq!(payment["status"], "SUCCEEDED", "{payment}");
    assert_eq!(payment["amount"]["amountMinor"], 4000);
    // One correlation id from the request to the confirmation.
    let requested = saga.events.wait_for("booking.BookingRequested", &id).await;
    let confirmed = saga.events.wait_for("booking.BookingConfirmed", &id).await;
    assert_eq!(confirmed.correlation_id, requested.correlation_id);

    // A tutor who confirms by hand: paid first, still pending until the tutor accepts.
    let careful = saga.tutor("Carl", false).await;
    let id = saga.booked(&student, &careful, in_days(4), 60).await;
    saga.pay(&student, &id, "pm_card_visa").await;
    eventually("the payment to reach booking", || async {
        let b = saga.booking(&id, &student.token).await;
        (b["paid"] == true).then_some(())
    })
    .await;
    assert_eq!(saga.booking(&id, &student.token).await["status"], "PENDING");
    let body = saga
        .gql(
            "mutation($id: ID!) { confirmBooking(id: $id) { status } }",
            json!({ "id": id }),
            Some(&careful.user.token),
        )
        .await;
    assert_eq!(body["data"]["confirmBooking"]["status"], "CONFIRMED", "{body}");
}

#[tokio::test]
async fn a_declined_card_cancels_the_booking_and_frees_the_slot() {
    let saga = spawn_saga().await;
    let tutor = saga.tutor("Dora", true).await;
    let student = saga.user("STUDENT", "Dan").await;
    let starts = in_days(5);
    for (method, reason) in
        [("4000000000000002", "card_declined"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")]
    {
        let id = saga.booked(&student, &tutor, starts, 60).await;
        saga.pay(&student, &id, method).await;
        let booking = saga.wait_status(&id, &student.token, "CANCELLED").await;
        assert_eq!(booking["cancellation"]["by"], "SYSTEM", "{booking}");
        assert_eq!(booking["cancellation"]["reason"], format!("payment failed: {reason}"));
        assert_eq!(booking["cancellation"]["refund"]["amountMinor"], 0);
        assert_eq!(saga.booking_payment(&id, &student.token).await["status"], "FAILED");
    }
    // Nothing holds the slot any more.
    confirmed(&saga, &tutor, &student, starts).await;
}

#[tokio::test]
async fn a_cancellation_refunds_exactly_the_policys_amount_and_redeliveries_change_nothing() {
    let saga = spawn_saga().await;
    let tutor = saga.tutor("Rita", true).await;
    let student = saga.user("STUDENT", "Ron").await;
    // 20 hours ahead: a student's cancellation gets half back.
    let starts = in_days(1) - chrono::Duration::hours(3);
    let id = confirmed(&saga, &tutor, &student, starts).await;
    let body = saga
        .gql(
            "mutation($id: ID!) { cancelBooking(id: $id, reason: \"cannot make it\") { status cancellation { refund { amountMinor } } } }",
            json!({ "id": id }),
            Some(&student.token),
        )
        .await;
    assert_eq!(body["data"]["cancelBooking"]["cancellation"]["refund"]["amountMinor"], 2000, "{body}");
    let booking = saga.wait_status(&id, &student.token, "REFUNDED").await;
    assert_eq!(booking["refunded"]["amountMinor"], 2000);
    let payment = saga.booking_payment(&id, &student.token).await;
    assert_eq!(payment["status"], "PARTIALLY_REFUNDED", "{payment}");
    assert_eq!(payment["refunded"]["amountMinor"], 2000);
    let payment_id = payment["id"].as_str().expect("payment id").to_owned();
    let refund = saga.events.wait_for("payment.RefundProcessed", &payment_id).await;
    assert_eq!(refund.payload["amount"]["amountMinor"], 2000);

    // Every event of the saga delivered again: no second payment, refund or state change.
    for kind in ["booking.BookingRequested", "booking.BookingCancelled"] {
        let event = saga.events.wait_for(kind, &id).await;
        saga.bus_redeliver(&event).await;
    }
    for kind in ["payment.PaymentSucceeded", "payment.RefundProcessed"] {
        let event = saga.events.wait_for(kind, &payment_id).await;
        saga.bus_redeliver(&event).await;
    }
    // What the redeliveries could have caused would be published by now on the in-process bus;
    // on RabbitMQ, wait until the consumers have drained (a later marker event is processed).
    let marker = confirmed(&saga, &tutor, &student, in_days(6)).await;
    assert_ne!(marker, id);
    // Distinct events (the recorder also sees the copies this test delivered again).
    let distinct = |kind: &str, about: &str| {
        let ids: std::collections::HashSet<_> = saga
            .events
            .of_type(kind)
            .into_iter()
            .filter(|e| e.aggregate_id == about || e.payload["bookingId"] == about)
            .map(|e| e.id)
            .collect();
        ids.len()
    };
    assert_eq!(distinct("payment.PaymentRequested", &id), 1);
    assert_eq!(distinct("payment.RefundProcessed", &payment_id), 1);
    assert_eq!(distinct("booking.BookingConfirmed", &id), 1);
    assert_eq!(distinct("booking.BookingCancelled", &id), 1);
    let payment = saga.booking_payment(&id, &student.token).await;
    assert_eq!(
        (payment["status"].as_str(), payment["refunded"]["amountMinor"].as_i64()),
        (Some("PARTIALLY_REFUNDED"), Some(2000))
    );
    assert_eq!(saga.booking(&id, &student.token).await["status"], "REFUNDED");
}

#[tokio::test]
async fn the_payment_service_stopped_mid_saga_finishes_it_after_restarting() {
    let mut saga = spawn_saga().await;
    let tutor = saga.tutor("Mia", true).await;
    let student = saga.user("STUDENT", "Max").await;
    let first = confirmed(&saga, &tutor, &student, in_days(3)).await;

    saga.stop_payment().await;
    // While payment is down: a new booking is requested and the tutor cancels the first one.
    let second = saga.booked(&student, &tutor, in_days(4), 60).await;
    let body = saga
        .gql(
            "mutation($id: ID!) { cancelBooking(id: $id, reason: \"ill\") { status } }",
            json!({ "id": first }),
            Some(&tutor.user.token),
        )
        .await;
    assert_eq!(body["data"]["cancelBooking"]["status"], "CANCELLED", "{body}");
    saga.restart_payment().await;

    // The queued events are applied: the tutor's cancellation refunds in full, the new booking
    // gets its intent and can be paid.
    let refunded = saga.wait_status(&first, &student.token, "REFUNDED").await;
    assert_eq!(refunded["refunded"]["amountMinor"], 4000);
    let body = saga.pay(&student, &second, "4242424242424242").await;
    assert!(body["data"]["payForBooking"]["id"].is_string(), "{body}");
    saga.wait_status(&second, &student.token, "CONFIRMED").await;

    // Stopped right after a charge: its webhook reaches payment before the stop or is retried
    // by the provider until payment is back; either way the booking ends confirmed.
    let third = saga.booked(&student, &tutor, in_days(5), 60).await;
    saga.pay(&student, &third, "4242424242424242").await;
    saga.stop_payment().await;
    saga.restart_payment().await;
    saga.wait_status(&third, &student.token, "CONFIRMED").await;
}
