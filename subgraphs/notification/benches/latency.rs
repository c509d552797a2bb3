//! Latency of notification (a benchmark, not a test): `booking.BookingConfirmed` published on the
//! bus → the student's in-app notification stored and its live message on `user:<id>` received
//! (arrival − the envelope's `occurredAt`; the message is published after the commit), with
//! p50/p90/p99/max and throughput.
//!
//! `cargo bench -p notification --bench latency` runs on the in-process bus (and SQLite); with
//! `AMQP_URL=amqp://…` on RabbitMQ (live fan-out through it too), with `DATABASE_URL=postgres://…`
//! on PostgreSQL. `BENCH_EVENTS` (2000) events are sent by `BENCH_CONCURRENCY` (4) clients,
//! each a student with a tutor who waits for its notification before sending the next event.
//! Every event also creates the tutor's notification and two emails (written as `.eml` files by
//! the dispatcher meanwhile), as in the embedded default.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use kernel::events::booking::{BookedSlot, BookingConfirmed};
use kernel::events::identity::UserRegistered;
use kernel::events::tutoring::TutorProfileCreated;
use kernel::{EventEnvelope, Role, UserId};
use notification::service::{LiveNotification, topic};
use platform::bus::{EventBus, MemoryBus, RabbitBus};
use platform::live::Fanout;
use platform::{Env, Shutdown, TokenVerifier};

struct Client {
    student: UserId,
    tutor_profile: uuid::Uuid,
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    std::env::var(name).map_or(Ok(default), |v| v.parse().with_context(|| format!("{name}={v:?} is not a number")))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what:<28} p50 {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or_default()
    );
}

async fn publish<E: kernel::PublishedEvent>(bus: &Arc<dyn EventBus>, event: &E) -> anyhow::Result<EventEnvelope> {
    let envelope = EventEnvelope::wrap(event, None);
    bus.publish(&envelope).await.context("publishing")?;
    Ok(envelope)
}

/// Registers a user (contact and welcome) as identity would.
async fn register(bus: &Arc<dyn EventBus>, role: Role, name: &str) -> anyhow::Result<UserId> {
    let id = UserId::new();
    let event = UserRegistered {
        user_id: id.to_string(),
        email: format!("{name}-{}@bench.example", id.as_uuid().simple()),
        role,
        first_name: name.into(),
        last_name: "Bench".into(),
        registered_at: Utc::now(),
    };
    publish(bus, &event).await?;
    Ok(id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = env_number("BENCH_EVENTS", 2000)?;
    let concurrency = env_number("BENCH_CONCURRENCY", 4)?.max(1);
    let shutdown = Shutdown::new();
    let dir = tempfile::tempdir()?;
    let database_url = platform::db::testing::fresh_database_url(dir.path()).await;
    let broker = std::env::var("AMQP_URL").ok().filter(|u| u.starts_with("amqp"));
    let namespace = format!("bench{}.", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let (bus, fanout, bus_name): (Arc<dyn EventBus>, _, _) = match &broker {
        Some(url) => (
            Arc::new(RabbitBus::new(url, 64).with_namespace(&namespace)),
            Fanout::rabbit(url, &format!("{namespace}notification.live"), &shutdown),
            "RabbitMQ",
        ),
        None => (Arc::new(MemoryBus::new()), Fanout::in_process(), "in-process"),
    };
    let db_name = if database_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    let env = Env::from_pairs([
        ("DATABASE_URL", database_url.as_str()),
        ("AMQP_URL", "memory:"),
        ("RUST_LOG", "warn"),
        ("MAIL_DIR", &dir.path().join("mail").display().to_string()),
    ]);
    let config = notification::NotificationConfig::from_env(&env)?;
    let settings = config.common.jwt.clone();
    let verifier = TokenVerifier::new(Arc::new(platform::auth::StaticKeys::new([])), &settings);
    let app = notification::build(&config, bus.clone(), fanout.clone(), verifier, &shutdown).await?;

    // Contacts and tutors first (as identity and tutoring would have published them).
    let mut clients = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let student = register(&bus, Role::Student, &format!("student{i}")).await?;
        let tutor = register(&bus, Role::Tutor, &format!("tutor{i}")).await?;
        let tutor_profile = uuid::Uuid::now_v7();
        let created = TutorProfileCreated {
            tutor_id: tutor_profile.to_string(),
            user_id: tutor.to_string(),
            time_zone: "UTC".into(),
            instant_booking: true,
            subjects: vec!["maths".into()],
            created_at: Utc::now(),
        };
        publish(&bus, &created).await?;
        clients.push(Client { student, tutor_profile });
    }
    let store = app.service.store().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    for client in &clients {
        while store.tutor_user(client.tutor_profile).await?.is_none()
            || store.of_recipient(client.student, 5).await?.is_empty()
        {
            anyhow::ensure!(Instant::now() < deadline, "the set-up events were not applied within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The live fan-out binds its queue asynchronously on RabbitMQ: wait until it carries.
    let mut probe = fanout.subscribe("bench:probe");
    loop {
        fanout.publish("bench:probe", serde_json::json!(1)).await?;
        if tokio::time::timeout(Duration::from_millis(100), probe.recv()).await.is_ok() {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the live fan-out did not start within 30 s");
    }

    println!(
        "notification latency: {events} BookingConfirmed events, {concurrency} clients, {bus_name} bus, {db_name}"
    );
    let started = Instant::now();
    let per_client = events.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for client in clients {
        let bus = bus.clone();
        let mut live = fanout.subscribe(&topic(client.student));
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let starts_at = Utc::now() + chrono::Duration::days(1);
                let slot = BookedSlot {
                    booking_id: uuid::Uuid::now_v7().to_string(),
                    tutor_id: client.tutor_profile.to_string(),
                    student_id: client.student.to_string(),
                    starts_at,
                    ends_at: starts_at + chrono::Duration::hours(1),
                };
                let event = BookingConfirmed { slot, meeting_url: "https://meet.example/bench".into() };
                let envelope = publish(&bus, &event).await?;
                let message = tokio::time::timeout(Duration::from_secs(30), live.recv()).await??;
                let arrived = Utc::now();
                let stored: LiveNotification = serde_json::from_value(message.payload.clone())?;
                anyhow::ensure!(stored.recipient == client.student, "another user's notification");
                let latency = arrived - envelope.occurred_at;
                samples.push(latency.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::with_capacity(events);
    for task in tasks {
        samples.extend(task.await??);
    }
    let elapsed = started.elapsed();
    let count = samples.len();
    report("published → stored → live", samples);
    println!(
        "throughput: {:.0} events/s ({} events in {:.2} s; each stores 4 notifications)",
        count as f64 / elapsed.as_secs_f64(),
        count,
        elapsed.as_secs_f64()
    );
    shutdown.trigger();
    Ok(())
}
