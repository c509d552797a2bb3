//! The messaging subgraph's GraphQL schema: conversations and messages (federated entities
//! `Conversation` and `Message`, both `@key(fields: "id")`), their mutations, `User.conversations`,
//! and the subscriptions `messageAdded`, `messageUpdated`, `messageRead` and `typing`.
//!
//! Only participants see a conversation or its messages: for anyone else a query answers `null`,
//! a mutation or subscription `NOT_FOUND` — the same as for an id that does not exist.

use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt as _};
use kernel::ErrorCode;
use platform::SignedInGuard;
use platform::auth::{require_principal, viewer};
use platform::graphql::{RequestMetrics, error_with_code, parse_id};

use crate::domain::{self, ConversationId, MessageId, UserId};
use crate::error::{IntoGraphql, ServiceError};
use crate::live::LiveEvent;
use crate::service::{self as use_cases, MessagingService, Page, page_size};
use crate::store::ConversationView;

mod loaders;
use loaders::{HistoryKey, HistoryLoader, MessageLoader, ReceiptLoader, ViewKey, ViewLoader};

pub type MessagingSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema; `service` is `None` only to export the SDL.
pub fn build(service: Option<Arc<MessagingService>>) -> MessagingSchema {
    let mut builder = Schema::build(Query, Mutation, Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .limit_depth(16)
        .limit_complexity(1_000)
        .extension(RequestMetrics::new("messaging"));
    if let Some(service) = service {
        builder = builder
            .data(DataLoader::new(ViewLoader(service.clone()), tokio::spawn))
            .data(DataLoader::new(MessageLoader(service.clone()), tokio::spawn))
            .data(DataLoader::new(HistoryLoader(service.clone()), tokio::spawn))
            .data(DataLoader::new(ReceiptLoader(service.clone()), tokio::spawn))
            .data(service);
    }
    builder.finish()
}

/// The federated SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build(None).sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

fn service<'a>(ctx: &Context<'a>) -> &'a Arc<MessagingService> {
    ctx.data_unchecked::<Arc<MessagingService>>()
}

fn loader<'a, L: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(
    ctx: &Context<'a>,
) -> &'a DataLoader<L> {
    ctx.data_unchecked::<DataLoader<L>>()
}

fn loader_error(e: Arc<ServiceError>) -> async_graphql::Error {
    platform::graphql::internal_error(&e)
}

fn id_of(uuid: impl std::fmt::Display) -> ID {
    ID(uuid.to_string())
}

fn conversation_connection(page: Page<ConversationView>) -> ConversationConnection {
    let end_cursor = page.items.last().map(|v| v.activity_key.to_string());
    let edges = page
        .items
        .into_iter()
        .map(|v| ConversationEdge { cursor: v.activity_key.to_string(), node: Conversation(v) })
        .collect();
    ConversationConnection { edges, page_info: PageInfo { has_next_page: page.has_next_page, end_cursor } }
}

async fn my_conversations(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    include_archived: bool,
) -> Result<ConversationConnection> {
    let principal = require_principal(ctx)?;
    let page = service(ctx).conversations(principal.user_id, first, after.as_deref(), include_archived).await.gql()?;
    Ok(conversation_connection(page))
}

pub struct Query;

#[Object]
impl Query {
    /// Your conversations, newest activity first, each with its last message and your unread
    /// count. `first` is 1–50 (20 when omitted); the ones you archived only with
    /// `includeArchived: true`.
    #[graphql(guard = "SignedInGuard")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        include_archived: Option<bool>,
    ) -> Result<ConversationConnection> {
        my_conversations(ctx, first, after, include_archived.unwrap_or(false)).await
    }

    /// A conversation you take part in (`null` for any other id).
    #[graphql(guard = "SignedInGuard")]
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Conversation>> {
        let principal = require_principal(ctx)?;
        let key = ViewKey { viewer: principal.user_id, conversation: parse_id(&id, "conversation")? };
        Ok(loader::<ViewLoader, _>(ctx).load_one(key).await.map_err(loader_error)?.map(Conversation))
    }

    #[graphql(entity)]
    async fn find_conversation_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Conversation>> {
        let (Some(principal), Ok(conversation)) = (viewer(ctx), id.parse::<ConversationId>()) else {
            return Ok(None);
        };
        let key = ViewKey { viewer: principal.user_id, conversation };
        Ok(loader::<ViewLoader, _>(ctx).load_one(key).await.map_err(loader_error)?.map(Conversation))
    }

    #[graphql(entity)]
    async fn find_message_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Message>> {
        let (Some(principal), Ok(id)) = (viewer(ctx), id.parse::<MessageId>()) else { return Ok(None) };
        let found = loader::<MessageLoader, _>(ctx).load_one(id).await.map_err(loader_error)?;
        Ok(found.filter(|m| m.is_visible_to(principal.user_id)).map(Message))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}

/// A conversation between two users, as the caller (a participant) sees it.
pub struct Conversation(ConversationView);

#[Object]
impl Conversation {
    async fn id(&self) -> ID {
        id_of(self.0.conversation.id)
    }
    /// Both participants (names and avatars from identity).
    async fn participants(&self) -> Vec<User> {
        self.0.conversation.participants.iter().map(|p| User { id: id_of(p) }).collect()
    }
    async fn started_by(&self) -> User {
        User { id: id_of(self.0.conversation.started_by()) }
    }
    /// `ARCHIVED` when you archived it: for you only, until a new message arrives in it.
    async fn status(&self) -> ConversationStatus {
        if self.0.archived_at.is_some() { ConversationStatus::Archived } else { ConversationStatus::Active }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.conversation.created_at
    }
    /// When the last message was sent (or the conversation started).
    async fn last_activity_at(&self) -> DateTime<Utc> {
        self.0.last_activity_at
    }
    async fn last_message(&self) -> Option<Message> {
        self.0.last_message.clone().map(Message)
    }
    /// Messages of the others you have not read (deleted ones do not count).
    async fn unread_count(&self) -> i32 {
        i32::try_from(self.0.unread).unwrap_or(i32::MAX)
    }
    /// Messages, newest first. `first` is 1–50 (20 when omitted); for older ones pass the
    /// page's `endCursor` as `before` (`hasNextPage`: older messages exist).
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        before: Option<String>,
    ) -> Result<MessageConnection> {
        let first = page_size(first).gql()?;
        let before = use_cases::cursor(before.as_deref(), "before").gql()?.map(MessageId::from_uuid);
        let key = HistoryKey { conversation: self.0.conversation.id, before, limit: first as i64 + 1 };
        let mut messages =
            loader::<HistoryLoader, _>(ctx).load_one(key).await.map_err(loader_error)?.unwrap_or_default();
        let has_next_page = messages.len() > first;
        messages.truncate(first);
        let end_cursor = messages.last().map(|m| m.id.to_string());
        let edges = messages.into_iter().map(|m| MessageEdge { cursor: m.id.to_string(), node: Message(m) }).collect();
        Ok(MessageConnection { edges, page_info: PageInfo { has_next_page, end_cursor } })
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ConversationStatus {
    Active,
    /// Archived by you (the others still see it as they left it).
    Archived,
}

/// A message of a conversation; after deletion a tombstone (`content` null, `deletedAt` set).
pub struct Message(domain::Message);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn conversation_id(&self) -> ID {
        id_of(self.0.conversation_id)
    }
    /// The sender (name and avatar from identity).
    async fn sender(&self) -> User {
        User { id: id_of(self.0.sender_id) }
    }
    /// 1–4000 characters; `null` once deleted.
    async fn content(&self) -> Option<&str> {
        self.0.content.as_deref()
    }
    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }
    /// When the sender last edited it (possible for 15 minutes after sending).
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.0.edited_at
    }
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
    /// When another participant first read it.
    async fn read_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        let receipts = self.receipts(ctx).await?;
        Ok(receipts.iter().map(|r| r.read_at).min())
    }
    /// Who read it and when (participants other than the sender).
    async fn read_by(&self, ctx: &Context<'_>) -> Result<Vec<ReadReceipt>> {
        Ok(self.receipts(ctx).await?.into_iter().map(ReadReceipt).collect())
    }
}

impl Message {
    async fn receipts(&self, ctx: &Context<'_>) -> Result<Vec<domain::ReadReceipt>> {
        let found = loader::<ReceiptLoader, _>(ctx).load_one(self.0.id).await.map_err(loader_error)?;
        Ok(found.unwrap_or_default())
    }
}

/// A participant read the conversation up to and including a message.
pub struct ReadReceipt(domain::ReadReceipt);

#[Object]
impl ReadReceipt {
    async fn conversation_id(&self) -> ID {
        id_of(self.0.conversation_id)
    }
    async fn message_id(&self) -> ID {
        id_of(self.0.message_id)
    }
    async fn reader(&self) -> User {
        User { id: id_of(self.0.reader_id) }
    }
    async fn read_at(&self) -> DateTime<Utc> {
        self.0.read_at
    }
}

/// Someone is typing in a conversation (never stored).
#[derive(SimpleObject)]
pub struct TypingEvent {
    conversation_id: ID,
    user: User,
    at: DateTime<Utc>,
}

/// A user, as messaging refers to them and extends them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
}

#[ComplexObject]
impl User {
    /// This user's conversations (only for the user themselves), as `Query.conversations`.
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        include_archived: Option<bool>,
    ) -> Result<ConversationConnection> {
        let principal = require_principal(ctx)?;
        if self.id.as_str() != principal.user_id.to_string() {
            return Err(error_with_code(ErrorCode::Forbidden, "only the user themselves can list their conversations"));
        }
        my_conversations(ctx, first, after, include_archived.unwrap_or(false)).await
    }
}

#[derive(SimpleObject)]
pub struct ConversationConnection {
    edges: Vec<ConversationEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct ConversationEdge {
    cursor: String,
    node: Conversation,
}

#[derive(SimpleObject)]
pub struct MessageConnection {
    edges: Vec<MessageEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct MessageEdge {
    cursor: String,
    node: Message,
}

#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Starts a conversation with a user (a student with a tutor or the reverse; an admin with
    /// anyone), or returns the existing one of the pair.
    #[graphql(guard = "SignedInGuard")]
    async fn start_conversation(&self, ctx: &Context<'_>, participant_id: ID) -> Result<Conversation> {
        let principal = require_principal(ctx)?;
        let other = parse_id(&participant_id, "user")?;
        Ok(Conversation(service(ctx).start(principal, other).await.gql()?))
    }

    /// Sends a message (1–4000 characters after trimming); rate-limited per sender.
    #[graphql(guard = "SignedInGuard")]
    async fn send_message(&self, ctx: &Context<'_>, conversation_id: ID, content: String) -> Result<Message> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&conversation_id, "conversation")?;
        Ok(Message(service(ctx).send(principal.user_id, id, &content).await.gql()?))
    }

    /// The sender replaces a message's text, within 15 minutes of sending it.
    #[graphql(guard = "SignedInGuard")]
    async fn edit_message(&self, ctx: &Context<'_>, message_id: ID, content: String) -> Result<Message> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&message_id, "message")?;
        Ok(Message(service(ctx).edit(principal.user_id, id, &content).await.gql()?))
    }

    /// The sender deletes a message; a tombstone stays.
    #[graphql(guard = "SignedInGuard")]
    async fn delete_message(&self, ctx: &Context<'_>, message_id: ID) -> Result<Message> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&message_id, "message")?;
        Ok(Message(service(ctx).delete(principal.user_id, id).await.gql()?))
    }

    /// Marks the conversation read up to and including this message (for you).
    #[graphql(guard = "SignedInGuard")]
    async fn mark_message_read(&self, ctx: &Context<'_>, message_id: ID) -> Result<ReadReceipt> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&message_id, "message")?;
        Ok(ReadReceipt(service(ctx).mark_read(principal.user_id, id).await.gql()?))
    }

    /// Archives a conversation for you only; a new message in it brings it back.
    #[graphql(guard = "SignedInGuard")]
    async fn archive_conversation(&self, ctx: &Context<'_>, conversation_id: ID) -> Result<Conversation> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&conversation_id, "conversation")?;
        Ok(Conversation(service(ctx).archive(principal.user_id, id).await.gql()?))
    }

    /// Tells the other participants you are typing (nothing is stored).
    #[graphql(guard = "SignedInGuard")]
    async fn send_typing(&self, ctx: &Context<'_>, conversation_id: ID) -> Result<bool> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&conversation_id, "conversation")?;
        service(ctx).typing(principal.user_id, id).await.gql()?;
        Ok(true)
    }
}

/// A participant's live events of a conversation that `pick` turns into answers (`pick` also
/// gets who is listening).
async fn live<T: Send + 'static>(
    ctx: &Context<'_>,
    conversation_id: &ID,
    pick: fn(UserId, LiveEvent) -> Option<T>,
) -> Result<impl Stream<Item = T> + Send + use<T>> {
    let principal = require_principal(ctx)?;
    let id = parse_id(conversation_id, "conversation")?;
    let me = principal.user_id;
    let events = service(ctx).subscribe(me, id).await.gql()?;
    Ok(events.filter_map(move |event| std::future::ready(pick(me, event))))
}

pub struct Subscription;

#[async_graphql::Subscription]
impl Subscription {
    /// Messages sent to a conversation you take part in, from now on.
    async fn message_added(&self, ctx: &Context<'_>, conversation_id: ID) -> Result<impl Stream<Item = Message>> {
        live(ctx, &conversation_id, |_, event| match event {
            LiveEvent::MessageAdded { message } => Some(Message(message.into())),
            _ => None,
        })
        .await
    }

    /// Messages of the conversation edited or deleted (tombstones), from now on.
    async fn message_updated(&self, ctx: &Context<'_>, conversation_id: ID) -> Result<impl Stream<Item = Message>> {
        live(ctx, &conversation_id, |_, event| match event {
            LiveEvent::MessageUpdated { message } => Some(Message(message.into())),
            _ => None,
        })
        .await
    }

    /// Participants' read marks moving forward, from now on.
    async fn message_read(&self, ctx: &Context<'_>, conversation_id: ID) -> Result<impl Stream<Item = ReadReceipt>> {
        live(ctx, &conversation_id, |_, event| match event {
            LiveEvent::MessageRead { receipt } => Some(ReadReceipt(receipt.into())),
            _ => None,
        })
        .await
    }

    /// The other participants typing (your own typing is not echoed back).
    async fn typing(&self, ctx: &Context<'_>, conversation_id: ID) -> Result<impl Stream<Item = TypingEvent>> {
        live(ctx, &conversation_id, |me, event| match event {
            LiveEvent::Typing { typing } if typing.user_id != me.as_uuid() => Some(TypingEvent {
                conversation_id: id_of(typing.conversation_id),
                user: User { id: id_of(typing.user_id) },
                at: typing.at,
            }),
            _ => None,
        })
        .await
    }
}
