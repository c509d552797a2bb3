//! `edustream bench tutor-search`: latency of tutor search over many generated tutors.
//!
//! Seeds `--tutors` profiles (subjects, prices in EUR and USD, weekly schedules, ratings for most
//! of them) through tutoring's store in batches of 1000, then runs each query shape
//! `--requests` times through the GraphQL schema in-process (parsing, search, loading the page's
//! profiles) and prints p50/p99 per shape. SQLite in a temporary directory unless
//! `--database-url` names a PostgreSQL database (it must be empty or hold an earlier seed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tutoring::domain::{
    Currency, Level, Pricing, PricingKind, PricingOption, Rating, Schedule, Subject, Tutor, TutorId, UserId,
    WeeklyWindow,
};
use tutoring::store::TutorStore;

pub struct Options {
    pub tutors: usize,
    pub requests: usize,
    pub database_url: Option<String>,
}

const SUBJECTS: [&str; 24] = [
    "maths",
    "physics",
    "chemistry",
    "biology",
    "english",
    "french",
    "spanish",
    "german",
    "history",
    "geography",
    "piano",
    "guitar",
    "violin",
    "chess",
    "python",
    "rust",
    "statistics",
    "economics",
    "philosophy",
    "latin",
    "art",
    "music theory",
    "calculus",
    "linear algebra",
];
const WORDS: [&str; 12] = [
    "patient",
    "experienced",
    "friendly",
    "exam",
    "olympiad",
    "beginner",
    "advanced",
    "fun",
    "rigorous",
    "native",
    "certified",
    "online",
];
const ZONES: [&str; 6] =
    ["Europe/Paris", "Europe/London", "America/New_York", "America/Sao_Paulo", "Asia/Tokyo", "UTC"];

pub async fn tutor_search(options: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = options.database_url.clone().unwrap_or_else(|| format!("sqlite:{}/tutoring.db", dir.path().display()));
    let db = platform::Db::connect(&url, tutoring::MIGRATIONS).await.context("the benchmark database")?;
    let store = tutoring::store::for_db(&db);
    let service = Arc::new(tutoring::service::TutoringService::new(store.clone()));

    let existing = service
        .search(tutoring::service::Search {
            first: 1,
            sort: Some(tutoring::store::SortBy::Newest),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if existing.tutors.is_empty() {
        let started = Instant::now();
        seed(&store, options.tutors).await?;
        println!("seeded {} tutors in {:.1?} ({})", options.tutors, started.elapsed(), platform::db::redact(&url));
    } else {
        println!("using the tutors already in {}", platform::db::redact(&url));
    }

    // Fresh statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize` would leave them in a
    // running service: right after a bulk load the planners guess, and badly.
    match &db {
        platform::Db::Postgres(pool) => sqlx::query("VACUUM ANALYZE").execute(pool).await.map(drop),
        platform::Db::Sqlite(pool) => sqlx::query("ANALYZE").execute(pool).await.map(drop),
    }
    .context("refreshing the planner's statistics")?;
    let schema = tutoring::schema::build(Some(service));
    let next_week = Utc::now().date_naive() + chrono::Duration::days(7);
    let from = next_week.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).context("date")?;
    let to = from + chrono::Duration::days(2);
    let shapes: Vec<(&str, String, serde_json::Value)> = vec![
        ("subject, by rating", "{ tutors(filter: { subject: \"maths\" }, first: 20) { edges { node { id bio rating { average } } } } }".into(), json!({})),
        (
            "subject + price range, by price",
            "query($f: TutorFilter) { tutors(filter: $f, sort: PRICE, first: 20) { edges { node { id pricing { lowestHourly { amountMinor } } } } } }".into(),
            json!({ "f": { "subject": "physics", "minPrice": { "amountMinor": 3000, "currency": "EUR" }, "maxPrice": { "amountMinor": 6000, "currency": "EUR" } } }),
        ),
        ("text, newest", "{ tutors(filter: { text: \"olympiad rust\" }, sort: NEWEST, first: 20) { edges { node { id } } } }".into(), json!({})),
        ("min rating + verified", "{ tutors(filter: { minRating: 4.5, verifiedOnly: true }, first: 20) { edges { node { id } } } }".into(), json!({})),
        (
            "subject + available in 2 days",
            "query($f: TutorFilter) { tutors(filter: $f, first: 10) { edges { node { id } } } }".into(),
            json!({ "f": { "subject": "chess", "availableFrom": from, "availableTo": to } }),
        ),
        ("no filter, full profiles", "{ tutors(first: 20) { edges { node { id bio subjects { name level } weeklyAvailability { weekday start end } pricing { options { kind price { amountMinor } } } certifications { name } education { institution } rating { average count } } } pageInfo { endCursor } } }".into(), json!({})),
    ];
    println!(
        "tutor search over {} tutors, {} sequential requests per shape (in-process GraphQL)",
        options.tutors, options.requests
    );
    for (name, query, variables) in shapes {
        let request = || {
            async_graphql::Request::new(query.clone()).variables(async_graphql::Variables::from_json(variables.clone()))
        };
        let warm = schema.execute(request()).await;
        if !warm.errors.is_empty() {
            anyhow::bail!("{name}: {:?}", warm.errors);
        }
        let mut latencies = Vec::with_capacity(options.requests);
        let mut results = 0;
        for _ in 0..options.requests {
            let started = Instant::now();
            let response = schema.execute(request()).await;
            latencies.push(started.elapsed());
            results = response.data.into_json()?["tutors"]["edges"].as_array().map_or(0, Vec::len);
        }
        report(name, &mut latencies, results);
    }
    // Deep pagination: ten pages through cursors.
    let mut latencies = Vec::new();
    for _ in 0..(options.requests / 10).max(1) {
        let mut after: Option<String> = None;
        for _ in 0..10 {
            let request = async_graphql::Request::new(
                "query($a: String) { tutors(filter: { subject: \"english\" }, sort: PRICE, first: 20, after: $a) { edges { node { id } } pageInfo { endCursor } } }",
            )
            .variables(async_graphql::Variables::from_json(json!({ "a": after })));
            let started = Instant::now();
            let response = schema.execute(request).await;
            latencies.push(started.elapsed());
            after = response.data.into_json()?["tutors"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }
    report("pages 1–10 by price (cursors)", &mut latencies, 20);
    db.close().await;
    Ok(())
}

fn report(name: &str, latencies: &mut [Duration], results: usize) {
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("  {name:<34} p50 {:>9.2?}  p99 {:>9.2?}  ({results} results)", pct(0.50), pct(0.99));
}

/// Generates `n` tutors deterministically and writes them through tutoring's store.
async fn seed(store: &Arc<dyn TutorStore>, n: usize) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(42);
    let eur = Currency::parse("EUR").context("EUR")?;
    let usd = Currency::parse("USD").context("USD")?;
    let mut pending = Vec::new();
    for i in 0..n {
        let now = Utc::now();
        let mut subjects = Vec::new();
        for _ in 0..rng.gen_range(1..=4) {
            let name = SUBJECTS[rng.gen_range(0..SUBJECTS.len())];
            if !subjects.iter().any(|s: &Subject| s.name == name) {
                let level = [Level::Beginner, Level::Intermediate, Level::Advanced, Level::Expert][rng.gen_range(0..4)];
                subjects.push(Subject::new(name, level)?);
            }
        }
        let bio: Vec<&str> = (0..6).map(|_| WORDS[rng.gen_range(0..WORDS.len())]).collect();
        let mut weekly = Vec::new();
        for weekday in 1..=7u8 {
            if rng.gen_bool(0.4) {
                let start = rng.gen_range(7..=14u16) * 60;
                weekly.push(WeeklyWindow {
                    weekday,
                    start_minute: start,
                    end_minute: start + rng.gen_range(2..=5) * 60,
                });
            }
        }
        let zone = ZONES[rng.gen_range(0..ZONES.len())].parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let hourly = rng.gen_range(15..=120) * 100;
        let mut options =
            vec![PricingOption { id: uuid::Uuid::now_v7(), kind: PricingKind::Hourly, amount_minor: hourly }];
        if rng.gen_bool(0.3) {
            let sessions = 10;
            options.push(PricingOption {
                id: uuid::Uuid::now_v7(),
                kind: PricingKind::Package { sessions },
                amount_minor: hourly * i64::from(sessions) * 85 / 100,
            });
        }
        let tutor = Tutor {
            id: TutorId::new(),
            user_id: UserId::new(),
            bio: format!("{} tutor number {i}", bio.join(" ")),
            subjects,
            instant_booking: rng.gen_bool(0.5),
            verified: rng.gen_bool(0.2),
            schedule: Schedule::new(zone, weekly, Vec::new())?,
            pricing: Some(Pricing::new(if rng.gen_bool(0.8) { eur } else { usd }, options)?),
            certifications: Vec::new(),
            education: Vec::new(),
            // Most tutors have reviews: 1–40 of them, averaging 2.5–5.
            rating: if rng.gen_bool(0.6) {
                let count = rng.gen_range(1..=40);
                Rating { count, sum: count * rng.gen_range(250..=500) / 100 }
            } else {
                Rating::default()
            },
            availability_revision: 1,
            pricing_revision: 1,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        pending.push(tutor);
        if pending.len() == 1_000 {
            store.insert_many(&pending).await?;
            pending.clear();
        }
        if (i + 1) % 10_000 == 0 {
            println!("  … {} tutors", i + 1);
        }
    }
    store.insert_many(&pending).await?;
    Ok(())
}
