//! `spawn()`: booking on a fresh database beside a real identity and tutoring, sharing a bus
//! (see `testkit`); `spawn_saga()` adds the real payment service and its simulated provider.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use booking::service::BookingService;
use chrono::{DateTime, DurationRound, Utc};
use serde_json::{Value, json};
pub use testkit::{User, code};

pub struct Stack {
    pub graph: testkit::Graph,
    pub tutoring: SocketAddr,
    pub booking: SocketAddr,
    pub service: Arc<BookingService>,
    pub db: platform::db::Db,
}

impl std::ops::Deref for Stack {
    type Target = testkit::Graph;
    fn deref(&self) -> &testkit::Graph {
        &self.graph
    }
}

/// A tutor booking knows: profile id, user, and the hourly pricing option (40.00 EUR).
pub struct Tutor {
    pub id: String,
    pub user: User,
    pub hourly: String,
}

pub const REQUEST: &str = "mutation($i: RequestBookingInput!) { requestBooking(input: $i) { id status paid awaitingTutor \
    price { amountMinor currency } session { startsAt endsAt durationMinutes subject meetingUrl } \
    snapshot { tutorName studentName studentEmail originalPrice { amountMinor } } } }";

pub const BOOKING: &str = "query($id: ID!) { booking(id: $id) { id status paid awaitingTutor session { meetingUrl } \
    cancellation { by reason refund { amountMinor } } refunded { amountMinor } } }";

pub async fn spawn() -> Stack {
    spawn_on(testkit::Graph::start(&["booking"]).await, &[]).await
}

/// Booking (and tutoring) joined to `graph`'s shared bus; `env` adds booking settings.
pub async fn spawn_on(graph: testkit::Graph, env: &[(&str, &str)]) -> Stack {
    let tutoring_config =
        tutoring::TutoringConfig::from_env(&graph.env_for("tutoring").await).expect("tutoring config");
    let tutoring_app = tutoring::build(&tutoring_config, graph.shared.clone(), graph.verifier.clone(), &graph.shutdown)
        .await
        .expect("tutoring builds");
    let (listener, tutoring) = testkit::listen().await;
    tokio::spawn(tutoring_app.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));

    let mut booking_env = graph.env_for("booking").await.with("BOOKING_SWEEP_INTERVAL", "100ms");
    for (name, value) in env {
        booking_env = booking_env.with(name, *value);
    }
    let config = booking::BookingConfig::from_env(&booking_env).expect("booking config");
    let app = booking::build(&config, graph.shared.clone(), graph.verifier.clone(), &graph.shutdown)
        .await
        .expect("booking builds");
    let service = app.service.clone();
    let db = app.db.clone();
    let (listener, booking) = testkit::listen().await;
    tokio::spawn(app.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));
    Stack { graph, tutoring, booking, service, db }
}

/// A whole hour `days` days from now (inside the test tutors' availability).
pub fn in_days(days: i64) -> DateTime<Utc> {
    Utc::now().duration_trunc(chrono::Duration::hours(1)).expect("truncates") + chrono::Duration::days(days)
}

/// Polls (bounded: 10 s) until `check` yields a value.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    for _ in 0..400 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

impl Stack {
    /// An operation against booking.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graph.post(self.booking, query, variables, token).await
    }

    pub async fn tutoring_gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graph.post(self.tutoring, query, variables, token).await
    }

    /// Registers a user and waits until booking's projection knows their name.
    pub async fn user(&self, role: &str, name: &str) -> User {
        let user = self.graph.register(role, name).await;
        let id: kernel::UserId = user.id.parse().expect("a user id");
        let store = self.service.store().clone();
        eventually("booking to learn the user", || {
            let store = store.clone();
            async move { store.known_user(id).await.expect("store").map(drop) }
        })
        .await;
        user
    }

    /// A tutor available around the clock (UTC) at 40.00 EUR an hour, once booking knows it.
    pub async fn tutor(&self, name: &str, instant: bool) -> Tutor {
        let user = self.user("TUTOR", name).await;
        let body = self
            .tutoring_gql(
                "mutation($i: CreateTutorProfileInput!) { createTutorProfile(input: $i) { id } }",
                json!({ "i": { "bio": format!("{name} teaches"), "subjects": [{ "name": "maths", "level": "EXPERT" }],
                               "timeZone": "UTC", "instantBooking": instant } }),
                Some(&user.token),
            )
            .await;
        let id = body["data"]["createTutorProfile"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        let weekly: Vec<Value> = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
            .iter()
            .map(|d| json!({ "weekday": d, "start": "00:00", "end": "24:00" }))
            .collect();
        let body = self
            .tutoring_gql(
                "mutation($i: UpdateAvailabilityInput!) { updateAvailability(input: $i) { timeZone } }",
                json!({ "i": { "weekly": weekly } }),
                Some(&user.token),
            )
            .await;
        assert!(body["data"]["updateAvailability"].is_object(), "{body}");
        let body = self
            .tutoring_gql(
                "mutation($i: UpdatePricingInput!) { updatePricing(input: $i) { pricing { options { id } } } }",
                json!({ "i": { "currency": "EUR", "options": [{ "kind": "HOURLY", "amountMinor": 4000 }] } }),
                Some(&user.token),
            )
            .await;
        let hourly = body["data"]["updatePricing"]["pricing"]["options"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned();
        let tutor_id: kernel::TutorId = id.parse().expect("tutor id");
        let store = self.service.store().clone();
        eventually("booking to learn the tutor's calendar and price", || {
            let store = store.clone();
            async move {
                let calendar = store.calendar(tutor_id).await.expect("store")?;
                (!calendar.options.is_empty() && !calendar.weekly.is_empty()).then_some(())
            }
        })
        .await;
        Tutor { id, user, hourly }
    }

    /// `student` requests `minutes` with `tutor` at `starts_at`.
    pub async fn request(&self, student: &User, tutor: &Tutor, starts_at: DateTime<Utc>, minutes: i64) -> Value {
        let input = json!({ "tutorId": tutor.id, "startsAt": starts_at.to_rfc3339(), "durationMinutes": minutes,
                            "subject": "maths", "pricingOptionId": tutor.hourly });
        self.gql(REQUEST, json!({ "i": input }), Some(&student.token)).await
    }

    /// A booking's id after a successful request.
    pub async fn booked(&self, student: &User, tutor: &Tutor, starts_at: DateTime<Utc>, minutes: i64) -> String {
        let body = self.request(student, tutor, starts_at, minutes).await;
        body["data"]["requestBooking"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
    }

    pub async fn booking(&self, id: &str, token: &str) -> Value {
        let body = self.gql(BOOKING, json!({ "id": id }), Some(token)).await;
        body["data"]["booking"].clone()
    }

    /// Waits until the booking reaches `status` (as `token`'s holder sees it).
    pub async fn wait_status(&self, id: &str, token: &str, status: &str) -> Value {
        eventually(&format!("booking {id} to be {status}"), || async move {
            let booking = self.booking(id, token).await;
            (booking["status"] == status).then_some(booking)
        })
        .await
    }
}
