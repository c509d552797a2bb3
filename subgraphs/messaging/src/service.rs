//! The messaging use cases: one transaction each (load, decide in the domain, save with its
//! events), then the live update to the conversation's subscribers once it is committed.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::Stream;
use platform::Principal;
use platform::live::Fanout;
use uuid::Uuid;

use crate::domain::{
    Content, Conversation, ConversationId, DomainError, Message, MessageId, ReadReceipt, UserId, pair_of,
};
use crate::error::ServiceError;
use crate::events;
use crate::limit::SendLimiter;
use crate::live::{self, LiveEvent, TypingState};
use crate::store::{ConversationView, MessagingStore, Started, StoreError};

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 50;

const NO_CONVERSATION: &str = "no such conversation";
const NO_MESSAGE: &str = "no such message";

pub struct MessagingService {
    store: Arc<dyn MessagingStore>,
    fanout: Arc<Fanout>,
    limiter: SendLimiter,
}

/// A page of a list, and whether more follow.
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

/// `first` of a page: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when omitted.
pub fn page_size(first: Option<i32>) -> Result<usize, ServiceError> {
    let first = first.unwrap_or(DEFAULT_PAGE as i32);
    usize::try_from(first)
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .ok_or_else(|| ServiceError::BadInput(format!("`first` must be between 1 and {MAX_PAGE}")))
}

/// A cursor this service handed out (an opaque id).
pub fn cursor(raw: Option<&str>, argument: &str) -> Result<Option<Uuid>, ServiceError> {
    raw.map(|c| {
        c.parse::<Uuid>().map_err(|_| ServiceError::BadInput(format!("`{argument}` is not a cursor of this list")))
    })
    .transpose()
}

/// What a non-participant learns: the same as about something that does not exist.
fn hidden(what: &'static str) -> impl Fn(StoreError) -> ServiceError {
    move |error| match error {
        StoreError::NotFound | StoreError::Domain(DomainError::NotAParticipant) => ServiceError::NotFound(what),
        other => other.into(),
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

impl MessagingService {
    pub fn new(store: Arc<dyn MessagingStore>, fanout: Arc<Fanout>, limiter: SendLimiter) -> Self {
        Self { store, fanout, limiter }
    }

    pub fn store(&self) -> &Arc<dyn MessagingStore> {
        &self.store
    }

    /// Starts a conversation with `other`, or returns the pair's existing one (shown to the
    /// caller again if they had archived it; nothing is published then).
    pub async fn start(&self, me: &Principal, other: UserId) -> Result<ConversationView, ServiceError> {
        if other == me.user_id {
            return Err(DomainError::WithYourself.into());
        }
        let (low, high) = pair_of(me.user_id, other);
        if let Some(existing) = self.store.pair(low, high).await? {
            return self.reopen(me.user_id, existing.id).await;
        }
        let other_role = self.store.known_role(other).await?;
        let conversation = Conversation::start(me.user_id, me.role, other, other_role, now())?;
        match self.store.start(&conversation, &[events::started(&conversation)]).await? {
            Started::New => {
                tracing::info!(conversation = %conversation.id, started_by = %me.user_id, "conversation started");
                self.view(me.user_id, conversation.id).await
            }
            Started::Existing(existing) => self.reopen(me.user_id, existing.id).await,
        }
    }

    async fn reopen(&self, me: UserId, conversation: ConversationId) -> Result<ConversationView, ServiceError> {
        self.store.unarchive(conversation, me).await?;
        self.view(me, conversation).await
    }

    async fn view(&self, viewer: UserId, conversation: ConversationId) -> Result<ConversationView, ServiceError> {
        self.store.views(viewer, &[conversation]).await?.pop().ok_or(ServiceError::NotFound(NO_CONVERSATION))
    }

    /// `me`'s conversations, newest activity first; archived ones only when asked for.
    pub async fn conversations(
        &self,
        me: UserId,
        first: Option<i32>,
        after: Option<&str>,
        include_archived: bool,
    ) -> Result<Page<ConversationView>, ServiceError> {
        let first = page_size(first)?;
        let after = cursor(after, "after")?;
        let mut ids = self.store.my_conversations(me, include_archived, after, first as i64 + 1).await?;
        let has_next_page = ids.len() > first;
        ids.truncate(first);
        let mut views = self.store.views(me, &ids).await?;
        views.sort_by_key(|v| std::cmp::Reverse(v.activity_key));
        Ok(Page { items: views, has_next_page })
    }

    /// The conversation, if `me` takes part in it; "not found" otherwise.
    pub async fn participating(&self, me: UserId, id: ConversationId) -> Result<Conversation, ServiceError> {
        match self.store.conversation(id).await? {
            Some(conversation) if conversation.is_participant(me) => Ok(conversation),
            _ => Err(ServiceError::NotFound(NO_CONVERSATION)),
        }
    }

    async fn visible_message(&self, me: UserId, id: MessageId) -> Result<Message, ServiceError> {
        let message = self.store.messages(&[id]).await?.pop();
        message.filter(|m| m.is_visible_to(me)).ok_or(ServiceError::NotFound(NO_MESSAGE))
    }

    pub async fn send(&self, me: UserId, conversation: ConversationId, content: &str) -> Result<Message, ServiceError> {
        let content = Content::parse(content)?;
        let conversation = self.participating(me, conversation).await?;
        if let Err(retry_after) = self.limiter.check(me) {
            tracing::info!(sender = %me, ?retry_after, "message refused: send rate exceeded");
            return Err(ServiceError::RateLimited { retry_after });
        }
        let message = Message::send(&conversation, me, content, now())?;
        self.store.send(&message, &[events::sent(&message)]).await?;
        tracing::debug!(message = %message.id, conversation = %conversation.id, "message sent");
        let added = LiveEvent::MessageAdded { message: (&message).into() };
        live::publish(&self.fanout, message.conversation_id, &added).await;
        Ok(message)
    }

    pub async fn edit(&self, me: UserId, id: MessageId, content: &str) -> Result<Message, ServiceError> {
        let content = Content::parse(content)?;
        let at = now();
        let change = |m: &mut Message| {
            m.edit(me, content.clone(), at)?;
            Ok(vec![events::edited(m, at)])
        };
        let message = self.store.change_message(id, &change).await.map_err(hidden(NO_MESSAGE))?;
        self.updated(&message).await;
        Ok(message)
    }

    pub async fn delete(&self, me: UserId, id: MessageId) -> Result<Message, ServiceError> {
        let at = now();
        let change = |m: &mut Message| {
            m.delete(me, at)?;
            Ok(vec![events::deleted(m, at)])
        };
        let message = self.store.change_message(id, &change).await.map_err(hidden(NO_MESSAGE))?;
        tracing::debug!(message = %message.id, "message deleted");
        self.updated(&message).await;
        Ok(message)
    }

    async fn updated(&self, message: &Message) {
        let updated = LiveEvent::MessageUpdated { message: message.into() };
        live::publish(&self.fanout, message.conversation_id, &updated).await;
    }

    /// `me` has read the conversation up to and including the message.
    pub async fn mark_read(&self, me: UserId, id: MessageId) -> Result<ReadReceipt, ServiceError> {
        let message = self.visible_message(me, id).await?;
        let outcome = self.store.mark_read(me, &message, now(), &events::read).await.map_err(hidden(NO_MESSAGE))?;
        if outcome.advanced {
            let read = LiveEvent::MessageRead { receipt: (&outcome.receipt).into() };
            live::publish(&self.fanout, message.conversation_id, &read).await;
        }
        Ok(outcome.receipt)
    }

    /// Archives the conversation for `me` only (until a new message arrives in it).
    pub async fn archive(&self, me: UserId, id: ConversationId) -> Result<ConversationView, ServiceError> {
        self.participating(me, id).await?;
        let at = now();
        if self.store.archive(id, me, at, &[events::archived(id, me, at)]).await? {
            tracing::debug!(conversation = %id, participant = %me, "conversation archived");
        }
        self.view(me, id).await
    }

    /// Tells the other participants `me` is typing; nothing is stored.
    pub async fn typing(&self, me: UserId, id: ConversationId) -> Result<(), ServiceError> {
        self.participating(me, id).await?;
        let typing = TypingState { conversation_id: id.as_uuid(), user_id: me.as_uuid(), at: now() };
        live::publish(&self.fanout, id, &LiveEvent::Typing { typing }).await;
        Ok(())
    }

    /// The conversation's live events from now on, for a participant.
    pub async fn subscribe(
        &self,
        me: UserId,
        id: ConversationId,
    ) -> Result<impl Stream<Item = LiveEvent> + Send + use<>, ServiceError> {
        self.participating(me, id).await?;
        Ok(live::events(self.fanout.subscribe(&live::topic(id))))
    }

    pub async fn views(&self, viewer: UserId, ids: &[ConversationId]) -> Result<Vec<ConversationView>, StoreError> {
        self.store.views(viewer, ids).await
    }

    pub async fn messages(&self, ids: &[MessageId]) -> Result<Vec<Message>, StoreError> {
        self.store.messages(ids).await
    }

    pub async fn history(
        &self,
        conversations: &[ConversationId],
        before: Option<MessageId>,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        self.store.history(conversations, before, limit).await
    }

    pub async fn receipts(&self, messages: &[MessageId]) -> Result<Vec<ReadReceipt>, StoreError> {
        self.store.receipts(messages).await
    }
}
