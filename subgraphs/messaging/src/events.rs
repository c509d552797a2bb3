//! Messaging's published events (`messaging.*`, appended to the outbox in the use case's
//! transaction), and its consumer of identity's events: who exists and with which role, which
//! decides who may start a conversation with whom.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use kernel::events::identity::{UserRegistered, UserRoleChanged};
use kernel::events::messaging::{
    ConversationArchived, ConversationStarted, MessageDeleted, MessageEdited, MessageRead, MessageSent, preview_of,
};
use platform::bus::{Binding, EventHandler, HandlerError, Subscription};

use crate::domain::{Conversation, ConversationId, Message, ReadReceipt, Role, UserId};
use crate::store::{MessagingStore, StoreError};

fn ids(users: &[UserId]) -> Vec<String> {
    users.iter().map(ToString::to_string).collect()
}

pub fn started(conversation: &Conversation) -> EventEnvelope {
    EventEnvelope::wrap(
        &ConversationStarted {
            conversation_id: conversation.id.to_string(),
            started_by: conversation.started_by().to_string(),
            participant_ids: ids(&conversation.participants),
            at: conversation.created_at,
        },
        None,
    )
}

pub fn sent(message: &Message) -> EventEnvelope {
    EventEnvelope::wrap(
        &MessageSent {
            message_id: message.id.to_string(),
            conversation_id: message.conversation_id.to_string(),
            sender_id: message.sender_id.to_string(),
            recipient_ids: ids(&message.recipients()),
            preview: preview_of(message.content.as_deref().unwrap_or_default()),
            sent_at: message.sent_at,
        },
        None,
    )
}

pub fn read(receipt: &ReadReceipt) -> EventEnvelope {
    EventEnvelope::wrap(
        &MessageRead {
            message_id: receipt.message_id.to_string(),
            conversation_id: receipt.conversation_id.to_string(),
            reader_id: receipt.reader_id.to_string(),
            read_at: receipt.read_at,
        },
        None,
    )
}

pub fn edited(message: &Message, at: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope::wrap(
        &MessageEdited {
            message_id: message.id.to_string(),
            conversation_id: message.conversation_id.to_string(),
            sender_id: message.sender_id.to_string(),
            edited_at: at,
        },
        None,
    )
}

pub fn deleted(message: &Message, at: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope::wrap(
        &MessageDeleted {
            message_id: message.id.to_string(),
            conversation_id: message.conversation_id.to_string(),
            sender_id: message.sender_id.to_string(),
            deleted_at: at,
        },
        None,
    )
}

pub fn archived(conversation: ConversationId, participant: UserId, at: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope::wrap(
        &ConversationArchived {
            conversation_id: conversation.to_string(),
            participant_id: participant.to_string(),
            at,
        },
        None,
    )
}

/// Messaging learns users and their roles from identity.
pub fn subscriptions(store: Arc<dyn MessagingStore>) -> Vec<Subscription> {
    vec![Subscription {
        queue: "messaging.identity".into(),
        bindings: vec![Binding::event("identity.UserRegistered"), Binding::event("identity.UserRoleChanged")],
        handler: Arc::new(Consumer { store }),
    }]
}

pub struct Consumer {
    store: Arc<dyn MessagingStore>,
}

const CONSUMER: &str = "messaging";

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn user_id(raw: &str) -> Result<UserId, HandlerError> {
    raw.parse().map_err(|_| permanent(format!("`{raw}` is not a user id")))
}

impl Consumer {
    async fn role(&self, event: &EventEnvelope, user: UserId, role: Role) -> Result<(), HandlerError> {
        let applied = self.store.apply_user_role(CONSUMER, event, user, role).await.map_err(|e| match e {
            StoreError::Corrupt(_) | StoreError::Domain(_) => permanent(e),
            other => HandlerError::Transient(other.to_string()),
        })?;
        tracing::debug!(%user, %role, applied, event_type = %event.event_type, "user role projected");
        Ok(())
    }
}

#[async_trait]
impl EventHandler for Consumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        match event.event_type.as_str() {
            "identity.UserRegistered" => {
                let e: UserRegistered = event.decode().map_err(permanent)?;
                self.role(event, user_id(&e.user_id)?, e.role).await
            }
            "identity.UserRoleChanged" => {
                let e: UserRoleChanged = event.decode().map_err(permanent)?;
                self.role(event, user_id(&e.user_id)?, e.role).await
            }
            _ => Ok(()),
        }
    }
}
