//! `edustream bench saga`: end-to-end latency of the booking saga, from `requestBooking` to the
//! booking's confirmation, with identity, tutoring, booking and payment (and its simulated
//! provider, webhooks over HTTP) in this process on SQLite, over the in-process bus or RabbitMQ
//! (`--amqp-url`; exchanges and queues get a namespace of their own).
//!
//! Each of `--concurrency` clients is a student booking an instant-booking tutor of their own,
//! one session after another: request, pay as soon as payment has opened the intent (the client
//! retries while it answers `NOT_FOUND`), and wait for `BookingConfirmed` on the bus. The latency
//! is request sent → `BookingConfirmed` received: every hop of the saga, both outbox relays and
//! the provider's webhook included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_trait::async_trait;
use chrono::{DurationRound, Utc};
use kernel::EventEnvelope;
use platform::bus::{Binding, EventBus, EventHandler, HandlerError, MemoryBus, RabbitBus, Subscription};
use platform::{Env, Shutdown};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub struct Options {
    pub bookings: usize,
    pub concurrency: usize,
    pub amqp_url: Option<String>,
}

/// When each booking's confirmation reached the bus.
#[derive(Default)]
struct Confirmations {
    at: Mutex<HashMap<String, Instant>>,
    arrived: Notify,
}

#[async_trait]
impl EventHandler for Confirmations {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        self.at.lock().unwrap_or_else(|p| p.into_inner()).insert(event.aggregate_id.clone(), Instant::now());
        self.arrived.notify_waiters();
        Ok(())
    }
}

impl Confirmations {
    async fn wait(&self, booking: &str) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.arrived.notified();
            if let Some(at) = self.at.lock().unwrap_or_else(|p| p.into_inner()).get(booking) {
                return Ok(*at);
            }
            if Instant::now() > deadline {
                bail!("booking {booking} was not confirmed within 30 s");
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }
}

struct Services {
    identity: String,
    tutoring: String,
    booking: String,
    payment: String,
    booking_service: Arc<booking::service::BookingService>,
}

pub async fn saga(options: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let shutdown = Shutdown::new();
    let (bus, label): (Arc<dyn EventBus>, String) = match &options.amqp_url {
        Some(url) => {
            let namespace = format!("bench{}.", &uuid::Uuid::now_v7().simple().to_string()[20..]);
            (Arc::new(RabbitBus::new(url, 64).with_namespace(&namespace)), format!("RabbitMQ ({url})"))
        }
        None => (Arc::new(MemoryBus::new()), "the in-process bus".to_owned()),
    };
    let confirmations = Arc::new(Confirmations::default());
    let subscription = Subscription {
        queue: "bench.confirmed".into(),
        bindings: vec![Binding::event("booking.BookingConfirmed")],
        handler: confirmations.clone(),
    };
    bus.subscribe(subscription, shutdown.clone()).await.context("subscribing to confirmations")?;
    let services = start(dir.path(), bus, &shutdown).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(options.concurrency * 4).build()?;

    let concurrency = options.concurrency.max(1);
    let per_client = options.bookings.div_ceil(concurrency);
    let mut pairs = Vec::new();
    for i in 0..concurrency {
        pairs.push(pair(&client, &services, i).await?);
    }
    let services = Arc::new(services);
    let first_start = Utc::now().duration_trunc(chrono::Duration::hours(1))? + chrono::Duration::days(1);

    // Warm-up: one booking per client.
    let started = Instant::now();
    let mut workers = Vec::new();
    for (i, (student, tutor, option)) in pairs.into_iter().enumerate() {
        let (client, services, confirmations) = (client.clone(), services.clone(), confirmations.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..=per_client {
                let starts = first_start + chrono::Duration::hours(n as i64) + chrono::Duration::minutes(i as i64 % 4);
                let latency = one(&client, &services, &confirmations, &student, &tutor, &option, starts).await?;
                if n > 0 {
                    latencies.push(latency);
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "booking saga (request → CONFIRMED) over {label}: {} bookings, {concurrency} concurrent clients",
        latencies.len()
    );
    println!("  p50 {:?}  p90 {:?}  p99 {:?}  max {:?}", pct(0.50), pct(0.90), pct(0.99), pct(1.0));
    println!("  {:.1} confirmed bookings/s", (latencies.len() + concurrency) as f64 / elapsed.as_secs_f64());
    shutdown.trigger();
    Ok(())
}

async fn start(dir: &std::path::Path, bus: Arc<dyn EventBus>, shutdown: &Shutdown) -> anyhow::Result<Services> {
    let env = Env::process()
        .with("DATA_DIR", dir.display().to_string())
        .with("AMQP_URL", "memory:")
        .with("REDIS_URL", "")
        .with("LOGIN_MAX_FAILURES_PER_ADDRESS", "1000000");
    let db = |name: &str| format!("sqlite:{}/{name}.db", dir.display());
    let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a local port") };

    let identity_config = identity::IdentityConfig::from_env(&env.clone().with("DATABASE_URL", db("identity")))?;
    let identity = identity::build(&identity_config, bus.clone(), shutdown).await?;
    let verifier = identity.verifier.clone();
    let listener = bind().await?;
    let identity_url = format!("http://{}/graphql", listener.local_addr()?);
    tokio::spawn(identity.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let tutoring_config = tutoring::TutoringConfig::from_env(&env.clone().with("DATABASE_URL", db("tutoring")))?;
    let tutoring = tutoring::build(&tutoring_config, bus.clone(), verifier.clone(), shutdown).await?;
    let listener = bind().await?;
    let tutoring_url = format!("http://{}/graphql", listener.local_addr()?);
    tokio::spawn(tutoring.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let booking_config = booking::BookingConfig::from_env(&env.clone().with("DATABASE_URL", db("booking")))?;
    let booking = booking::build(&booking_config, bus.clone(), verifier.clone(), shutdown).await?;
    let booking_service = booking.service.clone();
    let listener = bind().await?;
    let booking_url = format!("http://{}/graphql", listener.local_addr()?);
    tokio::spawn(booking.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let listener = bind().await?;
    let payment_addr = listener.local_addr()?;
    let payment_env = env
        .with("DATABASE_URL", db("payment"))
        .with("PAYMENT_WEBHOOK_SECRET", format!("whsec_bench_{}", uuid::Uuid::now_v7().simple()))
        .with("PAYMENT_WEBHOOK_URL", format!("http://{payment_addr}/webhooks/provider"));
    let payment_config = payment::PaymentConfig::from_env(&payment_env)?;
    let provider = payment::SimulatedProvider::start(
        payment_config.webhook_secret.clone(),
        payment_config.webhook_url.clone(),
        shutdown,
    );
    let payment = payment::build(&payment_config, bus, verifier, provider, shutdown).await?;
    tokio::spawn(payment.serve(listener, shutdown.clone(), Duration::from_secs(1)));
    Ok(Services {
        identity: identity_url,
        tutoring: tutoring_url,
        booking: booking_url,
        payment: format!("http://{payment_addr}/graphql"),
        booking_service,
    })
}

async fn gql(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
    token: Option<&str>,
) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.json().await?)
}

async fn register(client: &reqwest::Client, services: &Services, role: &str, n: usize) -> anyhow::Result<String> {
    let email = format!("bench-{role}-{n}-{}@example.org", uuid::Uuid::now_v7().simple()).to_lowercase();
    let query = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }";
    let input = json!({ "email": email, "password": "a long benchmark password", "firstName": "Bench",
                        "lastName": format!("{role} {n}"), "role": role });
    let body = gql(client, &services.identity, query, json!({ "i": input }), None).await?;
    body["data"]["register"]["accessToken"].as_str().map(str::to_owned).with_context(|| format!("register: {body}"))
}

/// A student and an instant-booking tutor available around the clock; returns (student token,
/// tutor id, pricing option id) once booking knows the tutor's calendar and price.
async fn pair(client: &reqwest::Client, services: &Services, n: usize) -> anyhow::Result<(String, String, String)> {
    let student = register(client, services, "STUDENT", n).await?;
    let tutor = register(client, services, "TUTOR", n).await?;
    let created = gql(
        client,
        &services.tutoring,
        "mutation($i: CreateTutorProfileInput!) { createTutorProfile(input: $i) { id } }",
        json!({ "i": { "bio": "Benchmarks", "subjects": [{ "name": "maths", "level": "EXPERT" }], "timeZone": "UTC",
                       "instantBooking": true } }),
        Some(&tutor),
    )
    .await?;
    let tutor_id =
        created["data"]["createTutorProfile"]["id"].as_str().with_context(|| format!("{created}"))?.to_owned();
    let weekly: Vec<Value> = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
        .iter()
        .map(|d| json!({ "weekday": d, "start": "00:00", "end": "24:00" }))
        .collect();
    let mutation = "mutation($i: UpdateAvailabilityInput!) { updateAvailability(input: $i) { id } }";
    gql(client, &services.tutoring, mutation, json!({ "i": { "weekly": weekly } }), Some(&tutor)).await?;
    let priced = gql(
        client,
        &services.tutoring,
        "mutation($i: UpdatePricingInput!) { updatePricing(input: $i) { pricing { options { id } } } }",
        json!({ "i": { "currency": "EUR", "options": [{ "kind": "HOURLY", "amountMinor": 4000 }] } }),
        Some(&tutor),
    )
    .await?;
    let option = priced["data"]["updatePricing"]["pricing"]["options"][0]["id"]
        .as_str()
        .with_context(|| format!("{priced}"))?
        .to_owned();
    let id: kernel::TutorId = tutor_id.parse()?;
    for _ in 0..1000 {
        let calendar = services.booking_service.store().calendar(id).await?;
        if calendar.is_some_and(|c| !c.options.is_empty() && !c.weekly.is_empty()) {
            return Ok((student, tutor_id, option));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("booking never learned tutor {tutor_id}'s calendar")
}

async fn one(
    client: &reqwest::Client,
    services: &Services,
    confirmations: &Confirmations,
    student: &str,
    tutor: &str,
    option: &str,
    starts_at: chrono::DateTime<Utc>,
) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    let input = json!({ "tutorId": tutor, "startsAt": starts_at.to_rfc3339(), "durationMinutes": 60,
                        "subject": "maths", "pricingOptionId": option });
    let body = gql(
        client,
        &services.booking,
        "mutation($i: RequestBookingInput!) { requestBooking(input: $i) { id } }",
        json!({ "i": input }),
        Some(student),
    )
    .await?;
    let id =
        body["data"]["requestBooking"]["id"].as_str().with_context(|| format!("requestBooking: {body}"))?.to_owned();
    let pay = "mutation($b: ID!) { payForBooking(bookingId: $b, paymentMethod: \"pm_card_visa\") { id } }";
    loop {
        let body = gql(client, &services.payment, pay, json!({ "b": id }), Some(student)).await?;
        if body["data"]["payForBooking"]["id"].is_string() {
            break;
        }
        if body["errors"][0]["extensions"]["code"] != "NOT_FOUND" || sent.elapsed() > Duration::from_secs(30) {
            bail!("payForBooking: {body}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let confirmed = confirmations.wait(&id).await?;
    Ok(confirmed.duration_since(sent))
}
