//! The schema's DataLoaders: every entity lookup and nested list loads in batches (one query
//! per batch of keys, never one per object), as async-graphql's federation needs.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::domain::{self, ConversationId, MessageId, UserId};
use crate::error::ServiceError;
use crate::service::MessagingService;
use crate::store::{ConversationView, StoreError};

fn stored(e: StoreError) -> Arc<ServiceError> {
    Arc::new(e.into())
}

/// A conversation as one participant sees it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewKey {
    pub viewer: UserId,
    pub conversation: ConversationId,
}

/// Batches conversation lookups (grouped by viewer: unread counts and archiving are theirs).
pub struct ViewLoader(pub Arc<MessagingService>);

impl Loader<ViewKey> for ViewLoader {
    type Value = ConversationView;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[ViewKey]) -> Result<HashMap<ViewKey, ConversationView>, Self::Error> {
        let mut by_viewer: HashMap<UserId, Vec<ConversationId>> = HashMap::new();
        for key in keys {
            by_viewer.entry(key.viewer).or_default().push(key.conversation);
        }
        let mut out = HashMap::new();
        for (viewer, ids) in by_viewer {
            for view in self.0.views(viewer, &ids).await.map_err(stored)? {
                out.insert(ViewKey { viewer, conversation: view.conversation.id }, view);
            }
        }
        Ok(out)
    }
}

/// Batches message lookups by id.
pub struct MessageLoader(pub Arc<MessagingService>);

impl Loader<MessageId> for MessageLoader {
    type Value = domain::Message;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[MessageId]) -> Result<HashMap<MessageId, domain::Message>, Self::Error> {
        Ok(self.0.messages(keys).await.map_err(stored)?.into_iter().map(|m| (m.id, m)).collect())
    }
}

/// A page of a conversation's history: up to `limit` messages older than `before`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistoryKey {
    pub conversation: ConversationId,
    pub before: Option<MessageId>,
    pub limit: i64,
}

/// Batches `Conversation.messages` (one statement for the conversations of a list).
pub struct HistoryLoader(pub Arc<MessagingService>);

impl Loader<HistoryKey> for HistoryLoader {
    type Value = Vec<domain::Message>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[HistoryKey]) -> Result<HashMap<HistoryKey, Vec<domain::Message>>, Self::Error> {
        let mut groups: HashMap<(Option<MessageId>, i64), Vec<ConversationId>> = HashMap::new();
        for key in keys {
            groups.entry((key.before, key.limit)).or_default().push(key.conversation);
        }
        let mut out: HashMap<HistoryKey, Vec<domain::Message>> = HashMap::new();
        for ((before, limit), conversations) in groups {
            for conversation in &conversations {
                out.insert(HistoryKey { conversation: *conversation, before, limit }, Vec::new());
            }
            for message in self.0.history(&conversations, before, limit).await.map_err(stored)? {
                let key = HistoryKey { conversation: message.conversation_id, before, limit };
                out.entry(key).or_default().push(message);
            }
        }
        for messages in out.values_mut() {
            messages.sort_by_key(|m| std::cmp::Reverse(m.id));
        }
        Ok(out)
    }
}

/// Batches `Message.readBy`.
pub struct ReceiptLoader(pub Arc<MessagingService>);

impl Loader<MessageId> for ReceiptLoader {
    type Value = Vec<domain::ReadReceipt>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[MessageId]) -> Result<HashMap<MessageId, Vec<domain::ReadReceipt>>, Self::Error> {
        let mut out: HashMap<MessageId, Vec<domain::ReadReceipt>> = HashMap::new();
        for receipt in self.0.receipts(keys).await.map_err(stored)? {
            out.entry(receipt.message_id).or_default().push(receipt);
        }
        Ok(out)
    }
}
