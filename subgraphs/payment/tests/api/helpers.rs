//! `spawn()`: payment on a fresh database beside a real identity, sharing an in-process bus
//! (see `testkit`), with the simulated provider posting webhooks to it; booking's events are
//! delivered by the tests, and the ledger is read straight from the database.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kernel::events::booking::{BookedSlot, BookingCancelled, BookingCompleted, BookingRequested, CancelledBy};
use kernel::{Currency, EventEnvelope, Money};
use payment::{PaymentConfig, SimulatedProvider};
use platform::{Db, Shutdown};
use secrecy::SecretString;
use serde_json::{Value, json};
pub use testkit::{User, code};
use uuid::Uuid;

pub const SECRET: &str = "whsec_test_0123456789abcdef";

pub struct Stack {
    pub graph: testkit::Graph,
    pub payment: SocketAddr,
    pub db: Db,
    pub provider: Arc<SimulatedProvider>,
    pub config: PaymentConfig,
    /// Payment's own shutdown (the graph's stops identity and the provider).
    pub stop: Shutdown,
    pub served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl std::ops::Deref for Stack {
    type Target = testkit::Graph;
    fn deref(&self) -> &testkit::Graph {
        &self.graph
    }
}

pub async fn spawn() -> Stack {
    let graph = testkit::Graph::start(&["payment"]).await;
    let (listener, payment) = testkit::listen().await;
    let env = graph
        .env_for("payment")
        .await
        .with("LISTEN_ADDR", payment.to_string())
        .with("PAYMENT_WEBHOOK_SECRET", SECRET)
        .with("PAYMENT_WEBHOOK_URL", format!("http://{payment}/webhooks/provider"));
    let config = PaymentConfig::from_env(&env).expect("payment config");
    let provider = SimulatedProvider::start(SecretString::from(SECRET), config.webhook_url.clone(), &graph.shutdown);
    let (db, stop, served) = start(&graph, &config, &provider, listener).await;
    Stack { graph, payment, db, provider, config, stop, served }
}

/// Builds and serves payment on `listener`.
pub async fn start(
    graph: &testkit::Graph,
    config: &PaymentConfig,
    provider: &Arc<SimulatedProvider>,
    listener: tokio::net::TcpListener,
) -> (Db, Shutdown, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let stop = Shutdown::new();
    let app = payment::build(config, graph.bus.clone(), graph.verifier.clone(), provider.clone(), &stop)
        .await
        .expect("payment builds");
    let db = app.db.clone();
    let served = tokio::spawn(app.serve(listener, stop.clone(), Duration::from_secs(1)));
    (db, stop, served)
}

/// Polls `check` (bounded: 10 s) until it returns something.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::parse("EUR").expect("valid"))
}

/// A booking requested by `student` of a tutor whose user is `tutor_user`.
#[derive(Clone)]
pub struct Booking {
    pub slot: BookedSlot,
    pub tutor_user_id: String,
    pub price: Money,
}

pub const PAYMENT_FIELDS: &str = "id status failureReason amount { amountMinor currency } refunded { amountMinor currency } payer { id } tutor { id } booking { id }";

impl Stack {
    /// An operation against payment.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graph.post(self.payment, query, variables, token).await
    }

    /// Booking requests a session of `tutor_user`'s (a new tutor profile unless `tutor` is given).
    pub async fn request(&self, student: &User, tutor_user: &str, tutor: Option<&str>, price: Money) -> Booking {
        let slot = BookedSlot {
            booking_id: Uuid::now_v7().to_string(),
            tutor_id: tutor.map_or_else(|| Uuid::now_v7().to_string(), str::to_owned),
            student_id: student.id.clone(),
            starts_at: chrono::Utc::now() + chrono::Duration::days(2),
            ends_at: chrono::Utc::now() + chrono::Duration::days(2) + chrono::Duration::hours(1),
        };
        let event = BookingRequested {
            slot: slot.clone(),
            tutor_user_id: tutor_user.to_owned(),
            subject: "Maths".into(),
            price,
            payment_due_at: chrono::Utc::now() + chrono::Duration::minutes(30),
        };
        self.deliver(&event).await;
        Booking { slot, tutor_user_id: tutor_user.to_owned(), price }
    }

    pub async fn request_envelope(&self, booking: &Booking) -> EventEnvelope {
        let event = BookingRequested {
            slot: booking.slot.clone(),
            tutor_user_id: booking.tutor_user_id.clone(),
            subject: "Maths".into(),
            price: booking.price,
            payment_due_at: chrono::Utc::now() + chrono::Duration::minutes(30),
        };
        EventEnvelope::wrap(&event, None)
    }

    pub async fn cancel(&self, booking: &Booking, paid: bool, refund_minor: i64) {
        let event = BookingCancelled {
            slot: booking.slot.clone(),
            cancelled_by: CancelledBy::Student,
            reason: "changed plans".into(),
            paid,
            refund: Money::new(refund_minor, booking.price.currency),
        };
        self.deliver(&event).await;
    }

    pub async fn complete(&self, booking: &Booking) {
        self.deliver(&BookingCompleted { slot: booking.slot.clone() }).await;
    }

    pub async fn pay(&self, student: &User, booking: &Booking, method: &str) -> Value {
        let query = format!(
            "mutation($b: ID!, $m: String!) {{ payForBooking(bookingId: $b, paymentMethod: $m) {{ {PAYMENT_FIELDS} }} }}"
        );
        self.gql(&query, json!({ "b": booking.slot.booking_id, "m": method }), Some(&student.token)).await
    }

    /// The booking's payment as `viewer` sees it (`Booking.payment`).
    pub async fn payment_of(&self, booking: &Booking, viewer: &User) -> Value {
        let query = format!(
            "query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on Booking {{ payment {{ {PAYMENT_FIELDS} }} }} }} }}"
        );
        let body = self
            .gql(
                &query,
                json!({ "r": [{ "__typename": "Booking", "id": booking.slot.booking_id }] }),
                Some(&viewer.token),
            )
            .await;
        body["data"]["_entities"][0]["payment"].clone()
    }

    /// Waits until the booking's payment has `status`.
    pub async fn wait_status(&self, booking: &Booking, viewer: &User, status: &str) -> Value {
        eventually(&format!("payment {status}"), || async {
            let payment = self.payment_of(booking, viewer).await;
            (payment["status"] == status).then_some(payment)
        })
        .await
    }

    /// The payment id of a booking (once its `PaymentRequested` was published).
    pub async fn payment_id(&self, booking: &Booking) -> String {
        let requested = eventually("PaymentRequested", || async {
            self.events
                .of_type("payment.PaymentRequested")
                .into_iter()
                .find(|e| e.payload["bookingId"] == booking.slot.booking_id.as_str())
        })
        .await;
        requested.aggregate_id
    }

    /// Posts a raw webhook body with a signature header.
    pub async fn post_webhook(&self, body: &[u8], signature: &str) -> reqwest::StatusCode {
        self.client
            .post(format!("http://{}/webhooks/provider", self.payment))
            .header("Stripe-Signature", signature)
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("sent")
            .status()
    }

    /// The ledger: (booking id, kind, amount, currency, payout id).
    pub async fn ledger(&self) -> Vec<Entry> {
        const SQL: &str =
            "SELECT booking_id, kind, amount_minor, currency, payout_id FROM ledger_entries ORDER BY created_at, id";
        let rows: Vec<(Uuid, String, i64, String, Option<Uuid>)> = match &self.db {
            Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
            Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        }
        .expect("ledger readable");
        rows.into_iter()
            .map(|(booking, kind, amount, currency, payout)| Entry {
                booking: booking.to_string(),
                kind,
                amount,
                currency,
                payout: payout.map(|p| p.to_string()),
            })
            .collect()
    }

    /// Payments not settled yet, or with a refund under way.
    pub async fn unsettled(&self) -> i64 {
        const SQL: &str = "SELECT COUNT(*) FROM payments p WHERE p.settled_at IS NULL \
             OR EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'PENDING')";
        match &self.db {
            Db::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
            Db::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
        }
        .expect("payments readable")
    }

    /// How many events of `event_type` payment wrote to its outbox.
    pub async fn outbox_count(&self, event_type: &str) -> i64 {
        const SQL: &str = "SELECT COUNT(*) FROM outbox WHERE event_type = $1";
        match &self.db {
            Db::Postgres(pool) => sqlx::query_scalar(SQL).bind(event_type).fetch_one(pool).await,
            Db::Sqlite(pool) => sqlx::query_scalar(SQL).bind(event_type).fetch_one(pool).await,
        }
        .expect("outbox readable")
    }

    /// The provider intent of a booking's payment.
    pub async fn intent_of(&self, booking: &Booking) -> String {
        const SQL: &str = "SELECT intent_id FROM payments WHERE booking_id = $1";
        let id: Uuid = booking.slot.booking_id.parse().expect("uuid");
        match &self.db {
            Db::Postgres(pool) => sqlx::query_scalar(SQL).bind(id).fetch_one(pool).await,
            Db::Sqlite(pool) => sqlx::query_scalar(SQL).bind(id).fetch_one(pool).await,
        }
        .expect("payment stored")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub booking: String,
    pub kind: String,
    pub amount: i64,
    pub currency: String,
    pub payout: Option<String>,
}

/// The sum of `kind` entries (of `booking` when given).
pub fn total(entries: &[Entry], kind: &str, booking: Option<&Booking>) -> i64 {
    entries
        .iter()
        .filter(|e| e.kind == kind && booking.is_none_or(|b| e.booking == b.slot.booking_id))
        .map(|e| e.amount)
        .sum()
}

/// A valid signature of `body` now.
pub fn sign(body: &[u8]) -> String {
    payment::webhook::signature_header(SECRET.as_bytes(), chrono::Utc::now().timestamp(), body)
}
