//! The repository of the review context: one trait, and its PostgreSQL and SQLite adapters
//! generated from one portable body (as in tutoring). Every write is one transaction with its
//! outbox events; the booking projection records the event in the inbox in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use platform::db::placeholders;
use uuid::Uuid;

use crate::domain::{BookingId, CompletedBooking, DomainError, Review, ReviewId, Stars, Status, TutorId, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("this booking already has a review")]
    AlreadyReviewed,
    #[error("you already flagged this review")]
    AlreadyFlagged,
    #[error("no such review")]
    NotFound,
    #[error("the review changed meanwhile; retry")]
    StaleRevision,
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
}

/// Decides what a new flag does to the review (given the count of unsettled flags, this one
/// included) and returns the events to append; runs inside the flag's transaction.
pub type FlagDecision<'a> = &'a (dyn Fn(&mut Review, i64) -> Vec<EventEnvelope> + Send + Sync);

#[async_trait]
pub trait ReviewStore: Send + Sync {
    async fn completed_booking(&self, booking: BookingId) -> Result<Option<CompletedBooking>, StoreError>;
    /// `false` when the event was applied before.
    async fn apply_completed(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        booking: &CompletedBooking,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Fails with [`StoreError::AlreadyReviewed`] when the booking has a review (even deleted).
    async fn insert(&self, review: &Review, events: &[EventEnvelope]) -> Result<(), StoreError>;
    async fn review(&self, id: ReviewId) -> Result<Option<Review>, StoreError>;
    async fn reviews(&self, ids: &[ReviewId]) -> Result<Vec<Review>, StoreError>;
    async fn reviews_of_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Review>, StoreError>;
    /// Saves the review if it is still at `review.revision - 1`.
    async fn save(&self, review: &Review, events: &[EventEnvelope]) -> Result<(), StoreError>;
    /// Records a flag (once per user) and applies `decide` to the review, in one transaction.
    async fn flag(
        &self,
        review: ReviewId,
        flagger: UserId,
        reason: &str,
        now: DateTime<Utc>,
        decide: FlagDecision<'_>,
    ) -> Result<Review, StoreError>;
    /// A tutor's published reviews, newest first, after the review `after`.
    async fn tutor_reviews(&self, tutor: TutorId, after: Option<Uuid>, limit: i64) -> Result<Vec<Review>, StoreError>;
}

pub fn for_db(db: &platform::db::Db) -> std::sync::Arc<dyn ReviewStore> {
    match db {
        platform::db::Db::Postgres(pool) => std::sync::Arc::new(PostgresStore::new(pool.clone())),
        platform::db::Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}

const COLUMNS: &str = "id, booking_id, tutor_id, student_id, rating, comment, status, revision, created_at, updated_at, \
     edited_at, moderated_at";

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $pool:ty, $conn:ty, $begin:path, $inbox:path, $outbox:path, $lock:literal) => {
        pub struct $store {
            pool: $pool,
        }

        impl $store {
            pub fn new(pool: $pool) -> Self {
                Self { pool }
            }

            async fn by(&self, column: &str, ids: &[Uuid]) -> Result<Vec<Review>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = format!("SELECT {COLUMNS} FROM reviews WHERE {column} IN ({})", placeholders(1, chunk.len()));
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    for row in query.fetch_all(&self.pool).await? {
                        out.push(review_row(&row)?);
                    }
                }
                Ok(out)
            }
        }

        fn review_row(r: &<$db as sqlx::Database>::Row) -> Result<Review, StoreError> {
            use sqlx::Row as _;
            let status: String = r.try_get("status")?;
            let rating: i16 = r.try_get("rating")?;
            Ok(Review {
                id: ReviewId::from_uuid(r.try_get("id")?),
                booking_id: BookingId::from_uuid(r.try_get("booking_id")?),
                tutor_id: TutorId::from_uuid(r.try_get("tutor_id")?),
                student_id: UserId::from_uuid(r.try_get("student_id")?),
                rating: Stars::new(i64::from(rating)).map_err(|_| StoreError::Corrupt(format!("rating {rating}")))?,
                comment: r.try_get("comment")?,
                status: Status::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
                revision: r.try_get("revision")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                edited_at: r.try_get("edited_at")?,
                moderated_at: r.try_get("moderated_at")?,
            })
        }

        async fn update(conn: &mut $conn, review: &Review) -> Result<(), StoreError> {
            let updated = sqlx::query(
                "UPDATE reviews SET rating = $2, comment = $3, status = $4, revision = $5, updated_at = $6, \
                 edited_at = $7, moderated_at = $8 WHERE id = $1 AND revision = $9",
            )
            .bind(review.id.as_uuid())
            .bind(i16::from(review.rating.get()))
            .bind(&review.comment)
            .bind(review.status.as_str())
            .bind(review.revision)
            .bind(review.updated_at)
            .bind(review.edited_at)
            .bind(review.moderated_at)
            .bind(review.revision - 1)
            .execute(&mut *conn)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::StaleRevision);
            }
            Ok(())
        }

        #[async_trait]
        impl ReviewStore for $store {
            async fn completed_booking(&self, booking: BookingId) -> Result<Option<CompletedBooking>, StoreError> {
                let row: Option<(Uuid, Uuid, Uuid)> = sqlx::query_as(
                    "SELECT booking_id, tutor_id, student_id FROM completed_bookings WHERE booking_id = $1",
                )
                .bind(booking.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(b, t, s)| CompletedBooking {
                    booking_id: BookingId::from_uuid(b),
                    tutor_id: TutorId::from_uuid(t),
                    student_id: UserId::from_uuid(s),
                }))
            }

            async fn apply_completed(
                &self,
                consumer: &str,
                event: &EventEnvelope,
                booking: &CompletedBooking,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO completed_bookings (booking_id, tutor_id, student_id, completed_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (booking_id) DO NOTHING",
                )
                .bind(booking.booking_id.as_uuid())
                .bind(booking.tutor_id.as_uuid())
                .bind(booking.student_id.as_uuid())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn insert(&self, review: &Review, events: &[EventEnvelope]) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let inserted = sqlx::query(
                    "INSERT INTO reviews (id, booking_id, tutor_id, student_id, rating, comment, status, revision, \
                     created_at, updated_at, edited_at, moderated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(review.id.as_uuid())
                .bind(review.booking_id.as_uuid())
                .bind(review.tutor_id.as_uuid())
                .bind(review.student_id.as_uuid())
                .bind(i16::from(review.rating.get()))
                .bind(&review.comment)
                .bind(review.status.as_str())
                .bind(review.revision)
                .bind(review.created_at)
                .bind(review.updated_at)
                .bind(review.edited_at)
                .bind(review.moderated_at)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyReviewed),
                    other => other?,
                };
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn review(&self, id: ReviewId) -> Result<Option<Review>, StoreError> {
                Ok(self.by("id", &[id.as_uuid()]).await?.pop())
            }

            async fn reviews(&self, ids: &[ReviewId]) -> Result<Vec<Review>, StoreError> {
                let ids: Vec<Uuid> = ids.iter().map(ReviewId::as_uuid).collect();
                self.by("id", &ids).await
            }

            async fn reviews_of_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Review>, StoreError> {
                let ids: Vec<Uuid> = bookings.iter().map(BookingId::as_uuid).collect();
                self.by("booking_id", &ids).await
            }

            async fn save(&self, review: &Review, events: &[EventEnvelope]) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                update(&mut tx, review).await?;
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn flag(
                &self,
                review: ReviewId,
                flagger: UserId,
                reason: &str,
                now: DateTime<Utc>,
                decide: FlagDecision<'_>,
            ) -> Result<Review, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let sql = format!("SELECT {COLUMNS} FROM reviews WHERE id = $1{}", $lock);
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(review.as_uuid()).fetch_optional(&mut *tx).await?;
                let mut current = review_row(&row.ok_or(StoreError::NotFound)?)?;
                current.check_flag(flagger)?;
                let inserted = sqlx::query(
                    "INSERT INTO review_flags (review_id, user_id, reason, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(review.as_uuid())
                .bind(flagger.as_uuid())
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyFlagged),
                    other => other?,
                };
                // Flags an admin's restore settled do not count again.
                let open: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM review_flags f JOIN reviews r ON r.id = f.review_id \
                     WHERE f.review_id = $1 AND (r.moderated_at IS NULL OR f.created_at > r.moderated_at)",
                )
                .bind(review.as_uuid())
                .fetch_one(&mut *tx)
                .await?;
                let before = current.revision;
                let events = decide(&mut current, open);
                if current.revision != before {
                    update(&mut tx, &current).await?;
                }
                $outbox(&mut tx, &events).await?;
                tx.commit().await?;
                Ok(current)
            }

            async fn tutor_reviews(&self, tutor: TutorId, after: Option<Uuid>, limit: i64) -> Result<Vec<Review>, StoreError> {
                let after_clause = if after.is_some() { " AND id < $3" } else { "" };
                let sql = format!(
                    "SELECT {COLUMNS} FROM reviews WHERE tutor_id = $1 AND status = 'PUBLISHED'{after_clause} ORDER BY id DESC LIMIT $2"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tutor.as_uuid()).bind(limit);
                if let Some(after) = after {
                    query = query.bind(after);
                }
                query.fetch_all(&self.pool).await?.iter().map(review_row).collect()
            }
        }
    };
}

mod postgres {
    use super::*;

    sql_store!(
        PostgresStore,
        sqlx::Postgres,
        sqlx::PgPool,
        sqlx::PgConnection,
        platform::db::begin_postgres,
        platform::inbox::record_postgres,
        platform::outbox::append_postgres,
        " FOR UPDATE"
    );
}

mod sqlite {
    use super::*;

    sql_store!(
        SqliteStore,
        sqlx::Sqlite,
        sqlx::SqlitePool,
        sqlx::SqliteConnection,
        platform::db::begin_sqlite,
        platform::inbox::record_sqlite,
        platform::outbox::append_sqlite,
        ""
    );
}

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
