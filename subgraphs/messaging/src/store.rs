//! The repository of the messaging context: one trait, and its PostgreSQL and SQLite adapters
//! generated from one portable body (as in review and tutoring). Every write is one transaction
//! with its outbox events; the users projection records the event in the inbox in the same
//! transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use platform::db::placeholders;
use uuid::Uuid;

use crate::domain::{Conversation, ConversationId, DomainError, Message, MessageId, ReadReceipt, Role, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
}

/// What starting a conversation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Stored, with its events.
    New,
    /// The pair already has this conversation; nothing was written.
    Existing(Conversation),
}

/// A conversation as one participant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    pub conversation: Conversation,
    pub viewer: UserId,
    pub archived_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    pub last_message: Option<Message>,
    /// Messages of the others, not deleted, after the viewer's read mark.
    pub unread: i64,
    /// The cursor of the conversation in the viewer's list.
    pub activity_key: Uuid,
}

/// What marking a message read did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    pub receipt: ReadReceipt,
    /// `false`: the reader had read that far already (nothing written, no event).
    pub advanced: bool,
}

/// Changes a message (locked) and returns the events to append; runs inside its transaction.
pub type MessageChange<'a> = &'a (dyn Fn(&mut Message) -> Result<Vec<EventEnvelope>, DomainError> + Send + Sync);

/// The event of a read mark that moved forward.
pub type ReadEvent<'a> = &'a (dyn Fn(&ReadReceipt) -> EventEnvelope + Send + Sync);

#[async_trait]
pub trait MessagingStore: Send + Sync {
    /// A user's role as identity's events told it, `None` while unknown.
    async fn known_role(&self, user: UserId) -> Result<Option<Role>, StoreError>;
    /// Records a user's role as of `event` (older events never overwrite newer ones); `false`
    /// when the event was applied before.
    async fn apply_user_role(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        user: UserId,
        role: Role,
    ) -> Result<bool, StoreError>;

    /// Stores a new conversation with its events, unless its pair has one already.
    async fn start(&self, conversation: &Conversation, events: &[EventEnvelope]) -> Result<Started, StoreError>;
    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError>;
    /// The conversation of a pair of users (given in canonical order, see `domain::pair_of`).
    async fn pair(&self, low: UserId, high: UserId) -> Result<Option<Conversation>, StoreError>;
    /// The conversations among `ids` that `viewer` takes part in, as they see them.
    async fn views(&self, viewer: UserId, ids: &[ConversationId]) -> Result<Vec<ConversationView>, StoreError>;
    /// `viewer`'s conversations, newest activity first, after the cursor `after`.
    async fn my_conversations(
        &self,
        viewer: UserId,
        include_archived: bool,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<ConversationId>, StoreError>;
    /// Archives it for `user`, appending `events`; `false` (and nothing written) when it was
    /// archived for them already.
    async fn archive(
        &self,
        conversation: ConversationId,
        user: UserId,
        at: DateTime<Utc>,
        events: &[EventEnvelope],
    ) -> Result<bool, StoreError>;
    /// Shows an archived conversation to `user` again.
    async fn unarchive(&self, conversation: ConversationId, user: UserId) -> Result<(), StoreError>;

    /// Stores a message with its events; the conversation's activity moves to it and it is no
    /// longer archived for anyone.
    async fn send(&self, message: &Message, events: &[EventEnvelope]) -> Result<(), StoreError>;
    async fn messages(&self, ids: &[MessageId]) -> Result<Vec<Message>, StoreError>;
    /// Up to `limit` messages of each conversation, newest first, older than `before`.
    async fn history(
        &self,
        conversations: &[ConversationId],
        before: Option<MessageId>,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// Locks the message, applies `change` and saves it with the events it returns.
    async fn change_message(&self, id: MessageId, change: MessageChange<'_>) -> Result<Message, StoreError>;
    /// Moves `reader`'s read mark in the message's conversation forward to it, with a receipt
    /// for every message of the others up to it; [`StoreError::NotFound`] when `reader` is not
    /// a participant.
    async fn mark_read(
        &self,
        reader: UserId,
        message: &Message,
        at: DateTime<Utc>,
        event: ReadEvent<'_>,
    ) -> Result<ReadOutcome, StoreError>;
    /// The receipts of `messages`.
    async fn receipts(&self, messages: &[MessageId]) -> Result<Vec<ReadReceipt>, StoreError>;
}

pub fn for_db(db: &platform::db::Db) -> std::sync::Arc<dyn MessagingStore> {
    match db {
        platform::db::Db::Postgres(pool) => std::sync::Arc::new(PostgresStore::new(pool.clone())),
        platform::db::Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}

const CONVERSATION_COLUMNS: &str = "c.id, c.started_by, c.user_low, c.user_high, c.created_at";
const MESSAGE_COLUMNS: &str =
    "m.id, m.conversation_id, m.sender_id, m.content, m.sent_at, m.edited_at, m.deleted_at, c.user_low, c.user_high";
const MESSAGE_FROM: &str = "messages m JOIN conversations c ON c.id = m.conversation_id";
/// Conversations per statement of a batched history (one `UNION ALL` branch each).
const HISTORY_BATCH: usize = 50;

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse().map_err(|_| StoreError::Corrupt(format!("role {raw}")))
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $pool:ty, $conn:ty, $begin:path, $inbox:path, $outbox:path, $lock:literal, $lock_message:literal) => {
        pub struct $store {
            pool: $pool,
        }

        type Row = <$db as sqlx::Database>::Row;

        impl $store {
            pub fn new(pool: $pool) -> Self {
                Self { pool }
            }

            async fn messages_where(&self, column: &str, ids: &[Uuid]) -> Result<Vec<Message>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT {MESSAGE_COLUMNS} FROM {MESSAGE_FROM} WHERE {column} IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    for row in query.fetch_all(&self.pool).await? {
                        out.push(message_row(&row)?);
                    }
                }
                Ok(out)
            }

            /// One chunk of [`MessagingStore::views`]: the participant rows, the last messages
            /// and the unread counts, one query each.
            async fn views_chunk(&self, viewer: UserId, ids: &[Uuid]) -> Result<Vec<ConversationView>, StoreError> {
                use sqlx::Row as _;
                let list = placeholders(2, ids.len());
                let sql = format!(
                    "SELECT {CONVERSATION_COLUMNS}, c.last_message_id, p.activity_key, p.last_activity_at, p.archived_at \
                     FROM conversations c JOIN conversation_participants p ON p.conversation_id = c.id AND p.user_id = $1 \
                     WHERE c.id IN ({list})"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(viewer.as_uuid());
                for id in ids {
                    query = query.bind(*id);
                }
                let rows = query.fetch_all(&self.pool).await?;
                let last_ids: Vec<Uuid> =
                    rows.iter().map(|r| r.try_get::<Option<Uuid>, _>("last_message_id")).collect::<Result<Vec<_>, _>>()?
                        .into_iter()
                        .flatten()
                        .collect();
                let mut last: std::collections::HashMap<Uuid, Message> = self
                    .messages_where("m.id", &last_ids)
                    .await?
                    .into_iter()
                    .map(|m| (m.conversation_id.as_uuid(), m))
                    .collect();
                let sql = format!(
                    "SELECT m.conversation_id, COUNT(*) AS unread FROM messages m \
                     JOIN conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = $1 \
                     WHERE m.conversation_id IN ({list}) AND m.sender_id <> $1 AND m.deleted_at IS NULL \
                     AND (p.last_read_message_id IS NULL OR m.id > p.last_read_message_id) \
                     GROUP BY m.conversation_id"
                );
                let mut query = sqlx::query_as::<_, (Uuid, i64)>(sqlx::AssertSqlSafe(sql)).bind(viewer.as_uuid());
                for id in ids {
                    query = query.bind(*id);
                }
                let unread: std::collections::HashMap<Uuid, i64> =
                    query.fetch_all(&self.pool).await?.into_iter().collect();
                rows.iter()
                    .map(|r| {
                        let conversation = conversation_row(r)?;
                        let id = conversation.id.as_uuid();
                        Ok(ConversationView {
                            viewer,
                            archived_at: r.try_get("archived_at")?,
                            last_activity_at: r.try_get("last_activity_at")?,
                            activity_key: r.try_get("activity_key")?,
                            last_message: last.remove(&id),
                            unread: unread.get(&id).copied().unwrap_or(0),
                            conversation,
                        })
                    })
                    .collect()
            }
        }

        fn conversation_row(r: &Row) -> Result<Conversation, StoreError> {
            use sqlx::Row as _;
            let started_by = UserId::from_uuid(r.try_get("started_by")?);
            let low = UserId::from_uuid(r.try_get("user_low")?);
            let high = UserId::from_uuid(r.try_get("user_high")?);
            let other = match started_by {
                s if s == low => high,
                s if s == high => low,
                _ => return Err(StoreError::Corrupt(format!("conversation started by a stranger {started_by}"))),
            };
            Ok(Conversation {
                id: ConversationId::from_uuid(r.try_get("id")?),
                participants: [started_by, other],
                created_at: r.try_get("created_at")?,
            })
        }

        fn message_row(r: &Row) -> Result<Message, StoreError> {
            use sqlx::Row as _;
            Ok(Message {
                id: MessageId::from_uuid(r.try_get("id")?),
                conversation_id: ConversationId::from_uuid(r.try_get("conversation_id")?),
                participants: [UserId::from_uuid(r.try_get("user_low")?), UserId::from_uuid(r.try_get("user_high")?)],
                sender_id: UserId::from_uuid(r.try_get("sender_id")?),
                content: r.try_get("content")?,
                sent_at: r.try_get("sent_at")?,
                edited_at: r.try_get("edited_at")?,
                deleted_at: r.try_get("deleted_at")?,
            })
        }

        async fn existing_pair(conn: &mut $conn, (low, high): (UserId, UserId)) -> Result<Option<Conversation>, StoreError> {
            let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.user_low = $1 AND c.user_high = $2");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(low.as_uuid())
                .bind(high.as_uuid())
                .fetch_optional(&mut *conn)
                .await?;
            row.as_ref().map(conversation_row).transpose()
        }

        async fn insert_conversation(conn: &mut $conn, conversation: &Conversation) -> Result<(), sqlx::Error> {
            let (low, high) = conversation.pair();
            sqlx::query(
                "INSERT INTO conversations (id, started_by, user_low, user_high, created_at, last_activity_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(conversation.id.as_uuid())
            .bind(conversation.started_by().as_uuid())
            .bind(low.as_uuid())
            .bind(high.as_uuid())
            .bind(conversation.created_at)
            .execute(&mut *conn)
            .await?;
            for user in conversation.participants {
                sqlx::query(
                    "INSERT INTO conversation_participants (conversation_id, user_id, activity_key, last_activity_at) \
                     VALUES ($1, $2, $1, $3)",
                )
                .bind(conversation.id.as_uuid())
                .bind(user.as_uuid())
                .bind(conversation.created_at)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }

        async fn receipt_of(conn: &mut $conn, message: MessageId, reader: UserId) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
            sqlx::query_scalar("SELECT read_at FROM message_read_receipts WHERE message_id = $1 AND reader_id = $2")
                .bind(message.as_uuid())
                .bind(reader.as_uuid())
                .fetch_optional(&mut *conn)
                .await
        }

        #[async_trait]
        impl MessagingStore for $store {
            async fn known_role(&self, user: UserId) -> Result<Option<Role>, StoreError> {
                let role: Option<String> = sqlx::query_scalar("SELECT role FROM known_users WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                role.as_deref().map(parse_role).transpose()
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

            async fn start(&self, conversation: &Conversation, events: &[EventEnvelope]) -> Result<Started, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if let Some(existing) = existing_pair(&mut tx, conversation.pair()).await? {
                    return Ok(Started::Existing(existing));
                }
                match insert_conversation(&mut tx, conversation).await {
                    // Both started it at once: the other insert won; return its conversation.
                    Err(e) if is_unique_violation(&e) => {
                        drop(tx);
                        let mut conn = self.pool.acquire().await?;
                        let existing = existing_pair(&mut conn, conversation.pair()).await?;
                        return existing.map(Started::Existing).ok_or(StoreError::NotFound);
                    }
                    other => other?,
                }
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(Started::New)
            }

            async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
                let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_uuid()).fetch_optional(&self.pool).await?;
                row.as_ref().map(conversation_row).transpose()
            }

            async fn pair(&self, low: UserId, high: UserId) -> Result<Option<Conversation>, StoreError> {
                let mut conn = self.pool.acquire().await?;
                existing_pair(&mut conn, (low, high)).await
            }

            async fn views(&self, viewer: UserId, ids: &[ConversationId]) -> Result<Vec<ConversationView>, StoreError> {
                let ids: Vec<Uuid> = ids.iter().map(ConversationId::as_uuid).collect();
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    out.extend(self.views_chunk(viewer, chunk).await?);
                }
                Ok(out)
            }

            async fn my_conversations(
                &self,
                viewer: UserId,
                include_archived: bool,
                after: Option<Uuid>,
                limit: i64,
            ) -> Result<Vec<ConversationId>, StoreError> {
                let archived = if include_archived { "" } else { " AND archived_at IS NULL" };
                let after_clause = if after.is_some() { " AND activity_key < $3" } else { "" };
                let sql = format!(
                    "SELECT conversation_id FROM conversation_participants WHERE user_id = $1{archived}{after_clause} \
                     ORDER BY activity_key DESC LIMIT $2"
                );
                let mut query = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql)).bind(viewer.as_uuid()).bind(limit);
                if let Some(after) = after {
                    query = query.bind(after);
                }
                Ok(query.fetch_all(&self.pool).await?.into_iter().map(ConversationId::from_uuid).collect())
            }

            async fn archive(
                &self,
                conversation: ConversationId,
                user: UserId,
                at: DateTime<Utc>,
                events: &[EventEnvelope],
            ) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let archived = sqlx::query(
                    "UPDATE conversation_participants SET archived_at = $3 \
                     WHERE conversation_id = $1 AND user_id = $2 AND archived_at IS NULL",
                )
                .bind(conversation.as_uuid())
                .bind(user.as_uuid())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if archived.rows_affected() == 0 {
                    return Ok(false);
                }
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn unarchive(&self, conversation: ConversationId, user: UserId) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE conversation_participants SET archived_at = NULL WHERE conversation_id = $1 AND user_id = $2",
                )
                .bind(conversation.as_uuid())
                .bind(user.as_uuid())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn send(&self, message: &Message, events: &[EventEnvelope]) -> Result<(), StoreError> {
                let mut tx = $begin(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, sender_id, content, sent_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(message.id.as_uuid())
                .bind(message.conversation_id.as_uuid())
                .bind(message.sender_id.as_uuid())
                .bind(&message.content)
                .bind(message.sent_at)
                .execute(&mut *tx)
                .await?;
                // Concurrent sends may commit out of order: activity only ever moves forward.
                sqlx::query(
                    "UPDATE conversations SET last_message_id = $2, last_activity_at = $3 \
                     WHERE id = $1 AND (last_message_id IS NULL OR last_message_id < $2)",
                )
                .bind(message.conversation_id.as_uuid())
                .bind(message.id.as_uuid())
                .bind(message.sent_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE conversation_participants SET archived_at = NULL, \
                     last_activity_at = CASE WHEN activity_key < $2 THEN $3 ELSE last_activity_at END, \
                     activity_key = CASE WHEN activity_key < $2 THEN $2 ELSE activity_key END \
                     WHERE conversation_id = $1",
                )
                .bind(message.conversation_id.as_uuid())
                .bind(message.id.as_uuid())
                .bind(message.sent_at)
                .execute(&mut *tx)
                .await?;
                $outbox(&mut tx, events).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn messages(&self, ids: &[MessageId]) -> Result<Vec<Message>, StoreError> {
                let ids: Vec<Uuid> = ids.iter().map(MessageId::as_uuid).collect();
                self.messages_where("m.id", &ids).await
            }

            async fn history(
                &self,
                conversations: &[ConversationId],
                before: Option<MessageId>,
                limit: i64,
            ) -> Result<Vec<Message>, StoreError> {
                // One indexed range per conversation (`UNION ALL`), rather than a window over
                // whole conversations.
                let before_clause = if before.is_some() { " AND m.id < $2" } else { "" };
                let first = if before.is_some() { 3 } else { 2 };
                let mut out = Vec::new();
                for chunk in conversations.chunks(HISTORY_BATCH) {
                    let branches: Vec<String> = (0..chunk.len())
                        .map(|i| {
                            format!(
                                "SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM {MESSAGE_FROM} \
                                 WHERE m.conversation_id = ${}{before_clause} ORDER BY m.id DESC LIMIT $1) AS h{i}",
                                first + i
                            )
                        })
                        .collect();
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(branches.join(" UNION ALL "))).bind(limit);
                    if let Some(before) = before {
                        query = query.bind(before.as_uuid());
                    }
                    for id in chunk {
                        query = query.bind(id.as_uuid());
                    }
                    for row in query.fetch_all(&self.pool).await? {
                        out.push(message_row(&row)?);
                    }
                }
                Ok(out)
            }

            async fn change_message(&self, id: MessageId, change: MessageChange<'_>) -> Result<Message, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM {MESSAGE_FROM} WHERE m.id = $1{}", $lock_message);
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_uuid()).fetch_optional(&mut *tx).await?;
                let mut message = message_row(&row.ok_or(StoreError::NotFound)?)?;
                let events = change(&mut message)?;
                sqlx::query("UPDATE messages SET content = $2, edited_at = $3, deleted_at = $4 WHERE id = $1")
                    .bind(message.id.as_uuid())
                    .bind(&message.content)
                    .bind(message.edited_at)
                    .bind(message.deleted_at)
                    .execute(&mut *tx)
                    .await?;
                $outbox(&mut tx, &events).await?;
                tx.commit().await?;
                Ok(message)
            }

            async fn mark_read(
                &self,
                reader: UserId,
                message: &Message,
                at: DateTime<Utc>,
                event: ReadEvent<'_>,
            ) -> Result<ReadOutcome, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let sql = format!(
                    "SELECT last_read_message_id, last_read_at FROM conversation_participants \
                     WHERE conversation_id = $1 AND user_id = $2{}",
                    $lock
                );
                let mark: Option<(Option<Uuid>, Option<DateTime<Utc>>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(message.conversation_id.as_uuid())
                    .bind(reader.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                let (read_up_to, last_read_at) = mark.ok_or(StoreError::NotFound)?;
                let read_up_to = read_up_to.map(MessageId::from_uuid);
                let mut receipt = ReadReceipt {
                    conversation_id: message.conversation_id,
                    message_id: message.id,
                    reader_id: reader,
                    read_at: at,
                };
                if !crate::domain::advances(read_up_to, message.id) {
                    // Read before: the receipt as it was (own messages have none: the mark's time).
                    let earlier = receipt_of(&mut tx, message.id, reader).await?;
                    receipt.read_at = earlier.or(last_read_at).unwrap_or(at);
                    return Ok(ReadOutcome { receipt, advanced: false });
                }
                sqlx::query(
                    "UPDATE conversation_participants SET last_read_message_id = $3, last_read_at = $4 \
                     WHERE conversation_id = $1 AND user_id = $2",
                )
                .bind(message.conversation_id.as_uuid())
                .bind(reader.as_uuid())
                .bind(message.id.as_uuid())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                let since = if read_up_to.is_some() { " AND id > $5" } else { "" };
                let sql = format!(
                    "INSERT INTO message_read_receipts (message_id, reader_id, conversation_id, read_at) \
                     SELECT id, $2, conversation_id, $4 FROM messages \
                     WHERE conversation_id = $1 AND id <= $3 AND sender_id <> $2{since} \
                     ON CONFLICT (message_id, reader_id) DO NOTHING"
                );
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(message.conversation_id.as_uuid())
                    .bind(reader.as_uuid())
                    .bind(message.id.as_uuid())
                    .bind(at);
                if let Some(mark) = read_up_to {
                    insert = insert.bind(mark.as_uuid());
                }
                insert.execute(&mut *tx).await?;
                $outbox(&mut tx, &[event(&receipt)]).await?;
                tx.commit().await?;
                Ok(ReadOutcome { receipt, advanced: true })
            }

            async fn receipts(&self, messages: &[MessageId]) -> Result<Vec<ReadReceipt>, StoreError> {
                let mut out = Vec::new();
                for chunk in messages.chunks(500) {
                    let sql = format!(
                        "SELECT message_id, reader_id, conversation_id, read_at FROM message_read_receipts \
                         WHERE message_id IN ({}) ORDER BY read_at",
                        placeholders(1, chunk.len())
                    );
                    let mut query = sqlx::query_as::<_, (Uuid, Uuid, Uuid, DateTime<Utc>)>(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(id.as_uuid());
                    }
                    for (message, reader, conversation, read_at) in query.fetch_all(&self.pool).await? {
                        out.push(ReadReceipt {
                            conversation_id: ConversationId::from_uuid(conversation),
                            message_id: MessageId::from_uuid(message),
                            reader_id: UserId::from_uuid(reader),
                            read_at,
                        });
                    }
                }
                Ok(out)
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
        " FOR UPDATE",
        " FOR UPDATE OF m"
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
        "",
        ""
    );
}

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
