//! The repository of the notification context: one trait, and its PostgreSQL and SQLite adapters
//! generated from one portable body (as in review and booking). Every write is one transaction
//! with its outbox events; consumers record the event in the inbox in the same transaction.
//!
//! Tables: `notifications`, `notification_delivery_log`, `notification_preferences`,
//! `notification_settings` (phone number), `push_devices`, the projections `contacts` (identity)
//! and `tutor_users` (tutor profile → user), and for new-message notifications
//! `pending_messages` (unread messages waiting for their delay), `message_reads` (how far
//! each participant has read each conversation) and `message_changes` (tombstones of edited and
//! deleted messages).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use platform::db::placeholders;
use uuid::Uuid;

use crate::domain::{
    Attempt, Channel, Contact, Kind, Notification, Outcome, PendingMessage, Preference, Reach, Status, UserId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such notification")]
    NotFound,
    #[error("the notification changed meanwhile")]
    Stale,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
}

/// How identity's event changes a contact, as of the event's `occurred_at`.
#[derive(Debug, Clone)]
pub enum ContactChange {
    /// `UserRegistered`: kept only if nothing newer (a profile update) arrived first.
    Registered(Contact, DateTime<Utc>),
    /// `UserProfileUpdated`: the whole contact as it was then; ignored when a newer update was
    /// applied already (events may arrive late: redelivery, several consumers).
    Updated(Contact, DateTime<Utc>),
}

/// `reader` has read `conversation` up to and including `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMark {
    pub conversation_id: Uuid,
    pub reader: UserId,
    pub message_id: Uuid,
}

/// What happened to a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageChangeKind {
    /// Its text changed: a notification must not show the old preview.
    Edited,
    /// It is gone: no notification at all.
    Deleted,
}

impl MessageChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Edited => "EDITED",
            Self::Deleted => "DELETED",
        }
    }
}

/// messaging's `MessageEdited` / `MessageDeleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageChange {
    pub message_id: Uuid,
    pub kind: MessageChangeKind,
    pub at: DateTime<Utc>,
}

/// Everything one consumed event changes, written in one transaction with its inbox record.
#[derive(Debug, Clone, Default)]
pub struct Effect {
    pub contact: Option<ContactChange>,
    /// A tutor profile's user account.
    pub tutor_user: Option<(Uuid, UserId)>,
    pub notifications: Vec<Notification>,
    /// Delivery-log rows of notifications delivered by being stored (in-app).
    pub log: Vec<Attempt>,
    pub events: Vec<EventEnvelope>,
    /// Unread messages to notify later, unless their recipient has already read past them.
    pub pending: Vec<PendingMessage>,
    pub read: Option<ReadMark>,
    pub message_change: Option<MessageChange>,
}

/// Builds the notifications for a group of due messages (inside the transaction that removes
/// them): the notifications, their delivery-log rows and events.
pub type Release<'a> =
    &'a (dyn Fn(&[PendingMessage]) -> (Vec<Notification>, Vec<Attempt>, Vec<EventEnvelope>) + Send + Sync);

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Applies a consumed event; `false` when it was applied before (nothing changes).
    async fn apply(&self, consumer: &str, event: &EventEnvelope, effect: &Effect) -> Result<bool, StoreError>;
    /// Contacts, preferences, phone numbers and device counts of `users` (everyone gets an entry).
    async fn reach(&self, users: &[UserId]) -> Result<HashMap<UserId, Reach>, StoreError>;
    async fn contacts(&self, users: &[UserId]) -> Result<HashMap<UserId, Contact>, StoreError>;
    async fn tutor_user(&self, tutor: Uuid) -> Result<Option<UserId>, StoreError>;
    async fn device_tokens(&self, user: UserId) -> Result<Vec<String>, StoreError>;

    /// Unread messages whose delay has passed at `now`, oldest first.
    async fn due_messages(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<PendingMessage>, StoreError>;
    /// Removes `group` from the pending messages and stores what `release` builds from the ones
    /// still there and still unread (a read or a deletion may have removed or covered some
    /// meanwhile; none left: nothing is stored).
    async fn release_messages(
        &self,
        group: &[PendingMessage],
        release: Release<'_>,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Takes up to `limit` pending deliveries due at `now` and holds them until `lease_until`
    /// (another dispatcher skips them meanwhile; a crashed one's are taken again after it).
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Saves a delivery attempt: the notification's new state, its log row and events.
    async fn record_attempt(
        &self,
        notification: &Notification,
        attempt: &Attempt,
        events: &[EventEnvelope],
    ) -> Result<(), StoreError>;

    async fn notifications(&self, ids: &[Uuid]) -> Result<Vec<Notification>, StoreError>;
    /// A user's in-app notifications, newest first, after the notification `after`.
    async fn in_app(
        &self,
        user: UserId,
        unread_only: bool,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError>;
    async fn unread_count(&self, user: UserId) -> Result<i64, StoreError>;
    /// Every notification of `user` on every channel, newest first (support and tests).
    async fn of_recipient(&self, user: UserId, limit: i64) -> Result<Vec<Notification>, StoreError>;
    async fn log(&self, ids: &[Uuid]) -> Result<Vec<Attempt>, StoreError>;
    /// Sets `read_at` if it is still unset.
    async fn mark_read(&self, notification: &Notification) -> Result<(), StoreError>;
    /// Marks every unread in-app notification of `user` read; returns how many.
    async fn mark_all_read(&self, user: UserId, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Saves preference changes and, with `Some`, the phone number (`Some(None)` removes it).
    async fn save_preferences(
        &self,
        user: UserId,
        changes: &[Preference],
        phone: Option<Option<&str>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Registers a device for `user` (a token registered before moves to its new owner).
    async fn register_device(&self, user: UserId, token: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// `false` when `user` had no such device.
    async fn unregister_device(&self, user: UserId, token: &str) -> Result<bool, StoreError>;
}

pub fn for_db(db: &platform::db::Db) -> std::sync::Arc<dyn NotificationStore> {
    match db {
        platform::db::Db::Postgres(pool) => std::sync::Arc::new(PostgresStore::new(pool.clone())),
        platform::db::Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}

const COLUMNS: &str = "id, recipient_id, kind, channel, title, body, status, attempts, next_attempt_at, last_error, \
     created_at, sent_at, read_at";

const CONTACT_COLUMNS: &str =
    "user_id, email, first_name, last_name, locale, time_zone, notify_email, notify_push, notify_sms";

const PENDING_COLUMNS: &str = "message_id, recipient_id, conversation_id, sender_id, preview, edited, sent_at, due_at";

fn corrupt(what: &str, raw: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {raw}"))
}

fn uuids(users: &[UserId]) -> Vec<Uuid> {
    users.iter().map(UserId::as_uuid).collect()
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $pool:ty, $conn:ty, $begin:path, $inbox:path, $outbox:path, $skip_locked:literal) => {
        pub struct $store {
            pool: $pool,
        }

        impl $store {
            pub fn new(pool: $pool) -> Self {
                Self { pool }
            }

            /// Rows of `sql` (with one `IN ({in})` list) for ids in chunks.
            async fn by_ids<T>(
                &self,
                sql: &str,
                ids: &[Uuid],
                map: fn(&<$db as sqlx::Database>::Row) -> Result<T, StoreError>,
            ) -> Result<Vec<T>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = sql.replace("{in}", &placeholders(1, chunk.len()));
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    for row in query.fetch_all(&self.pool).await? {
                        out.push(map(&row)?);
                    }
                }
                Ok(out)
            }
        }

        fn notification_row(r: &<$db as sqlx::Database>::Row) -> Result<Notification, StoreError> {
            use sqlx::Row as _;
            let kind: String = r.try_get("kind")?;
            let channel: String = r.try_get("channel")?;
            let status: String = r.try_get("status")?;
            let attempts: i32 = r.try_get("attempts")?;
            Ok(Notification {
                id: r.try_get("id")?,
                recipient: UserId::from_uuid(r.try_get("recipient_id")?),
                kind: Kind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                attempts: u32::try_from(attempts).map_err(|_| corrupt("attempts", &attempts.to_string()))?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                sent_at: r.try_get("sent_at")?,
                read_at: r.try_get("read_at")?,
            })
        }

        fn contact_row(r: &<$db as sqlx::Database>::Row) -> Result<Contact, StoreError> {
            use sqlx::Row as _;
            Ok(Contact {
                user_id: UserId::from_uuid(r.try_get("user_id")?),
                email: r.try_get("email")?,
                first_name: r.try_get("first_name")?,
                last_name: r.try_get("last_name")?,
                locale: r.try_get("locale")?,
                time_zone: r.try_get("time_zone")?,
                notify_email: r.try_get("notify_email")?,
                notify_push: r.try_get("notify_push")?,
                notify_sms: r.try_get("notify_sms")?,
            })
        }

        fn pending_row(r: &<$db as sqlx::Database>::Row) -> Result<PendingMessage, StoreError> {
            use sqlx::Row as _;
            Ok(PendingMessage {
                message_id: r.try_get("message_id")?,
                recipient: UserId::from_uuid(r.try_get("recipient_id")?),
                conversation_id: r.try_get("conversation_id")?,
                sender: UserId::from_uuid(r.try_get("sender_id")?),
                preview: r.try_get("preview")?,
                edited: r.try_get("edited")?,
                sent_at: r.try_get("sent_at")?,
                due_at: r.try_get("due_at")?,
            })
        }

        fn attempt_row(r: &<$db as sqlx::Database>::Row) -> Result<Attempt, StoreError> {
            use sqlx::Row as _;
            let outcome: String = r.try_get("outcome")?;
            let attempt: i32 = r.try_get("attempt")?;
            Ok(Attempt {
                notification_id: r.try_get("notification_id")?,
                attempt: u32::try_from(attempt).map_err(|_| corrupt("attempt", &attempt.to_string()))?,
                at: r.try_get("at")?,
                outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
                error: r.try_get("error")?,
            })
        }

        async fn insert_notifications(
            conn: &mut $conn,
            notifications: &[Notification],
            log: &[Attempt],
        ) -> Result<(), StoreError> {
            for n in notifications {
                sqlx::query(
                    "INSERT INTO notifications (id, recipient_id, kind, channel, title, body, status, attempts, \
                     next_attempt_at, last_error, created_at, sent_at, read_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(n.id)
                .bind(n.recipient.as_uuid())
                .bind(n.kind.as_str())
                .bind(n.channel.as_str())
                .bind(&n.title)
                .bind(&n.body)
                .bind(n.status.as_str())
                .bind(n.attempts as i32)
                .bind(n.next_attempt_at)
                .bind(&n.last_error)
                .bind(n.created_at)
                .bind(n.sent_at)
                .bind(n.read_at)
                .execute(&mut *conn)
                .await?;
            }
            for a in log {
                insert_attempt(conn, a).await?;
            }
            Ok(())
        }

        async fn insert_attempt(conn: &mut $conn, a: &Attempt) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO notification_delivery_log (notification_id, attempt, at, outcome, error) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(a.notification_id)
            .bind(a.attempt as i32)
            .bind(a.at)
            .bind(a.outcome.as_str())
            .bind(&a.error)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn write_contact(conn: &mut $conn, change: &ContactChange) -> Result<(), StoreError> {
            let (c, at, on_conflict) = match change {
                ContactChange::Registered(c, at) => (c, at, "DO NOTHING"),
                ContactChange::Updated(c, at) => (
                    c,
                    at,
                    "DO UPDATE SET email = excluded.email, first_name = excluded.first_name, \
                     last_name = excluded.last_name, locale = excluded.locale, time_zone = excluded.time_zone, \
                     notify_email = excluded.notify_email, notify_push = excluded.notify_push, \
                     notify_sms = excluded.notify_sms, updated_at = excluded.updated_at \
                     WHERE contacts.updated_at <= excluded.updated_at",
                ),
            };
            let sql = format!(
                "INSERT INTO contacts ({CONTACT_COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (user_id) {on_conflict}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(c.user_id.as_uuid())
                .bind(&c.email)
                .bind(&c.first_name)
                .bind(&c.last_name)
                .bind(&c.locale)
                .bind(&c.time_zone)
                .bind(c.notify_email)
                .bind(c.notify_push)
                .bind(c.notify_sms)
                .bind(*at)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        async fn write_read_mark(conn: &mut $conn, mark: &ReadMark) -> Result<(), StoreError> {
            // Message ids are UUIDv7: their order is the order they were sent in.
            sqlx::query(
                "INSERT INTO message_reads (conversation_id, reader_id, message_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (conversation_id, reader_id) DO UPDATE SET message_id = CASE \
                 WHEN excluded.message_id > message_reads.message_id THEN excluded.message_id \
                 ELSE message_reads.message_id END",
            )
            .bind(mark.conversation_id)
            .bind(mark.reader.as_uuid())
            .bind(mark.message_id)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM pending_messages WHERE recipient_id = $1 AND conversation_id = $2 AND message_id <= $3",
            )
            .bind(mark.reader.as_uuid())
            .bind(mark.conversation_id)
            .bind(mark.message_id)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// The tombstone of `message`, if it was edited or deleted.
        async fn message_change(conn: &mut $conn, message: Uuid) -> Result<Option<MessageChangeKind>, StoreError> {
            let change: Option<String> = sqlx::query_scalar("SELECT change FROM message_changes WHERE message_id = $1")
                .bind(message)
                .fetch_optional(&mut *conn)
                .await?;
            match change.as_deref() {
                None => Ok(None),
                Some("EDITED") => Ok(Some(MessageChangeKind::Edited)),
                Some("DELETED") => Ok(Some(MessageChangeKind::Deleted)),
                Some(other) => Err(corrupt("message change", other)),
            }
        }

        async fn write_message_change(conn: &mut $conn, change: &MessageChange) -> Result<(), StoreError> {
            // A tombstone, so a MessageSent that arrives later (redelivered, or overtaken by this
            // event) is not stored with its old text. A deletion wins over an edit.
            let on_conflict = match change.kind {
                MessageChangeKind::Edited => "DO NOTHING",
                MessageChangeKind::Deleted => "DO UPDATE SET change = excluded.change, at = excluded.at",
            };
            let sql = format!(
                "INSERT INTO message_changes (message_id, change, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (message_id) {on_conflict}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(change.message_id)
                .bind(change.kind.as_str())
                .bind(change.at)
                .execute(&mut *conn)
                .await?;
            let pending = match change.kind {
                MessageChangeKind::Edited => sqlx::query(
                    "UPDATE pending_messages SET preview = '', edited = $2 WHERE message_id = $1",
                )
                .bind(change.message_id)
                .bind(true),
                MessageChangeKind::Deleted => {
                    sqlx::query("DELETE FROM pending_messages WHERE message_id = $1").bind(change.message_id)
                }
            };
            pending.execute(&mut *conn).await?;
            Ok(())
        }

        /// Whether `m` no longer needs its notification: read or deleted meanwhile (an edit
        /// drops its preview). On PostgreSQL (read committed) a MessageRead or MessageDeleted
        /// handled beside the MessageSent commits without seeing the pending row, and the send
        /// without seeing the read mark or tombstone: the release looks again, in its own
        /// transaction, after both committed.
        async fn taken_back(conn: &mut $conn, m: &mut PendingMessage) -> Result<bool, StoreError> {
            let read: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM message_reads WHERE conversation_id = $1 AND reader_id = $2 AND message_id >= $3",
            )
            .bind(m.conversation_id)
            .bind(m.recipient.as_uuid())
            .bind(m.message_id)
            .fetch_one(&mut *conn)
            .await?;
            if read > 0 {
                return Ok(true);
            }
            match message_change(conn, m.message_id).await? {
                Some(MessageChangeKind::Deleted) => Ok(true),
                Some(MessageChangeKind::Edited) => {
                    m.preview.clear();
                    m.edited = true;
                    Ok(false)
                }
                None => Ok(false),
            }
        }

        async fn write_pending(conn: &mut $conn, m: &PendingMessage) -> Result<(), StoreError> {
            let edited = match message_change(conn, m.message_id).await? {
                Some(MessageChangeKind::Deleted) => return Ok(()),
                Some(MessageChangeKind::Edited) => true,
                None => m.edited,
            };
            // A read that arrived before the message (events of one conversation may overtake
            // each other) already covers it.
            sqlx::query(
                "INSERT INTO pending_messages (message_id, recipient_id, conversation_id, sender_id, preview, edited, \
                 sent_at, due_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS (SELECT 1 FROM message_reads \
                 WHERE conversation_id = $3 AND reader_id = $2 AND message_id >= $1) \
                 ON CONFLICT (message_id, recipient_id) DO NOTHING",
            )
            .bind(m.message_id)
            .bind(m.recipient.as_uuid())
            .bind(m.conversation_id)
            .bind(m.sender.as_uuid())
            .bind(if edited { "" } else { m.preview.as_str() })
            .bind(edited)
            .bind(m.sent_at)
            .bind(m.due_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        #[async_trait]
        impl NotificationStore for $store {
            async fn apply(&self, consumer: &str, event: &EventEnvelope, effect: &Effect) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(false);
                }
                if let Some(change) = &effect.contact {
                    write_contact(&mut tx, change).await?;
                }
                if let Some((tutor, user)) = effect.tutor_user {
                    sqlx::query(
                        "INSERT INTO tutor_users (tutor_id, user_id) VALUES ($1, $2) ON CONFLICT (tutor_id) DO NOTHING",
                    )
                    .bind(tutor)
                    .bind(user.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(mark) = &effect.read {
                    write_read_mark(&mut tx, mark).await?;
                }
                if let Some(change) = &effect.message_change {
                    write_message_change(&mut tx, change).await?;
                }
                for m in &effect.pending {
                    write_pending(&mut tx, m).await?;
                }
                insert_notifications(&mut tx, &effect.notifications, &effect.log).await?;
                $outbox(&mut tx, &effect.events).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn reach(&self, users: &[UserId]) -> Result<HashMap<UserId, Reach>, StoreError> {
                use sqlx::Row as _;
                let ids = uuids(users);
                let mut out: HashMap<UserId, Reach> = users.iter().map(|u| (*u, Reach::default())).collect();
                for (user, contact) in self.contacts(users).await? {
                    out.entry(user).or_default().contact = Some(contact);
                }
                let sql = "SELECT user_id, kind, channel, enabled FROM notification_preferences WHERE user_id IN ({in})";
                for row in self.by_ids(sql, &ids, |r| {
                    let kind: String = r.try_get("kind")?;
                    let channel: String = r.try_get("channel")?;
                    let preference = Preference {
                        kind: Kind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
                        enabled: r.try_get("enabled")?,
                    };
                    Ok((UserId::from_uuid(r.try_get("user_id")?), preference))
                })
                .await?
                {
                    out.entry(row.0).or_default().preferences.push(row.1);
                }
                let sql = "SELECT user_id, phone_number FROM notification_settings WHERE user_id IN ({in})";
                for (user, phone) in self
                    .by_ids(sql, &ids, |r| Ok((UserId::from_uuid(r.try_get("user_id")?), r.try_get::<Option<String>, _>("phone_number")?)))
                    .await?
                {
                    out.entry(user).or_default().phone_number = phone;
                }
                let sql = "SELECT user_id, COUNT(*) AS n FROM push_devices WHERE user_id IN ({in}) GROUP BY user_id";
                for (user, n) in
                    self.by_ids(sql, &ids, |r| Ok((UserId::from_uuid(r.try_get("user_id")?), r.try_get::<i64, _>("n")?))).await?
                {
                    out.entry(user).or_default().push_devices = usize::try_from(n).unwrap_or(0);
                }
                Ok(out)
            }

            async fn contacts(&self, users: &[UserId]) -> Result<HashMap<UserId, Contact>, StoreError> {
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE user_id IN ({{in}})");
                let contacts = self.by_ids(&sql, &uuids(users), contact_row).await?;
                Ok(contacts.into_iter().map(|c| (c.user_id, c)).collect())
            }

            async fn tutor_user(&self, tutor: Uuid) -> Result<Option<UserId>, StoreError> {
                let user: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM tutor_users WHERE tutor_id = $1")
                    .bind(tutor)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(user.map(UserId::from_uuid))
            }

            async fn device_tokens(&self, user: UserId) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT token FROM push_devices WHERE user_id = $1 ORDER BY registered_at")
                    .bind(user.as_uuid())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn due_messages(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<PendingMessage>, StoreError> {
                let sql = format!("SELECT {PENDING_COLUMNS} FROM pending_messages WHERE due_at <= $1 ORDER BY due_at LIMIT $2");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(pending_row).collect()
            }

            async fn release_messages(
                &self,
                group: &[PendingMessage],
                release: Release<'_>,
            ) -> Result<Vec<Notification>, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let mut still = Vec::with_capacity(group.len());
                for m in group {
                    // The row as it is now: an edit may have dropped its preview since it was read.
                    let sql = format!(
                        "DELETE FROM pending_messages WHERE message_id = $1 AND recipient_id = $2 \
                         RETURNING {PENDING_COLUMNS}"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(m.message_id)
                        .bind(m.recipient.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(row) = row {
                        let mut m = pending_row(&row)?;
                        if !taken_back(&mut tx, &mut m).await? {
                            still.push(m);
                        }
                    }
                }
                if still.is_empty() {
                    return Ok(Vec::new());
                }
                let (notifications, log, events) = release(&still);
                insert_notifications(&mut tx, &notifications, &log).await?;
                $outbox(&mut tx, &events).await?;
                tx.commit().await?;
                Ok(notifications)
            }

            async fn claim_due(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<Notification>, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let sql = format!(
                    "UPDATE notifications SET next_attempt_at = $2 WHERE id IN (SELECT id FROM notifications \
                     WHERE status = 'PENDING' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3{}) \
                     RETURNING {COLUMNS}",
                    $skip_locked
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(lease_until)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows.iter().map(notification_row).collect()
            }

            async fn record_attempt(
                &self,
                n: &Notification,
                attempt: &Attempt,
                events: &[EventEnvelope],
            ) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let updated = sqlx::query(
                    "UPDATE notifications SET status = $2, attempts = $3, next_attempt_at = $4, last_error = $5, \
                     sent_at = $6 WHERE id = $1 AND attempts = $7 AND status = 'PENDING'",
                )
                .bind(n.id)
                .bind(n.status.as_str())
                .bind(n.attempts as i32)
                .bind(n.next_attempt_at)
                .bind(&n.last_error)
                .bind(n.sent_at)
                .bind(n.attempts as i32 - 1)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::Stale);
                }
                insert_attempt(&mut tx, attempt).await?;
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn notifications(&self, ids: &[Uuid]) -> Result<Vec<Notification>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM notifications WHERE id IN ({{in}})");
                self.by_ids(&sql, ids, notification_row).await
            }

            async fn in_app(
                &self,
                user: UserId,
                unread_only: bool,
                after: Option<Uuid>,
                limit: i64,
            ) -> Result<Vec<Notification>, StoreError> {
                let unread = if unread_only { " AND read_at IS NULL" } else { "" };
                let after_clause = if after.is_some() { " AND id < $3" } else { "" };
                let sql = format!(
                    "SELECT {COLUMNS} FROM notifications WHERE recipient_id = $1 AND channel = 'IN_APP'{unread}{after_clause} \
                     ORDER BY id DESC LIMIT $2"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.as_uuid()).bind(limit);
                if let Some(after) = after {
                    query = query.bind(after);
                }
                query.fetch_all(&self.pool).await?.iter().map(notification_row).collect()
            }

            async fn unread_count(&self, user: UserId) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM notifications WHERE recipient_id = $1 AND channel = 'IN_APP' AND read_at IS NULL",
                )
                .bind(user.as_uuid())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn of_recipient(&self, user: UserId, limit: i64) -> Result<Vec<Notification>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM notifications WHERE recipient_id = $1 ORDER BY id DESC LIMIT $2");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.as_uuid()).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(notification_row).collect()
            }

            async fn log(&self, ids: &[Uuid]) -> Result<Vec<Attempt>, StoreError> {
                let sql = "SELECT notification_id, attempt, at, outcome, error FROM notification_delivery_log \
                           WHERE notification_id IN ({in}) ORDER BY notification_id, attempt";
                self.by_ids(sql, ids, attempt_row).await
            }

            async fn mark_read(&self, n: &Notification) -> Result<(), StoreError> {
                sqlx::query("UPDATE notifications SET read_at = $2 WHERE id = $1 AND read_at IS NULL")
                    .bind(n.id)
                    .bind(n.read_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn mark_all_read(&self, user: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE notifications SET read_at = $2 WHERE recipient_id = $1 AND channel = 'IN_APP' AND read_at IS NULL",
                )
                .bind(user.as_uuid())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn save_preferences(
                &self,
                user: UserId,
                changes: &[Preference],
                phone: Option<Option<&str>>,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                for p in changes {
                    sqlx::query(
                        "INSERT INTO notification_preferences (user_id, kind, channel, enabled, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, kind, channel) \
                         DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                    )
                    .bind(user.as_uuid())
                    .bind(p.kind.as_str())
                    .bind(p.channel.as_str())
                    .bind(p.enabled)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(phone) = phone {
                    sqlx::query(
                        "INSERT INTO notification_settings (user_id, phone_number, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id) DO UPDATE SET phone_number = excluded.phone_number, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(user.as_uuid())
                    .bind(phone)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn register_device(&self, user: UserId, token: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO push_devices (token, user_id, registered_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, registered_at = excluded.registered_at",
                )
                .bind(token)
                .bind(user.as_uuid())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn unregister_device(&self, user: UserId, token: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM push_devices WHERE token = $1 AND user_id = $2")
                    .bind(token)
                    .bind(user.as_uuid())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
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
        " FOR UPDATE SKIP LOCKED"
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
