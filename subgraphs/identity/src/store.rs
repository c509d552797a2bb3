//! The repository of the identity context: one trait, a PostgreSQL and a SQLite adapter.
//! Every write is one transaction that also appends the use case's events to the outbox.

use async_trait::async_trait;
use kernel::EventEnvelope;
use uuid::Uuid;

use crate::domain::{DomainError, Email, RefreshToken, Role, Session, User, UserId};

mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    #[error("no such user")]
    UserNotFound,
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
}

/// Decides a role change from the user as stored and the current number of admins, and returns
/// the events to append; called inside the transaction that holds the admins' rows.
pub type RoleDecision<'a> = &'a (dyn Fn(&User, i64) -> Result<Vec<EventEnvelope>, DomainError> + Send + Sync);

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with [`StoreError::EmailTaken`] when the e-mail exists, whatever its case.
    async fn insert_user(&self, user: &User, password_hash: &str, events: &[EventEnvelope]) -> Result<(), StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// The users among `ids` that exist, in any order (one query: entity batches).
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<(User, String)>, StoreError>;
    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StoreError>;
    async fn save_profile(&self, user: &User, events: &[EventEnvelope]) -> Result<(), StoreError>;
    /// Stores the new hash and revokes every session but `keep_session`.
    async fn save_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: Option<Uuid>,
        events: &[EventEnvelope],
    ) -> Result<(), StoreError>;
    async fn change_role(&self, id: UserId, role: Role, decide: RoleDecision<'_>) -> Result<User, StoreError>;
    async fn start_session(
        &self,
        session: &Session,
        token: &RefreshToken,
        events: &[EventEnvelope],
    ) -> Result<(), StoreError>;
    async fn refresh_token(&self, token_hash: &str) -> Result<Option<(RefreshToken, Session)>, StoreError>;
    /// Marks `used` used and stores `next`, only if `used` was still unused; `false` otherwise
    /// (a concurrent reuse).
    async fn rotate_refresh_token(&self, used: &RefreshToken, next: &RefreshToken) -> Result<bool, StoreError>;
    async fn revoke_session(&self, session_id: Uuid, reason: &str) -> Result<(), StoreError>;
}

/// Opens the store for an already migrated database.
pub fn for_db(db: &platform::Db) -> std::sync::Arc<dyn UserStore> {
    match db {
        platform::Db::Postgres(pool) => std::sync::Arc::new(PostgresStore::new(pool.clone())),
        platform::Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}

pub(crate) fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse().map_err(|_| StoreError::Corrupt(format!("role {raw:?}")))
}

pub(crate) fn parse_email(raw: &str) -> Result<Email, StoreError> {
    Email::parse(raw).map_err(|_| StoreError::Corrupt(format!("e-mail {raw:?}")))
}

/// A user joined with its profile, as both backends select it; `I` is the id column's type.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow<I> {
    id: I,
    email: String,
    role: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    first_name: String,
    last_name: String,
    avatar_url: Option<String>,
    locale: String,
    time_zone: String,
    notify_email: bool,
    notify_push: bool,
    notify_sms: bool,
}

pub(crate) const SELECT_USERS: &str = "SELECT u.id, u.email, u.role, u.created_at, u.updated_at, \
     p.first_name, p.last_name, p.avatar_url, p.locale, p.time_zone, p.notify_email, p.notify_push, p.notify_sms \
     FROM users u JOIN user_profiles p ON p.user_id = u.id";

impl<I> UserRow<I> {
    pub(crate) fn into_user(self, id: impl FnOnce(I) -> Result<UserId, StoreError>) -> Result<User, StoreError> {
        use crate::domain::{NotificationOptIns, Preferences, Profile};
        Ok(User {
            id: id(self.id)?,
            email: parse_email(&self.email)?,
            role: parse_role(&self.role)?,
            profile: Profile {
                first_name: self.first_name,
                last_name: self.last_name,
                avatar_url: self.avatar_url,
                preferences: Preferences {
                    locale: self.locale,
                    time_zone: self.time_zone,
                    notifications: NotificationOptIns {
                        email: self.notify_email,
                        push: self.notify_push,
                        sms: self.notify_sms,
                    },
                },
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A refresh token joined with its session.
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow<I> {
    id: I,
    session_id: I,
    token_hash: String,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
    used_at: Option<chrono::DateTime<chrono::Utc>>,
    user_id: I,
    session_created_at: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub(crate) const SELECT_TOKEN: &str = "SELECT t.id, t.session_id, t.token_hash, t.created_at, t.expires_at, t.used_at, \
     s.user_id, s.created_at AS session_created_at, s.revoked_at \
     FROM refresh_tokens t JOIN user_sessions s ON s.id = t.session_id";

impl<I> TokenRow<I> {
    pub(crate) fn into_parts(
        self,
        uuid: impl Fn(I) -> Result<Uuid, StoreError>,
    ) -> Result<(RefreshToken, Session), StoreError> {
        let session_id = uuid(self.session_id)?;
        let token = RefreshToken {
            id: uuid(self.id)?,
            session_id,
            token_hash: self.token_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
        };
        let session = Session {
            id: session_id,
            user_id: UserId::from_uuid(uuid(self.user_id)?),
            created_at: self.session_created_at,
            revoked_at: self.revoked_at,
        };
        Ok((token, session))
    }
}

pub(crate) fn parse_uuid(raw: String) -> Result<Uuid, StoreError> {
    Uuid::parse_str(&raw).map_err(|_| StoreError::Corrupt(format!("id {raw:?}")))
}
