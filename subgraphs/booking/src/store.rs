//! The repository of the booking context: one trait, and its PostgreSQL and SQLite adapters
//! generated from one portable body. Every write is one transaction with its outbox events;
//! consumers record the event in the inbox in the same transaction.
//!
//! Double booking is impossible at the database: PostgreSQL's exclusion constraints refuse an
//! overlapping slot of the same tutor or student even between concurrent transactions; SQLite
//! runs the conflict check and the insert inside one `BEGIN IMMEDIATE` transaction, which holds
//! the database's write lock, so checks and inserts are serialised.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use kernel::events::tutoring::{PricingOption, TimeOff, WeeklyWindow};
use platform::db::placeholders;
use uuid::Uuid;

use crate::domain::{
    Booking, BookingId, Cancellation, Currency, DomainError, Held, Money, PriceOption, Snapshot, Status, TutorCalendar,
    TutorId, UserId, Window, cancelled_by_str, parse_cancelled_by,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the booking changed meanwhile; retry")]
    StaleVersion,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
}

/// A user as identity's events describe them (snapshots of names and emails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUser {
    pub user_id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl KnownUser {
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// One part of a tutor as tutoring published it; each carries the revision it came with and
/// only a newer one replaces it.
#[derive(Debug, Clone)]
pub enum TutorChange {
    Profile { user_id: UserId, instant_booking: bool, version: i64 },
    Availability { time_zone: String, weekly: Vec<WeeklyWindow>, time_off: Vec<TimeOff>, revision: i64 },
    Pricing { currency: String, options: Vec<PricingOption>, revision: i64 },
}

/// Whose bookings a listing shows.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// Where the user is the student or the tutor.
    Participant(UserId),
    Tutor(TutorId),
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<Status>,
    /// Sessions starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Sessions starting before.
    pub to: Option<DateTime<Utc>>,
}

/// Decides a change to a loaded booking and returns the events to append (none and an
/// unchanged version: nothing is written). Runs inside the transaction holding the booking.
pub type Decide<'a> = &'a (dyn Fn(&mut Booking) -> Result<Vec<EventEnvelope>, DomainError> + Send + Sync);

#[async_trait]
pub trait BookingStore: Send + Sync {
    async fn calendar(&self, tutor: TutorId) -> Result<Option<TutorCalendar>, StoreError>;
    async fn known_user(&self, user: UserId) -> Result<Option<KnownUser>, StoreError>;
    /// The user account behind a tutor profile, once tutoring has told booking.
    async fn tutor_user(&self, tutor: TutorId) -> Result<Option<UserId>, StoreError>;
    /// Inserts a booking if its slot is free for its tutor and its student
    /// ([`DomainError::TutorBusy`], [`DomainError::StudentBusy`] otherwise).
    async fn insert(&self, booking: &Booking, events: &[EventEnvelope]) -> Result<(), StoreError>;
    async fn booking(&self, id: BookingId) -> Result<Option<Booking>, StoreError>;
    async fn bookings(&self, ids: &[BookingId]) -> Result<Vec<Booking>, StoreError>;
    /// A page of bookings by session start, then id, after the cursor `after`.
    async fn list(
        &self,
        owner: Owner,
        filter: &Filter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Booking>, StoreError>;
    /// Loads the booking and holds it while `decide` changes it, then saves it with the events.
    /// With `inbox`, the event is recorded first and an event applied before changes nothing.
    /// `None`: no such booking, or the event was applied before.
    async fn update(
        &self,
        id: BookingId,
        inbox: Option<(&str, &EventEnvelope)>,
        decide: Decide<'_>,
    ) -> Result<Option<Booking>, StoreError>;
    /// Open bookings some deadline may have passed for: unpaid past their payment deadline,
    /// paid but unanswered at their start, confirmed and ended before `ended_before`.
    async fn due(
        &self,
        now: DateTime<Utc>,
        ended_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<BookingId>, StoreError>;
    /// Applies a user's details; `false` when the event was applied before.
    async fn apply_user(&self, consumer: &str, event: &EventEnvelope, user: &KnownUser) -> Result<bool, StoreError>;
    /// Applies a part of a tutor; `false` when the event was applied before.
    async fn apply_tutor(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        tutor: TutorId,
        change: &TutorChange,
    ) -> Result<bool, StoreError>;
}

pub fn for_db(db: &platform::db::Db) -> std::sync::Arc<dyn BookingStore> {
    match db {
        platform::db::Db::Postgres(pool) => std::sync::Arc::new(PostgresStore::new(pool.clone())),
        platform::db::Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}

const COLUMNS: &str = "b.id, b.student_id, b.tutor_id, b.tutor_user_id, b.starts_at, b.ends_at, b.subject, \
     b.pricing_option_id, b.amount_minor, b.currency, b.status, b.paid, b.accepted, b.meeting_url, b.payment_due_at, \
     b.cancelled_by, b.cancel_reason, b.cancelled_at, b.refund_minor, b.refunded_minor, b.created_at, b.updated_at, \
     b.confirmed_at, b.completed_at, b.version, s.tutor_name, s.tutor_email, s.student_name, s.student_email, \
     s.original_amount";
const FROM: &str = "bookings b LEFT JOIN booking_snapshots s ON s.booking_id = b.id";
const HOLDING: &str = "('PENDING', 'CONFIRMED')";

fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} {value}"))
}

fn currency(raw: &str) -> Result<Currency, StoreError> {
    Currency::parse(raw).map_err(|_| corrupt("currency", raw))
}

/// The calendar from a `known_tutors` row's parts; `None` until tutoring has told booking the
/// tutor's user, zone and availability.
#[allow(clippy::too_many_arguments)]
fn calendar_of(
    tutor: Uuid,
    user: Option<Uuid>,
    instant_booking: bool,
    time_zone: Option<String>,
    weekly: &str,
    time_off: &str,
    currency_code: Option<String>,
    options: &str,
) -> Result<Option<TutorCalendar>, StoreError> {
    let (Some(user), Some(time_zone)) = (user, time_zone) else { return Ok(None) };
    let time_zone = time_zone.parse().map_err(|_| corrupt("time zone", &time_zone))?;
    let weekly: Vec<WeeklyWindow> = serde_json::from_str(weekly).map_err(|e| corrupt("weekly", e))?;
    let time_off: Vec<TimeOff> = serde_json::from_str(time_off).map_err(|e| corrupt("time off", e))?;
    let options: Vec<PricingOption> = serde_json::from_str(options).map_err(|e| corrupt("options", e))?;
    Ok(Some(TutorCalendar {
        tutor_id: TutorId::from_uuid(tutor),
        user_id: UserId::from_uuid(user),
        instant_booking,
        time_zone,
        weekly: weekly
            .iter()
            .map(|w| Window::parse(w.weekday, &w.start, &w.end).ok_or_else(|| corrupt("window", &w.start)))
            .collect::<Result<_, _>>()?,
        time_off: time_off.iter().map(|t| (t.starts_at, t.ends_at)).collect(),
        currency: currency_code.as_deref().filter(|c| !c.is_empty()).map(currency).transpose()?,
        options: options
            .iter()
            .map(|o| {
                Ok(PriceOption {
                    id: o.option_id.parse().map_err(|_| corrupt("option id", &o.option_id))?,
                    sessions: i64::from(o.sessions.max(1)),
                    amount_minor: o.amount_minor,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    }))
}

fn is_overlap(error: &sqlx::Error) -> Option<DomainError> {
    let sqlx::Error::Database(e) = error else { return None };
    if e.code().as_deref() != Some("23P01") {
        return None;
    }
    Some(if e.constraint() == Some("bookings_student_overlap") {
        DomainError::StudentBusy
    } else {
        DomainError::TutorBusy
    })
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
        }

        fn booking_row(r: &<$db as sqlx::Database>::Row) -> Result<Booking, StoreError> {
            use sqlx::Row as _;
            let status: String = r.try_get("status")?;
            let code: String = r.try_get("currency")?;
            let currency = currency(&code)?;
            let cancelled_by: Option<String> = r.try_get("cancelled_by")?;
            let cancellation = match cancelled_by {
                None => None,
                Some(by) => Some(Cancellation {
                    by: parse_cancelled_by(&by).ok_or_else(|| corrupt("cancelled by", &by))?,
                    reason: r.try_get::<Option<String>, _>("cancel_reason")?.unwrap_or_default(),
                    at: r.try_get::<Option<DateTime<Utc>>, _>("cancelled_at")?.ok_or_else(|| corrupt("cancelled at", "NULL"))?,
                    refund: Money::new(r.try_get::<Option<i64>, _>("refund_minor")?.unwrap_or(0), currency),
                }),
            };
            let amount: i64 = r.try_get("amount_minor")?;
            Ok(Booking {
                id: BookingId::from_uuid(r.try_get("id")?),
                student_id: UserId::from_uuid(r.try_get("student_id")?),
                tutor_id: TutorId::from_uuid(r.try_get("tutor_id")?),
                tutor_user_id: UserId::from_uuid(r.try_get("tutor_user_id")?),
                starts_at: r.try_get("starts_at")?,
                ends_at: r.try_get("ends_at")?,
                subject: r.try_get("subject")?,
                pricing_option_id: r.try_get("pricing_option_id")?,
                price: Money::new(amount, currency),
                status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                paid: r.try_get("paid")?,
                accepted: r.try_get("accepted")?,
                meeting_url: r.try_get("meeting_url")?,
                payment_due_at: r.try_get("payment_due_at")?,
                cancellation,
                refunded_minor: r.try_get("refunded_minor")?,
                snapshot: Snapshot {
                    tutor_name: r.try_get("tutor_name")?,
                    tutor_email: r.try_get("tutor_email")?,
                    student_name: r.try_get("student_name")?,
                    student_email: r.try_get("student_email")?,
                    original_price: Money::new(r.try_get::<Option<i64>, _>("original_amount")?.unwrap_or(amount), currency),
                },
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                confirmed_at: r.try_get("confirmed_at")?,
                completed_at: r.try_get("completed_at")?,
                version: r.try_get("version")?,
            })
        }

        async fn save(conn: &mut $conn, b: &Booking, previous_version: i64) -> Result<(), StoreError> {
            let c = b.cancellation.as_ref();
            let updated = sqlx::query(
                "UPDATE bookings SET status = $2, paid = $3, accepted = $4, meeting_url = $5, cancelled_by = $6, \
                 cancel_reason = $7, cancelled_at = $8, refund_minor = $9, refunded_minor = $10, updated_at = $11, \
                 confirmed_at = $12, completed_at = $13, version = $14 WHERE id = $1 AND version = $15",
            )
            .bind(b.id.as_uuid())
            .bind(b.status.as_str())
            .bind(b.paid)
            .bind(b.accepted)
            .bind(&b.meeting_url)
            .bind(c.map(|c| cancelled_by_str(c.by)))
            .bind(c.map(|c| c.reason.as_str()))
            .bind(c.map(|c| c.at))
            .bind(c.map(|c| c.refund.amount_minor))
            .bind(b.refunded_minor)
            .bind(b.updated_at)
            .bind(b.confirmed_at)
            .bind(b.completed_at)
            .bind(b.version)
            .bind(previous_version)
            .execute(&mut *conn)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::StaleVersion);
            }
            Ok(())
        }

        #[async_trait]
        impl BookingStore for $store {
            async fn calendar(&self, tutor: TutorId) -> Result<Option<TutorCalendar>, StoreError> {
                type Row = (Option<Uuid>, bool, Option<String>, String, String, Option<String>, String);
                let row: Option<Row> = sqlx::query_as(
                    "SELECT user_id, instant_booking, time_zone, weekly, time_off, currency, options \
                     FROM known_tutors WHERE tutor_id = $1",
                )
                .bind(tutor.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                let Some((user, instant, zone, weekly, time_off, code, options)) = row else { return Ok(None) };
                calendar_of(tutor.as_uuid(), user, instant, zone, &weekly, &time_off, code, &options)
            }

            async fn known_user(&self, user: UserId) -> Result<Option<KnownUser>, StoreError> {
                let row: Option<(String, String, String)> =
                    sqlx::query_as("SELECT email, first_name, last_name FROM known_users WHERE user_id = $1")
                        .bind(user.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(email, first_name, last_name)| KnownUser { user_id: user, email, first_name, last_name }))
            }

            async fn tutor_user(&self, tutor: TutorId) -> Result<Option<UserId>, StoreError> {
                let row: Option<(Option<Uuid>,)> = sqlx::query_as("SELECT user_id FROM known_tutors WHERE tutor_id = $1")
                    .bind(tutor.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.and_then(|(u,)| u).map(UserId::from_uuid))
            }

            async fn insert(&self, b: &Booking, events: &[EventEnvelope]) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                // The clear error first; the database's own rule (PostgreSQL) settles races.
                let sql = format!(
                    "SELECT tutor_id, student_id, starts_at, ends_at FROM bookings WHERE status IN {HOLDING} \
                     AND starts_at < $1 AND ends_at > $2 AND (tutor_id = $3 OR student_id = $4)"
                );
                let held: Vec<(Uuid, Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(b.ends_at)
                    .bind(b.starts_at)
                    .bind(b.tutor_id.as_uuid())
                    .bind(b.student_id.as_uuid())
                    .fetch_all(&mut *tx)
                    .await?;
                let held: Vec<Held> = held
                    .into_iter()
                    .map(|(t, s, a, e)| Held {
                        tutor_id: TutorId::from_uuid(t),
                        student_id: UserId::from_uuid(s),
                        starts_at: a,
                        ends_at: e,
                    })
                    .collect();
                crate::domain::BookingConflictChecker::check(b, &held)?;
                let inserted = sqlx::query(
                    "INSERT INTO bookings (id, student_id, tutor_id, tutor_user_id, starts_at, ends_at, subject, \
                     pricing_option_id, amount_minor, currency, status, paid, accepted, meeting_url, payment_due_at, \
                     refunded_minor, created_at, updated_at, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                )
                .bind(b.id.as_uuid())
                .bind(b.student_id.as_uuid())
                .bind(b.tutor_id.as_uuid())
                .bind(b.tutor_user_id.as_uuid())
                .bind(b.starts_at)
                .bind(b.ends_at)
                .bind(&b.subject)
                .bind(b.pricing_option_id)
                .bind(b.price.amount_minor)
                .bind(b.price.currency.as_str())
                .bind(b.status.as_str())
                .bind(b.paid)
                .bind(b.accepted)
                .bind(&b.meeting_url)
                .bind(b.payment_due_at)
                .bind(b.refunded_minor)
                .bind(b.created_at)
                .bind(b.updated_at)
                .bind(b.version)
                .execute(&mut *tx)
                .await;
                if let Err(e) = inserted {
                    return Err(is_overlap(&e).map_or(StoreError::Database(e), StoreError::Domain));
                }
                let s = &b.snapshot;
                sqlx::query(
                    "INSERT INTO booking_snapshots (booking_id, tutor_name, tutor_email, student_name, student_email, \
                     original_amount, currency) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(b.id.as_uuid())
                .bind(&s.tutor_name)
                .bind(&s.tutor_email)
                .bind(&s.student_name)
                .bind(&s.student_email)
                .bind(s.original_price.amount_minor)
                .bind(s.original_price.currency.as_str())
                .execute(&mut *tx)
                .await?;
                $outbox(&mut tx, events).await?;
                tx.commit().await.map_err(|e| is_overlap(&e).map_or(StoreError::Database(e), StoreError::Domain))?;
                Ok(())
            }

            async fn booking(&self, id: BookingId) -> Result<Option<Booking>, StoreError> {
                Ok(self.bookings(&[id]).await?.pop())
            }

            async fn bookings(&self, ids: &[BookingId]) -> Result<Vec<Booking>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE b.id IN ({})", placeholders(1, chunk.len()));
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(id.as_uuid());
                    }
                    for row in query.fetch_all(&self.pool).await? {
                        out.push(booking_row(&row)?);
                    }
                }
                Ok(out)
            }

            async fn list(
                &self,
                owner: Owner,
                filter: &Filter,
                after: Option<(DateTime<Utc>, Uuid)>,
                limit: i64,
            ) -> Result<Vec<Booking>, StoreError> {
                let (owner_clause, owner_id) = match owner {
                    Owner::Participant(user) => ("(b.student_id = $1 OR b.tutor_user_id = $1)", user.as_uuid()),
                    Owner::Tutor(tutor) => ("b.tutor_id = $1", tutor.as_uuid()),
                };
                let mut clauses = vec![owner_clause.to_owned()];
                let mut n = 2;
                let mut next = || {
                    n += 1;
                    n
                };
                if filter.status.is_some() {
                    clauses.push(format!("b.status = ${}", next()));
                }
                if filter.from.is_some() {
                    clauses.push(format!("b.starts_at >= ${}", next()));
                }
                if filter.to.is_some() {
                    clauses.push(format!("b.starts_at < ${}", next()));
                }
                if after.is_some() {
                    let (t, i) = (next(), next());
                    clauses.push(format!("(b.starts_at > ${t} OR (b.starts_at = ${t} AND b.id > ${i}))"));
                }
                let sql = format!(
                    "SELECT {COLUMNS} FROM {FROM} WHERE {} ORDER BY b.starts_at, b.id LIMIT $2",
                    clauses.join(" AND ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner_id).bind(limit);
                if let Some(status) = filter.status {
                    query = query.bind(status.as_str());
                }
                if let Some(from) = filter.from {
                    query = query.bind(from);
                }
                if let Some(to) = filter.to {
                    query = query.bind(to);
                }
                if let Some((t, i)) = after {
                    query = query.bind(t).bind(i);
                }
                query.fetch_all(&self.pool).await?.iter().map(booking_row).collect()
            }

            async fn update(
                &self,
                id: BookingId,
                inbox: Option<(&str, &EventEnvelope)>,
                decide: Decide<'_>,
            ) -> Result<Option<Booking>, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if let Some((consumer, event)) = inbox {
                    if !$inbox(&mut tx, consumer, event).await? {
                        return Ok(None);
                    }
                }
                let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE b.id = $1{}", $lock);
                let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_uuid()).fetch_optional(&mut *tx).await?
                else {
                    // The inbox entry is kept: an event about an unknown booking is settled.
                    tx.commit().await?;
                    return Ok(None);
                };
                let mut booking = booking_row(&row)?;
                let before = booking.version;
                let events = decide(&mut booking)?;
                if booking.version != before {
                    save(&mut tx, &booking, before).await?;
                }
                $outbox(&mut tx, &events).await?;
                tx.commit().await?;
                Ok(Some(booking))
            }

            async fn due(&self, now: DateTime<Utc>, ended_before: DateTime<Utc>, limit: i64) -> Result<Vec<BookingId>, StoreError> {
                let ids: Vec<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM bookings WHERE \
                     (status = 'PENDING' AND paid = $1 AND payment_due_at <= $2) \
                     OR (status = 'PENDING' AND paid = $3 AND accepted = $1 AND starts_at <= $2) \
                     OR (status = 'CONFIRMED' AND ends_at <= $4) LIMIT $5",
                )
                .bind(false)
                .bind(now)
                .bind(true)
                .bind(ended_before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(ids.into_iter().map(|(id,)| BookingId::from_uuid(id)).collect())
            }

            async fn apply_user(&self, consumer: &str, event: &EventEnvelope, user: &KnownUser) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO known_users (user_id, email, first_name, last_name) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name, \
                     last_name = excluded.last_name",
                )
                .bind(user.user_id.as_uuid())
                .bind(&user.email)
                .bind(&user.first_name)
                .bind(&user.last_name)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn apply_tutor(
                &self,
                consumer: &str,
                event: &EventEnvelope,
                tutor: TutorId,
                change: &TutorChange,
            ) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                sqlx::query("INSERT INTO known_tutors (tutor_id) VALUES ($1) ON CONFLICT (tutor_id) DO NOTHING")
                    .bind(tutor.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                match change {
                    TutorChange::Profile { user_id, instant_booking, version } => {
                        sqlx::query(
                            "UPDATE known_tutors SET user_id = $2, instant_booking = $3, profile_version = $4 \
                             WHERE tutor_id = $1 AND profile_version < $4",
                        )
                        .bind(tutor.as_uuid())
                        .bind(user_id.as_uuid())
                        .bind(*instant_booking)
                        .bind(*version)
                        .execute(&mut *tx)
                        .await?;
                    }
                    TutorChange::Availability { time_zone, weekly, time_off, revision } => {
                        sqlx::query(
                            "UPDATE known_tutors SET time_zone = $2, weekly = $3, time_off = $4, availability_revision = $5 \
                             WHERE tutor_id = $1 AND availability_revision < $5",
                        )
                        .bind(tutor.as_uuid())
                        .bind(time_zone)
                        .bind(json(weekly))
                        .bind(json(time_off))
                        .bind(*revision)
                        .execute(&mut *tx)
                        .await?;
                    }
                    TutorChange::Pricing { currency, options, revision } => {
                        sqlx::query(
                            "UPDATE known_tutors SET currency = $2, options = $3, pricing_revision = $4 \
                             WHERE tutor_id = $1 AND pricing_revision < $4",
                        )
                        .bind(tutor.as_uuid())
                        .bind(currency)
                        .bind(json(options))
                        .bind(*revision)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

/// The projection's JSON columns, written the same way on both backends.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("event parts serialise to JSON")
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
        " FOR UPDATE OF b"
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
