//! The SQLite adapter of [`UserStore`] (the embedded mode). Writes take the database's write
//! lock up front (`BEGIN IMMEDIATE`), so read-then-write use cases are serialised.

use async_trait::async_trait;
use chrono::Utc;
use kernel::EventEnvelope;
use platform::outbox;
use sqlx::{SqliteConnection, SqlitePool, Transaction};
use uuid::Uuid;

use super::{RoleDecision, SELECT_TOKEN, SELECT_USERS, StoreError, TokenRow, UserRow, UserStore, parse_uuid};
use crate::domain::{Email, RefreshToken, Role, Session, User, UserId};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    async fn write(&self) -> Result<Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

fn user_id(id: String) -> Result<UserId, StoreError> {
    parse_uuid(id).map(UserId::from_uuid)
}

async fn upsert_profile(conn: &mut SqliteConnection, user: &User) -> Result<(), sqlx::Error> {
    let p = &user.profile;
    let n = &p.preferences.notifications;
    sqlx::query(
        "INSERT INTO user_profiles (user_id, first_name, last_name, avatar_url, locale, time_zone, notify_email, notify_push, notify_sms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (user_id) DO UPDATE SET first_name = ?2, last_name = ?3, avatar_url = ?4, locale = ?5, \
         time_zone = ?6, notify_email = ?7, notify_push = ?8, notify_sms = ?9",
    )
    .bind(user.id.to_string())
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.avatar_url)
    .bind(&p.preferences.locale)
    .bind(&p.preferences.time_zone)
    .bind(n.email)
    .bind(n.push)
    .bind(n.sms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_token(conn: &mut SqliteConnection, token: &RefreshToken) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(token.id.to_string())
    .bind(token.session_id.to_string())
    .bind(&token.token_hash)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &User, password_hash: &str, events: &[EventEnvelope]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&mut *tx)
        .await;
        if let Err(sqlx::Error::Database(e)) = &inserted
            && e.is_unique_violation()
        {
            return Err(StoreError::EmailTaken);
        }
        inserted?;
        upsert_profile(&mut tx, user).await?;
        outbox::append_sqlite(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT_USERS} WHERE u.id = ?1"));
        let row: Option<UserRow<String>> = sqlx::query_as(sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.map(|r| r.into_user(user_id)).transpose()
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Placeholders only: the values are bound.
        let placeholders = vec!["?"; ids.len()].join(", ");
        let sql = sqlx::AssertSqlSafe(format!("{SELECT_USERS} WHERE u.id IN ({placeholders})"));
        let mut query = sqlx::query_as::<_, UserRow<String>>(sql);
        for id in ids {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter().map(|r| r.into_user(user_id)).collect()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<(User, String)>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT_USERS} WHERE u.email = ?1 COLLATE NOCASE"));
        let Some(row): Option<UserRow<String>> =
            sqlx::query_as(sql).bind(email.as_str()).fetch_optional(&self.pool).await?
        else {
            return Ok(None);
        };
        let user = row.into_user(user_id)?;
        let hash = self.password_hash(user.id).await?.ok_or(StoreError::UserNotFound)?;
        Ok(Some((user, hash)))
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn save_profile(&self, user: &User, events: &[EventEnvelope]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query("UPDATE users SET updated_at = ?2 WHERE id = ?1")
            .bind(user.id.to_string())
            .bind(user.updated_at)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::UserNotFound);
        }
        upsert_profile(&mut tx, user).await?;
        outbox::append_sqlite(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: Option<Uuid>,
        events: &[EventEnvelope],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let now = Utc::now();
        let updated = sqlx::query("UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id.to_string())
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::UserNotFound);
        }
        sqlx::query(
            "UPDATE user_sessions SET revoked_at = ?3, revoked_reason = 'password changed' \
             WHERE user_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR id <> ?2)",
        )
        .bind(id.to_string())
        .bind(keep_session.map(|s| s.to_string()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        outbox::append_sqlite(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_role(&self, id: UserId, role: Role, decide: RoleDecision<'_>) -> Result<User, StoreError> {
        // BEGIN IMMEDIATE holds the write lock, so the admin count cannot change under us.
        let mut tx = self.write().await?;
        let admins: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'ADMIN'").fetch_one(&mut *tx).await?;
        let sql = sqlx::AssertSqlSafe(format!("{SELECT_USERS} WHERE u.id = ?1"));
        let row: Option<UserRow<String>> = sqlx::query_as(sql).bind(id.to_string()).fetch_optional(&mut *tx).await?;
        let mut user = row.ok_or(StoreError::UserNotFound)?.into_user(user_id)?;
        let events = decide(&user, admins)?;
        user.role = role;
        user.updated_at = Utc::now();
        sqlx::query("UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id.to_string())
            .bind(role.as_str())
            .bind(user.updated_at)
            .execute(&mut *tx)
            .await?;
        outbox::append_sqlite(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn start_session(
        &self,
        session: &Session,
        token: &RefreshToken,
        events: &[EventEnvelope],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO user_sessions (id, user_id, created_at) VALUES (?1, ?2, ?3)")
            .bind(session.id.to_string())
            .bind(session.user_id.to_string())
            .bind(session.created_at)
            .execute(&mut *tx)
            .await?;
        insert_token(&mut tx, token).await?;
        outbox::append_sqlite(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn refresh_token(&self, token_hash: &str) -> Result<Option<(RefreshToken, Session)>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT_TOKEN} WHERE t.token_hash = ?1"));
        let row: Option<TokenRow<String>> = sqlx::query_as(sql).bind(token_hash).fetch_optional(&self.pool).await?;
        row.map(|r| r.into_parts(parse_uuid)).transpose()
    }

    async fn rotate_refresh_token(&self, used: &RefreshToken, next: &RefreshToken) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let marked = sqlx::query("UPDATE refresh_tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL")
            .bind(used.id.to_string())
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        insert_token(&mut tx, next).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_session(&self, session_id: Uuid, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE user_sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        )
        .bind(session_id.to_string())
        .bind(Utc::now())
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
