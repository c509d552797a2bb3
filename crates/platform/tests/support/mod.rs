//! What the event-delivery tests share: a fresh database with an `effects` table, events of a
//! producer unique to the test, and a handler that applies an effect through the inbox.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kernel::EventEnvelope;
use platform::bus::{EventHandler, HandlerError};
use platform::db::{Db, Migrations};
use platform::inbox;
use tokio::sync::Notify;

pub static TEST_MIGRATIONS: Migrations = Migrations {
    postgres: &sqlx::migrate!("./tests/migrations/postgres"),
    sqlite: &sqlx::migrate!("./tests/migrations/sqlite"),
};

pub struct TestDb {
    pub db: Db,
    _dir: tempfile::TempDir,
}

pub async fn fresh_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = platform::db::testing::fresh_database_url(dir.path()).await;
    let db = Db::connect(&url, TEST_MIGRATIONS).await.expect("test database opens");
    TestDb { db, _dir: dir }
}

/// A producer name no other test uses, so exchanges and queues don't mix.
pub fn unique_producer() -> String {
    format!("t{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

pub fn event(producer: &str, n: u32) -> EventEnvelope {
    let id = uuid::Uuid::now_v7();
    EventEnvelope {
        id,
        event_type: format!("{producer}.Happened"),
        version: 1,
        occurred_at: chrono::Utc::now(),
        producer: producer.to_owned(),
        aggregate_id: format!("agg-{n}"),
        correlation_id: id,
        causation_id: None,
        payload: serde_json::json!({ "n": n }),
        trace_context: Default::default(),
    }
}

pub async fn append(db: &Db, events: &[EventEnvelope]) {
    match db {
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await.expect("begin");
            platform::outbox::append_postgres(&mut tx, events).await.expect("append");
            tx.commit().await.expect("commit");
        }
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await.expect("begin");
            platform::outbox::append_sqlite(&mut tx, events).await.expect("append");
            tx.commit().await.expect("commit");
        }
    }
}

/// How many times `consumer` applied `event_id`'s effect.
pub async fn effects(db: &Db, consumer: &str, event_id: uuid::Uuid) -> i64 {
    let sql = "SELECT COUNT(*) FROM effects WHERE consumer = $1 AND event_id = $2";
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(sql).bind(consumer).bind(event_id.to_string()).fetch_one(pool).await,
        Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(consumer).bind(event_id.to_string()).fetch_one(pool).await,
    }
    .expect("count effects")
}

pub async fn backlog(db: &Db) -> i64 {
    let sql = "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL";
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .expect("count backlog")
}

/// What the handler does after it committed: return normally, or hang (a crash before ack).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AfterCommit {
    Ack,
    HangFirstTime,
}

/// Applies an effect (a row in `effects`) and records the inbox in one transaction.
pub struct InboxHandler {
    pub db: Db,
    pub consumer: String,
    /// Deliveries seen, redeliveries included.
    pub deliveries: AtomicUsize,
    /// Transient failures still to simulate before succeeding.
    pub fail_first: AtomicUsize,
    pub after_commit: AfterCommit,
    pub committed: Notify,
}

impl InboxHandler {
    pub fn new(db: &Db, consumer: &str) -> Arc<Self> {
        Self::with(db, consumer, 0, AfterCommit::Ack)
    }

    pub fn with(db: &Db, consumer: &str, fail_first: usize, after_commit: AfterCommit) -> Arc<Self> {
        Arc::new(Self {
            db: db.clone(),
            consumer: consumer.to_owned(),
            deliveries: AtomicUsize::new(0),
            fail_first: AtomicUsize::new(fail_first),
            after_commit,
            committed: Notify::new(),
        })
    }

    pub fn deliveries(&self) -> usize {
        self.deliveries.load(Ordering::SeqCst)
    }

    async fn apply(&self, event: &EventEnvelope) -> Result<(), sqlx::Error> {
        let id = event.id.to_string();
        match &self.db {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if inbox::record_postgres(&mut tx, &self.consumer, event).await? {
                    sqlx::query("INSERT INTO effects (consumer, event_id) VALUES ($1, $2)")
                        .bind(&self.consumer)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            }
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                if inbox::record_sqlite(&mut tx, &self.consumer, event).await? {
                    sqlx::query("INSERT INTO effects (consumer, event_id) VALUES (?1, ?2)")
                        .bind(&self.consumer)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            }
        }
    }
}

#[async_trait]
impl EventHandler for InboxHandler {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let delivery = self.deliveries.fetch_add(1, Ordering::SeqCst);
        let remaining = self.fail_first.load(Ordering::SeqCst);
        if remaining > 0 {
            self.fail_first.store(remaining - 1, Ordering::SeqCst);
            return Err(HandlerError::Transient("simulated outage".into()));
        }
        self.apply(event).await.map_err(|e| HandlerError::Transient(e.to_string()))?;
        self.committed.notify_one();
        if self.after_commit == AfterCommit::HangFirstTime && delivery == 0 {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Waits for a condition that the system under test brings about; the deadline only bounds a
/// broken run, it is not what the test measures.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
