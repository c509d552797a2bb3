//! The transactional outbox: events are written in the same transaction as the aggregate
//! ([`append_postgres`] / [`append_sqlite`]) and published by a [`Relay`], which marks a row
//! sent only once the bus has confirmed it. A crash between the two republishes the event;
//! consumers' inboxes make that harmless. An appended event carries the trace context of the
//! request that wrote it, so its consumers continue that trace.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kernel::EventEnvelope;
use sqlx::{PgConnection, SqliteConnection};
use tokio::sync::Notify;

use crate::bus::EventBus;
use crate::db::Db;
use crate::shutdown::Shutdown;
use crate::telemetry::stamp_trace_context;

const BATCH: i64 = 100;

/// The relays of this process. Appending events wakes them, so an event is published within
/// milliseconds of its commit instead of at the next poll. The wake comes before the commit
/// (the append is inside the transaction): a woken relay looks again a few times in quick
/// succession. Polling stays as the fallback (other processes' appends, missed wakes).
static RELAYS: Mutex<Vec<Weak<Notify>>> = Mutex::new(Vec::new());

fn wake_relays() {
    let mut relays = RELAYS.lock().unwrap_or_else(|p| p.into_inner());
    relays.retain(|relay| match relay.upgrade() {
        Some(wake) => {
            wake.notify_one();
            true
        }
        None => false,
    });
}

/// Quick looks after a wake (2 ms apart) before falling back to the poll interval.
const EAGER_LOOKS: u32 = 10;

/// Appends events inside the caller's PostgreSQL transaction.
pub async fn append_postgres(conn: &mut PgConnection, events: &[EventEnvelope]) -> Result<(), sqlx::Error> {
    for event in events {
        let event = stamp_trace_context(event);
        sqlx::query("INSERT INTO outbox (event_id, event_type, envelope) VALUES ($1, $2, $3)")
            .bind(event.id)
            .bind(&event.event_type)
            .bind(sqlx::types::Json(&*event))
            .execute(&mut *conn)
            .await?;
    }
    if !events.is_empty() {
        wake_relays();
    }
    Ok(())
}

/// Appends events inside the caller's SQLite transaction.
pub async fn append_sqlite(conn: &mut SqliteConnection, events: &[EventEnvelope]) -> Result<(), sqlx::Error> {
    for event in events {
        let event = stamp_trace_context(event);
        sqlx::query("INSERT INTO outbox (event_id, event_type, envelope) VALUES (?1, ?2, ?3)")
            .bind(event.id.to_string())
            .bind(&event.event_type)
            .bind(serde_json::to_string(&*event).expect("an envelope serialises to JSON"))
            .execute(&mut *conn)
            .await?;
    }
    if !events.is_empty() {
        wake_relays();
    }
    Ok(())
}

/// Publishes a context's outbox to the bus, in order, until shutdown.
#[derive(Clone)]
pub struct Relay {
    db: Db,
    bus: Arc<dyn EventBus>,
    service: String,
    poll_interval: Duration,
}

impl Relay {
    pub fn new(db: Db, bus: Arc<dyn EventBus>, service: &str) -> Self {
        Self { db, bus, service: service.to_owned(), poll_interval: Duration::from_millis(100) }
    }

    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Runs until `shutdown`; a failing bus is retried with backoff, never skipped. Woken by
    /// appends in this process; polls every `poll_interval` otherwise.
    pub async fn run(self, shutdown: Shutdown) {
        let wake = Arc::new(Notify::new());
        RELAYS.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(&wake));
        let mut backoff = self.poll_interval;
        let mut eager = 0;
        while !shutdown.is_triggered() {
            let (pause, failing) = match self.publish_pending().await {
                Ok(published) if published > 0 => {
                    backoff = self.poll_interval;
                    eager = 0;
                    continue;
                }
                Ok(_) if eager > 0 => {
                    eager -= 1;
                    (Duration::from_millis(2), false)
                }
                Ok(_) => {
                    self.record_backlog().await;
                    (self.poll_interval, false)
                }
                Err(error) => {
                    tracing::warn!(service = %self.service, %error, retry_in = ?backoff, "outbox relay: publishing failed");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    self.record_backlog().await;
                    (backoff, true)
                }
            };
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = tokio::time::sleep(pause) => {}
                // While the bus fails, appends do not cut the backoff short.
                _ = wake.notified(), if !failing => eager = EAGER_LOOKS,
            }
        }
        tracing::debug!(service = %self.service, "outbox relay stopped");
    }

    /// Publishes one batch of pending events; returns how many were published.
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        match &self.db {
            Db::Postgres(pool) => self.publish_postgres(pool).await,
            Db::Sqlite(pool) => self.publish_sqlite(pool).await,
        }
    }

    async fn publish_postgres(&self, pool: &sqlx::PgPool) -> Result<usize, RelayError> {
        let mut tx = pool.begin().await?;
        // SKIP LOCKED lets several replicas relay the same outbox without publishing a row twice
        // at once; the row lock is held until it is marked.
        let rows: Vec<(i64, sqlx::types::Json<EventEnvelope>)> = sqlx::query_as(
            "SELECT seq, envelope FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut published = 0;
        let mut failure = None;
        for (seq, envelope) in &rows {
            if let Err(error) = self.bus.publish(envelope).await {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1")
                    .bind(seq)
                    .bind(error.to_string())
                    .execute(&mut *tx)
                    .await?;
                failure = Some(error);
                break;
            }
            sqlx::query("UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE seq = $1")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            published += 1;
        }
        tx.commit().await?;
        self.count_published(published);
        failure.map_or(Ok(published), |e| Err(RelayError::Bus(e)))
    }

    async fn publish_sqlite(&self, pool: &sqlx::SqlitePool) -> Result<usize, RelayError> {
        // One relay per SQLite file (one process owns it), so no row locking is needed.
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, envelope FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?1")
                .bind(BATCH)
                .fetch_all(pool)
                .await?;
        let mut published = 0;
        for (seq, raw) in &rows {
            let envelope: EventEnvelope = serde_json::from_str(raw).map_err(RelayError::Corrupt)?;
            if let Err(error) = self.bus.publish(&envelope).await {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1")
                    .bind(seq)
                    .bind(error.to_string())
                    .execute(pool)
                    .await?;
                self.count_published(published);
                return Err(RelayError::Bus(error));
            }
            sqlx::query(
                "UPDATE outbox SET published_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), attempts = attempts + 1 WHERE seq = ?1",
            )
            .bind(seq)
            .execute(pool)
            .await?;
            published += 1;
        }
        self.count_published(published);
        Ok(published)
    }

    fn count_published(&self, n: usize) {
        if n > 0 {
            metrics::counter!("outbox_published_total", "service" => self.service.clone()).increment(n as u64);
        }
    }

    /// Events written but not yet published.
    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        let sql = "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL";
        match &self.db {
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
    }

    async fn record_backlog(&self) {
        if let Ok(backlog) = self.backlog().await {
            metrics::gauge!("outbox_backlog", "service" => self.service.clone()).set(backlog as f64);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("bus: {0}")]
    Bus(crate::bus::BusError),
    #[error("an outbox row is not a valid envelope: {0}")]
    Corrupt(serde_json::Error),
}
