//! The repository of the tutoring context: one trait and its PostgreSQL and SQLite adapters.
//!
//! Both adapters are generated from one body by [`sql_store!`]: the SQL here is portable between
//! the two (`$n` placeholders, `ON CONFLICT`, `LIKE` over lower-cased text), and each adapter is
//! still concretely typed for its backend (no `Any` driver). Every write is one transaction that
//! also appends the use case's events to the outbox; every projection update records the event
//! in the inbox in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use platform::db::placeholders;
use uuid::Uuid;

use crate::domain::{
    Certification, Currency, DomainError, Education, Interval, Level, Pricing, PricingKind, PricingOption, Rating,
    ReviewContribution, Role, Schedule, Subject, TimeOff, Tutor, TutorId, UserId, WeeklyWindow,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("this user already has a tutor profile")]
    ProfileExists,
    #[error("the tutor profile changed meanwhile; retry")]
    StaleVersion,
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
}

/// A user as identity's events describe them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUser {
    pub user_id: UserId,
    pub role: Role,
    pub first_name: String,
    pub last_name: String,
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Best average first (unrated last), then newest.
    Rating,
    /// Lowest hourly price first; tutors without pricing are left out.
    Price,
    Newest,
}

/// Where the previous page ended: the sort key of its last tutor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Rating(i64, Uuid),
    Price(i64, Uuid),
    Newest(Uuid),
}

/// A search, already validated by the service.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub subject: Option<String>,
    /// Price bounds on the lowest hourly price, in one currency.
    pub currency: Option<Currency>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Minimum average in hundredths.
    pub min_rating: Option<i64>,
    pub verified_only: bool,
    /// Only tutors with a weekly schedule (the exact range check is the service's).
    pub with_availability: bool,
    /// Lower-cased words, each of which must appear.
    pub words: Vec<String>,
    pub sort: Option<SortBy>,
    pub after: Option<After>,
    pub limit: i64,
}

/// Changes a booking event makes to the slots a tutor has taken.
#[derive(Debug, Clone, Copy)]
pub struct BookedSlot {
    pub booking_id: Uuid,
    pub tutor_id: TutorId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `false` frees the slot for good (cancelled); a later "held" event does not take it back.
    pub active: bool,
}

/// Builds the `TutorReviewReceived` event from the rating after the change.
pub type RatingEvent<'a> = &'a (dyn Fn(Rating) -> EventEnvelope + Send + Sync);

#[async_trait]
pub trait TutorStore: Send + Sync {
    async fn known_user(&self, id: UserId) -> Result<Option<KnownUser>, StoreError>;
    async fn known_users(&self, ids: &[UserId]) -> Result<Vec<KnownUser>, StoreError>;
    /// Fails with [`StoreError::ProfileExists`] when the user has one.
    async fn insert(&self, tutor: &Tutor, events: &[EventEnvelope]) -> Result<(), StoreError>;
    /// Inserts many new profiles in one transaction, without events (imports, benchmarks).
    async fn insert_many(&self, tutors: &[Tutor]) -> Result<(), StoreError>;
    async fn tutor(&self, id: TutorId) -> Result<Option<Tutor>, StoreError>;
    /// The tutors among `ids` that exist, in any order (one query per table: entity batches).
    async fn tutors(&self, ids: &[TutorId]) -> Result<Vec<Tutor>, StoreError>;
    async fn tutors_of_users(&self, users: &[UserId]) -> Result<Vec<Tutor>, StoreError>;
    /// Saves the aggregate if it is still at `tutor.version - 1` (optimistic concurrency).
    async fn save(&self, tutor: &Tutor, events: &[EventEnvelope]) -> Result<(), StoreError>;
    /// Ids in the query's order, at most `limit`.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<(TutorId, i64)>, StoreError>;
    /// Slots held by bookings that overlap `[from, to)`.
    async fn taken(&self, tutor: TutorId, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Interval>, StoreError>;
    /// [`TutorStore::taken`] for many tutors at once (search's availability filter).
    async fn taken_by(
        &self,
        tutors: &[TutorId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<TutorId, Vec<Interval>>, StoreError>;
    /// Projections of other contexts' events; `false` when the event was applied before.
    async fn apply_user(&self, consumer: &str, event: &EventEnvelope, user: &KnownUser) -> Result<bool, StoreError>;
    async fn apply_user_names(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        user: UserId,
        first_name: &str,
        last_name: &str,
    ) -> Result<bool, StoreError>;
    async fn apply_user_role(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        user: UserId,
        role: Role,
    ) -> Result<bool, StoreError>;
    async fn apply_booking(&self, consumer: &str, event: &EventEnvelope, slot: &BookedSlot)
    -> Result<bool, StoreError>;
    async fn apply_review(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        tutor: TutorId,
        review: Uuid,
        contribution: &ReviewContribution,
        rating_event: RatingEvent<'_>,
    ) -> Result<bool, StoreError>;
}

pub fn for_db(db: &platform::db::Db) -> std::sync::Arc<dyn TutorStore> {
    match db {
        platform::db::Db::Postgres(pool) => std::sync::Arc::new(PostgresStore::new(pool.clone())),
        platform::db::Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}

/// The lower-case text `text` search looks in.
pub fn search_text(tutor: &Tutor, user: Option<&KnownUser>) -> String {
    search_text_of(&tutor.bio, tutor.subjects.iter().map(|s| s.name.as_str()), user)
}

fn search_text_of<'a>(bio: &str, subjects: impl Iterator<Item = &'a str>, user: Option<&KnownUser>) -> String {
    let mut text = bio.to_lowercase();
    for name in subjects {
        text.push(' ');
        text.push_str(name);
    }
    if let Some(u) = user {
        text.push(' ');
        text.push_str(&u.first_name.to_lowercase());
        text.push(' ');
        text.push_str(&u.last_name.to_lowercase());
    }
    text
}

/// `%word%` for LIKE, with the pattern characters escaped.
fn like_pattern(word: &str) -> String {
    let escaped = word.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value}"))
}

fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse().map_err(|_| corrupt("role", raw))
}

/// A tutor's main row, before its parts are attached.
struct ProfileRow {
    id: Uuid,
    user_id: Uuid,
    bio: String,
    time_zone: String,
    instant_booking: bool,
    verified: bool,
    currency: Option<String>,
    rating_count: i64,
    rating_sum: i64,
    availability_revision: i64,
    pricing_revision: i64,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The parts of many tutors, by tutor id.
#[derive(Default)]
struct Parts {
    subjects: std::collections::HashMap<Uuid, Vec<Subject>>,
    weekly: std::collections::HashMap<Uuid, Vec<WeeklyWindow>>,
    time_off: std::collections::HashMap<Uuid, Vec<TimeOff>>,
    pricing: std::collections::HashMap<Uuid, Vec<PricingOption>>,
    certifications: std::collections::HashMap<Uuid, Vec<Certification>>,
    education: std::collections::HashMap<Uuid, Vec<Education>>,
}

fn assemble(row: ProfileRow, parts: &mut Parts) -> Result<Tutor, StoreError> {
    let time_zone = crate::domain::parse_time_zone(&row.time_zone)?;
    let pricing = match row.currency {
        Some(code) => {
            let currency = Currency::parse(&code).map_err(|_| corrupt("currency", &code))?;
            Some(Pricing { currency, options: parts.pricing.remove(&row.id).unwrap_or_default() })
        }
        None => None,
    };
    Ok(Tutor {
        id: TutorId::from_uuid(row.id),
        user_id: UserId::from_uuid(row.user_id),
        bio: row.bio,
        subjects: parts.subjects.remove(&row.id).unwrap_or_default(),
        instant_booking: row.instant_booking,
        verified: row.verified,
        schedule: Schedule {
            time_zone,
            weekly: parts.weekly.remove(&row.id).unwrap_or_default(),
            time_off: parts.time_off.remove(&row.id).unwrap_or_default(),
        },
        pricing,
        certifications: parts.certifications.remove(&row.id).unwrap_or_default(),
        education: parts.education.remove(&row.id).unwrap_or_default(),
        rating: Rating { count: row.rating_count, sum: row.rating_sum },
        availability_revision: row.availability_revision,
        pricing_revision: row.pricing_revision,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

const PROFILE_COLUMNS: &str = "id, user_id, bio, time_zone, instant_booking, verified, currency, rating_count, \
     rating_sum, availability_revision, pricing_revision, version, created_at, updated_at";

/// Generates one adapter: `$store` over `$db`, writing through `$begin`, with the platform's
/// inbox and outbox functions for that backend.
macro_rules! sql_store {
    ($store:ident, $db:ty, $pool:ty, $conn:ty, $begin:path, $inbox:path, $outbox:path) => {
        pub struct $store {
            pool: $pool,
        }

        impl $store {
            pub fn new(pool: $pool) -> Self {
                Self { pool }
            }

            async fn profiles(&self, column: &str, ids: &[Uuid]) -> Result<Vec<Tutor>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT {PROFILE_COLUMNS} FROM tutor_profiles WHERE {column} IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    let rows = query.fetch_all(&self.pool).await?;
                    let rows: Vec<ProfileRow> = rows.iter().map(profile_row).collect::<Result<_, _>>()?;
                    let tutor_ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                    let mut parts = self.parts(&tutor_ids).await?;
                    for row in rows {
                        out.push(assemble(row, &mut parts)?);
                    }
                }
                Ok(out)
            }

            async fn parts(&self, ids: &[Uuid]) -> Result<Parts, StoreError> {
                use sqlx::Row as _;
                let mut parts = Parts::default();
                if ids.is_empty() {
                    return Ok(parts);
                }
                let list = placeholders(1, ids.len());
                let fetch = |sql: String| {
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in ids {
                        query = query.bind(*id);
                    }
                    query
                };
                let rows = fetch(format!(
                    "SELECT tutor_id, name, level FROM tutor_subjects WHERE tutor_id IN ({list}) ORDER BY position"
                ))
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    let level: String = r.try_get("level")?;
                    let level = Level::parse(&level).ok_or_else(|| corrupt("level", &level))?;
                    parts
                        .subjects
                        .entry(r.try_get("tutor_id")?)
                        .or_default()
                        .push(Subject { name: r.try_get("name")?, level });
                }
                let rows = fetch(format!(
                    "SELECT tutor_id, weekday, start_minute, end_minute FROM tutor_availability \
                     WHERE tutor_id IN ({list}) ORDER BY weekday, start_minute"
                ))
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    let (weekday, start, end): (i16, i16, i16) =
                        (r.try_get("weekday")?, r.try_get("start_minute")?, r.try_get("end_minute")?);
                    parts.weekly.entry(r.try_get("tutor_id")?).or_default().push(WeeklyWindow {
                        weekday: u8::try_from(weekday).map_err(|_| corrupt("weekday", weekday))?,
                        start_minute: u16::try_from(start).map_err(|_| corrupt("minute", start))?,
                        end_minute: u16::try_from(end).map_err(|_| corrupt("minute", end))?,
                    });
                }
                let rows = fetch(format!(
                    "SELECT tutor_id, starts_at, ends_at FROM tutor_time_off WHERE tutor_id IN ({list}) ORDER BY starts_at"
                ))
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    parts
                        .time_off
                        .entry(r.try_get("tutor_id")?)
                        .or_default()
                        .push(TimeOff { starts_at: r.try_get("starts_at")?, ends_at: r.try_get("ends_at")? });
                }
                let rows = fetch(format!(
                    "SELECT id, tutor_id, kind, sessions, amount_minor FROM tutor_pricing_options \
                     WHERE tutor_id IN ({list}) ORDER BY position"
                ))
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    let kind: String = r.try_get("kind")?;
                    let sessions: i32 = r.try_get("sessions")?;
                    let kind = match kind.as_str() {
                        "HOURLY" => PricingKind::Hourly,
                        "PACKAGE" => PricingKind::Package {
                            sessions: u32::try_from(sessions).map_err(|_| corrupt("sessions", sessions))?,
                        },
                        other => return Err(corrupt("pricing kind", other)),
                    };
                    parts.pricing.entry(r.try_get("tutor_id")?).or_default().push(PricingOption {
                        id: r.try_get("id")?,
                        kind,
                        amount_minor: r.try_get("amount_minor")?,
                    });
                }
                let rows = fetch(format!(
                    "SELECT id, tutor_id, name, issuer, year, verified FROM certifications \
                     WHERE tutor_id IN ({list}) ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    parts.certifications.entry(r.try_get("tutor_id")?).or_default().push(Certification {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        issuer: r.try_get("issuer")?,
                        year: r.try_get("year")?,
                        verified: r.try_get("verified")?,
                    });
                }
                let rows = fetch(format!(
                    "SELECT id, tutor_id, institution, degree, field, start_year, end_year FROM education \
                     WHERE tutor_id IN ({list}) ORDER BY start_year, id"
                ))
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    parts.education.entry(r.try_get("tutor_id")?).or_default().push(Education {
                        id: r.try_get("id")?,
                        institution: r.try_get("institution")?,
                        degree: r.try_get("degree")?,
                        field: r.try_get("field")?,
                        start_year: r.try_get("start_year")?,
                        end_year: r.try_get("end_year")?,
                    });
                }
                Ok(parts)
            }
        }

        fn profile_row(r: &<$db as sqlx::Database>::Row) -> Result<ProfileRow, StoreError> {
            use sqlx::Row as _;
            Ok(ProfileRow {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                bio: r.try_get("bio")?,
                time_zone: r.try_get("time_zone")?,
                instant_booking: r.try_get("instant_booking")?,
                verified: r.try_get("verified")?,
                currency: r.try_get("currency")?,
                rating_count: r.try_get("rating_count")?,
                rating_sum: r.try_get("rating_sum")?,
                availability_revision: r.try_get("availability_revision")?,
                pricing_revision: r.try_get("pricing_revision")?,
                version: r.try_get("version")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        /// Replaces the tutor's parts and denormalised search columns.
        async fn write_parts(conn: &mut $conn, tutor: &Tutor) -> Result<(), sqlx::Error> {
            let id = tutor.id.as_uuid();
            for table in ["tutor_subjects", "tutor_availability", "tutor_time_off", "tutor_pricing_options", "certifications", "education"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE tutor_id = $1")))
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            for (position, s) in tutor.subjects.iter().enumerate() {
                sqlx::query("INSERT INTO tutor_subjects (tutor_id, name, level, position) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(&s.name)
                    .bind(s.level.as_str())
                    .bind(position as i32)
                    .execute(&mut *conn)
                    .await?;
            }
            for w in &tutor.schedule.weekly {
                sqlx::query(
                    "INSERT INTO tutor_availability (tutor_id, weekday, start_minute, end_minute) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(i16::from(w.weekday))
                .bind(w.start_minute as i16)
                .bind(w.end_minute as i16)
                .execute(&mut *conn)
                .await?;
            }
            for t in &tutor.schedule.time_off {
                sqlx::query("INSERT INTO tutor_time_off (tutor_id, starts_at, ends_at) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(t.starts_at)
                    .bind(t.ends_at)
                    .execute(&mut *conn)
                    .await?;
            }
            for (position, o) in tutor.pricing.iter().flat_map(|p| &p.options).enumerate() {
                let (kind, sessions) = match o.kind {
                    PricingKind::Hourly => ("HOURLY", 1),
                    PricingKind::Package { sessions } => ("PACKAGE", sessions as i32),
                };
                sqlx::query(
                    "INSERT INTO tutor_pricing_options (id, tutor_id, kind, sessions, amount_minor, position) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(o.id)
                .bind(id)
                .bind(kind)
                .bind(sessions)
                .bind(o.amount_minor)
                .bind(position as i32)
                .execute(&mut *conn)
                .await?;
            }
            for c in &tutor.certifications {
                sqlx::query(
                    "INSERT INTO certifications (id, tutor_id, name, issuer, year, verified) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(c.id)
                .bind(id)
                .bind(&c.name)
                .bind(&c.issuer)
                .bind(c.year)
                .bind(c.verified)
                .execute(&mut *conn)
                .await?;
            }
            for e in &tutor.education {
                sqlx::query(
                    "INSERT INTO education (id, tutor_id, institution, degree, field, start_year, end_year) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(e.id)
                .bind(id)
                .bind(&e.institution)
                .bind(&e.degree)
                .bind(&e.field)
                .bind(e.start_year)
                .bind(e.end_year)
                .execute(&mut *conn)
                .await?;
            }
            let user = known_user_in(&mut *conn, tutor.user_id).await?;
            sqlx::query("UPDATE tutor_profiles SET search_text = $2 WHERE id = $1")
                .bind(id)
                .bind(search_text(tutor, user.as_ref()))
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        async fn known_user_in(conn: &mut $conn, id: UserId) -> Result<Option<KnownUser>, sqlx::Error> {
            use sqlx::Row as _;
            let row = sqlx::query("SELECT role, first_name, last_name FROM known_users WHERE user_id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await?;
            row.map(|r| {
                let role: String = r.try_get("role")?;
                Ok(KnownUser {
                    user_id: id,
                    role: role.parse().map_err(|e: kernel::auth::UnknownRole| sqlx::Error::Decode(e.into()))?,
                    first_name: r.try_get("first_name")?,
                    last_name: r.try_get("last_name")?,
                })
            })
            .transpose()
        }

        /// Re-derives the search text of the user's profile after their name changed.
        async fn refresh_search_text(conn: &mut $conn, user: UserId) -> Result<(), StoreError> {
            use sqlx::Row as _;
            let row = sqlx::query("SELECT id FROM tutor_profiles WHERE user_id = $1")
                .bind(user.as_uuid())
                .fetch_optional(&mut *conn)
                .await?;
            let Some(row) = row else { return Ok(()) };
            let id: Uuid = row.try_get("id")?;
            let bio: String = sqlx::query_scalar("SELECT bio FROM tutor_profiles WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
            let names: Vec<String> = sqlx::query_scalar("SELECT name FROM tutor_subjects WHERE tutor_id = $1 ORDER BY position")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
            let known = known_user_in(&mut *conn, user).await?;
            sqlx::query("UPDATE tutor_profiles SET search_text = $2 WHERE id = $1")
                .bind(id)
                .bind(search_text_of(&bio, names.iter().map(String::as_str), known.as_ref()))
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        /// Inserts a new profile with its parts; the rating is the aggregate's own.
        async fn insert_in(conn: &mut $conn, tutor: &Tutor) -> Result<(), StoreError> {
            let (currency, lowest, rank, has_availability) = columns_of(tutor);
            let inserted = sqlx::query(
                "INSERT INTO tutor_profiles (id, user_id, bio, time_zone, instant_booking, verified, currency, \
                 lowest_hourly_minor, rating_count, rating_sum, rating_rank, has_availability, search_text, \
                 availability_revision, pricing_revision, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', $13, $14, $15, $16, $17) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(tutor.id.as_uuid())
            .bind(tutor.user_id.as_uuid())
            .bind(&tutor.bio)
            .bind(tutor.schedule.time_zone.name())
            .bind(tutor.instant_booking)
            .bind(tutor.verified)
            .bind(currency)
            .bind(lowest)
            .bind(tutor.rating.count)
            .bind(tutor.rating.sum)
            .bind(rank)
            .bind(has_availability)
            .bind(tutor.availability_revision)
            .bind(tutor.pricing_revision)
            .bind(tutor.version)
            .bind(tutor.created_at)
            .bind(tutor.updated_at)
            .execute(&mut *conn)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::ProfileExists);
            }
            write_parts(&mut *conn, tutor).await?;
            Ok(())
        }

        fn columns_of(tutor: &Tutor) -> (Option<String>, Option<i64>, i64, bool) {
            let currency = tutor.pricing.as_ref().map(|p| p.currency.to_string());
            let lowest = tutor.pricing.as_ref().map(|p| p.lowest_hourly().amount_minor);
            let rank = tutor.rating.average_hundredths().unwrap_or(0);
            (currency, lowest, rank, !tutor.schedule.weekly.is_empty())
        }

        #[async_trait]
        impl TutorStore for $store {
            async fn known_user(&self, id: UserId) -> Result<Option<KnownUser>, StoreError> {
                let mut conn = self.pool.acquire().await?;
                Ok(known_user_in(&mut conn, id).await?)
            }

            async fn known_users(&self, ids: &[UserId]) -> Result<Vec<KnownUser>, StoreError> {
                use sqlx::Row as _;
                let mut out = Vec::new();
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT user_id, role, first_name, last_name FROM known_users WHERE user_id IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(id.as_uuid());
                    }
                    for r in query.fetch_all(&self.pool).await? {
                        let role: String = r.try_get("role")?;
                        out.push(KnownUser {
                            user_id: UserId::from_uuid(r.try_get("user_id")?),
                            role: parse_role(&role)?,
                            first_name: r.try_get("first_name")?,
                            last_name: r.try_get("last_name")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn insert(&self, tutor: &Tutor, events: &[EventEnvelope]) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                insert_in(&mut tx, tutor).await?;
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_many(&self, tutors: &[Tutor]) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                for tutor in tutors {
                    insert_in(&mut tx, tutor).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn tutor(&self, id: TutorId) -> Result<Option<Tutor>, StoreError> {
                Ok(self.profiles("id", &[id.as_uuid()]).await?.pop())
            }

            async fn tutors(&self, ids: &[TutorId]) -> Result<Vec<Tutor>, StoreError> {
                let ids: Vec<Uuid> = ids.iter().map(TutorId::as_uuid).collect();
                self.profiles("id", &ids).await
            }

            async fn tutors_of_users(&self, users: &[UserId]) -> Result<Vec<Tutor>, StoreError> {
                let ids: Vec<Uuid> = users.iter().map(UserId::as_uuid).collect();
                self.profiles("user_id", &ids).await
            }

            async fn save(&self, tutor: &Tutor, events: &[EventEnvelope]) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let (currency, lowest, _, has_availability) = columns_of(tutor);
                let updated = sqlx::query(
                    "UPDATE tutor_profiles SET bio = $2, time_zone = $3, instant_booking = $4, verified = $5, \
                     currency = $6, lowest_hourly_minor = $7, has_availability = $8, availability_revision = $9, \
                     pricing_revision = $10, version = $11, updated_at = $12 WHERE id = $1 AND version = $13",
                )
                .bind(tutor.id.as_uuid())
                .bind(&tutor.bio)
                .bind(tutor.schedule.time_zone.name())
                .bind(tutor.instant_booking)
                .bind(tutor.verified)
                .bind(currency)
                .bind(lowest)
                .bind(has_availability)
                .bind(tutor.availability_revision)
                .bind(tutor.pricing_revision)
                .bind(tutor.version)
                .bind(tutor.updated_at)
                .bind(tutor.version - 1)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::StaleVersion);
                }
                write_parts(&mut tx, tutor).await?;
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn search(&self, q: &SearchQuery) -> Result<Vec<(TutorId, i64)>, StoreError> {
                use sqlx::Row as _;
                enum Arg {
                    Text(String),
                    Int(i64),
                    Id(Uuid),
                    Bool(bool),
                }
                let mut args: Vec<Arg> = Vec::new();
                fn next(arg: Arg, args: &mut Vec<Arg>) -> String {
                    args.push(arg);
                    format!("${}", args.len())
                }
                let mut conditions: Vec<String> = Vec::new();
                if let Some(subject) = &q.subject {
                    let p = next(Arg::Text(subject.clone()), &mut args);
                    conditions.push(format!("EXISTS (SELECT 1 FROM tutor_subjects s WHERE s.tutor_id = p.id AND s.name = {p})"));
                }
                if let Some(currency) = q.currency {
                    let p = next(Arg::Text(currency.to_string()), &mut args);
                    conditions.push(format!("p.currency = {p}"));
                }
                if let Some(min) = q.min_price {
                    let p = next(Arg::Int(min), &mut args);
                    conditions.push(format!("p.lowest_hourly_minor >= {p}"));
                }
                if let Some(max) = q.max_price {
                    let p = next(Arg::Int(max), &mut args);
                    conditions.push(format!("p.lowest_hourly_minor <= {p}"));
                }
                if let Some(min) = q.min_rating {
                    let p = next(Arg::Int(min), &mut args);
                    conditions.push(format!("p.rating_rank >= {p}"));
                }
                if q.verified_only {
                    let p = next(Arg::Bool(true), &mut args);
                    conditions.push(format!("p.verified = {p}"));
                }
                if q.with_availability {
                    let p = next(Arg::Bool(true), &mut args);
                    conditions.push(format!("p.has_availability = {p}"));
                }
                for word in &q.words {
                    let p = next(Arg::Text(like_pattern(word)), &mut args);
                    conditions.push(format!("p.search_text LIKE {p} ESCAPE '\\'"));
                }
                // A user identity has since moved away from TUTOR keeps the profile, out of search.
                {
                    let p = next(Arg::Text(Role::Tutor.as_str().to_owned()), &mut args);
                    conditions.push(format!(
                        "NOT EXISTS (SELECT 1 FROM known_users u WHERE u.user_id = p.user_id AND u.role <> {p})"
                    ));
                }
                let sort = q.sort.unwrap_or(SortBy::Rating);
                let (key, order) = match sort {
                    SortBy::Rating => ("p.rating_rank", "p.rating_rank DESC, p.id DESC"),
                    SortBy::Price => {
                        conditions.push("p.lowest_hourly_minor IS NOT NULL".into());
                        ("p.lowest_hourly_minor", "p.lowest_hourly_minor ASC, p.id ASC")
                    }
                    SortBy::Newest => ("CAST(0 AS BIGINT)", "p.id DESC"),
                };
                match q.after {
                    Some(After::Rating(rank, id)) => {
                        let (a, b, c) = (next(Arg::Int(rank), &mut args), next(Arg::Int(rank), &mut args), next(Arg::Id(id), &mut args));
                        conditions.push(format!("(p.rating_rank < {a} OR (p.rating_rank = {b} AND p.id < {c}))"));
                    }
                    Some(After::Price(price, id)) => {
                        let (a, b, c) = (next(Arg::Int(price), &mut args), next(Arg::Int(price), &mut args), next(Arg::Id(id), &mut args));
                        conditions.push(format!(
                            "(p.lowest_hourly_minor > {a} OR (p.lowest_hourly_minor = {b} AND p.id > {c}))"
                        ));
                    }
                    Some(After::Newest(id)) => {
                        let c = next(Arg::Id(id), &mut args);
                        conditions.push(format!("p.id < {c}"));
                    }
                    None => {}
                }
                let limit = next(Arg::Int(q.limit), &mut args);
                let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
                let sql = format!("SELECT p.id, {key} AS sort_key FROM tutor_profiles p {filter} ORDER BY {order} LIMIT {limit}");
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for arg in args {
                    query = match arg {
                        Arg::Text(v) => query.bind(v),
                        Arg::Int(v) => query.bind(v),
                        Arg::Id(v) => query.bind(v),
                        Arg::Bool(v) => query.bind(v),
                    };
                }
                let rows = query.fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let key: i64 = r.try_get::<Option<i64>, _>("sort_key")?.unwrap_or(0);
                        Ok((TutorId::from_uuid(r.try_get("id")?), key))
                    })
                    .collect()
            }

            async fn taken(
                &self,
                tutor: TutorId,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<Vec<Interval>, StoreError> {
                let rows: Vec<Interval> = sqlx::query_as(
                    "SELECT starts_at, ends_at FROM booked_slots WHERE tutor_id = $1 AND active = $2 \
                     AND starts_at < $4 AND ends_at > $3 ORDER BY starts_at",
                )
                .bind(tutor.as_uuid())
                .bind(true)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows)
            }

            async fn taken_by(
                &self,
                tutors: &[TutorId],
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<std::collections::HashMap<TutorId, Vec<Interval>>, StoreError> {
                let mut out: std::collections::HashMap<TutorId, Vec<Interval>> = std::collections::HashMap::new();
                for chunk in tutors.chunks(500) {
                    let sql = format!(
                        "SELECT tutor_id, starts_at, ends_at FROM booked_slots WHERE active = $1 AND starts_at < $3 \
                         AND ends_at > $2 AND tutor_id IN ({}) ORDER BY starts_at",
                        placeholders(4, chunk.len())
                    );
                    let mut query = sqlx::query_as::<_, (Uuid, DateTime<Utc>, DateTime<Utc>)>(sqlx::AssertSqlSafe(sql))
                        .bind(true)
                        .bind(from)
                        .bind(to);
                    for id in chunk {
                        query = query.bind(id.as_uuid());
                    }
                    for (tutor, start, end) in query.fetch_all(&self.pool).await? {
                        out.entry(TutorId::from_uuid(tutor)).or_default().push((start, end));
                    }
                }
                Ok(out)
            }

            async fn apply_user(&self, consumer: &str, event: &EventEnvelope, user: &KnownUser) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO known_users (user_id, role, first_name, last_name, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, first_name = excluded.first_name, \
                     last_name = excluded.last_name, updated_at = excluded.updated_at",
                )
                .bind(user.user_id.as_uuid())
                .bind(user.role.as_str())
                .bind(&user.first_name)
                .bind(&user.last_name)
                .bind(event.occurred_at)
                .execute(&mut *tx)
                .await?;
                refresh_search_text(&mut tx, user.user_id).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn apply_user_names(
                &self,
                consumer: &str,
                event: &EventEnvelope,
                user: UserId,
                first_name: &str,
                last_name: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                // A profile update about a user not seen yet: the role is unknown, so it waits
                // for the registration (which also carries the names).
                sqlx::query(
                    "UPDATE known_users SET first_name = $2, last_name = $3, updated_at = $4 \
                     WHERE user_id = $1 AND updated_at <= $4",
                )
                .bind(user.as_uuid())
                .bind(first_name)
                .bind(last_name)
                .bind(event.occurred_at)
                .execute(&mut *tx)
                .await?;
                refresh_search_text(&mut tx, user).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn apply_user_role(
                &self,
                consumer: &str,
                event: &EventEnvelope,
                user: UserId,
                role: Role,
            ) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO known_users (user_id, role, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at \
                     WHERE known_users.updated_at <= excluded.updated_at",
                )
                .bind(user.as_uuid())
                .bind(role.as_str())
                .bind(event.occurred_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn apply_booking(&self, consumer: &str, event: &EventEnvelope, slot: &BookedSlot) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                // Once inactive (cancelled), a booking never holds the slot again, whatever order
                // its events arrive in.
                sqlx::query(
                    "INSERT INTO booked_slots (booking_id, tutor_id, starts_at, ends_at, active) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (booking_id) DO UPDATE SET active = (booked_slots.active AND excluded.active)",
                )
                .bind(slot.booking_id)
                .bind(slot.tutor_id.as_uuid())
                .bind(slot.starts_at)
                .bind(slot.ends_at)
                .bind(slot.active)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn apply_review(
                &self,
                consumer: &str,
                event: &EventEnvelope,
                tutor: TutorId,
                review: Uuid,
                contribution: &ReviewContribution,
                rating_event: RatingEvent<'_>,
            ) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                let current: Option<(i16, bool, i64)> =
                    sqlx::query_as("SELECT rating, counted, revision FROM tutor_ratings WHERE review_id = $1")
                        .bind(review)
                        .fetch_optional(&mut *tx)
                        .await?;
                let current = current.map(|(rating, counted, revision)| ReviewContribution {
                    rating: rating as u8,
                    counted,
                    revision,
                });
                if !crate::domain::supersedes(current.as_ref(), contribution) {
                    tx.commit().await?;
                    return Ok(true);
                }
                sqlx::query(
                    "INSERT INTO tutor_ratings (review_id, tutor_id, rating, counted, revision) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (review_id) DO UPDATE SET rating = excluded.rating, counted = excluded.counted, \
                     revision = excluded.revision",
                )
                .bind(review)
                .bind(tutor.as_uuid())
                .bind(i16::from(contribution.rating))
                .bind(contribution.counted)
                .bind(contribution.revision)
                .execute(&mut *tx)
                .await?;
                let rating = recount(&mut tx, tutor.as_uuid()).await?;
                $outbox(&mut tx, &[rating_event(rating)]).await?;
                tx.commit().await?;
                Ok(true)
            }
        }

        /// Recomputes a tutor's rating columns from `tutor_ratings`.
        async fn recount(conn: &mut $conn, tutor: Uuid) -> Result<Rating, sqlx::Error> {
            let (count, sum): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), SUM(rating) FROM tutor_ratings WHERE tutor_id = $1 AND counted = $2",
            )
            .bind(tutor)
            .bind(true)
            .fetch_one(&mut *conn)
            .await?;
            let rating = Rating { count, sum: sum.unwrap_or(0) };
            sqlx::query("UPDATE tutor_profiles SET rating_count = $2, rating_sum = $3, rating_rank = $4 WHERE id = $1")
                .bind(tutor)
                .bind(rating.count)
                .bind(rating.sum)
                .bind(rating.average_hundredths().unwrap_or(0))
                .execute(&mut *conn)
                .await?;
            Ok(rating)
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
        platform::outbox::append_postgres
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
        platform::outbox::append_sqlite
    );
}

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
