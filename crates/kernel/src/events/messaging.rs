//! Events published by the messaging context on the `messaging.events` exchange.
//!
//! They say what happened to conversations and messages; the content itself stays in
//! messaging (a [`MessageSent`] carries only a short preview, for notifications).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;

macro_rules! messaging_event {
    ($name:ident, $type:literal, $aggregate:ident) => {
        impl PublishedEvent for $name {
            const PRODUCER: &'static str = "messaging";
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            fn aggregate_id(&self) -> String {
                self.$aggregate.clone()
            }
        }
    };
}

/// Longest preview of a message's content an event carries (in characters).
pub const PREVIEW_CHARS: usize = 140;

/// The first [`PREVIEW_CHARS`] characters of `content`, with an ellipsis when cut.
pub fn preview_of(content: &str) -> String {
    let mut chars = content.chars();
    let preview: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() { format!("{preview}…") } else { preview }
}

/// A student and a tutor started talking (starting again with the same pair returns the
/// existing conversation and publishes nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationStarted {
    pub conversation_id: String,
    pub started_by: String,
    pub participant_ids: Vec<String>,
    pub at: DateTime<Utc>,
}
messaging_event!(ConversationStarted, "messaging.ConversationStarted", conversation_id);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSent {
    pub message_id: String,
    pub conversation_id: String,
    pub sender_id: String,
    /// The other participants: who should hear about it.
    pub recipient_ids: Vec<String>,
    /// [`preview_of`] the content.
    pub preview: String,
    pub sent_at: DateTime<Utc>,
}
messaging_event!(MessageSent, "messaging.MessageSent", message_id);

/// `reader_id` has read the conversation up to and including `message_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRead {
    pub message_id: String,
    pub conversation_id: String,
    pub reader_id: String,
    pub read_at: DateTime<Utc>,
}
messaging_event!(MessageRead, "messaging.MessageRead", message_id);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEdited {
    pub message_id: String,
    pub conversation_id: String,
    pub sender_id: String,
    pub edited_at: DateTime<Utc>,
}
messaging_event!(MessageEdited, "messaging.MessageEdited", message_id);

/// The sender deleted it: a tombstone stays in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDeleted {
    pub message_id: String,
    pub conversation_id: String,
    pub sender_id: String,
    pub deleted_at: DateTime<Utc>,
}
messaging_event!(MessageDeleted, "messaging.MessageDeleted", message_id);

/// `participant_id` archived the conversation (for themselves only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationArchived {
    pub conversation_id: String,
    pub participant_id: String,
    pub at: DateTime<Utc>,
}
messaging_event!(ConversationArchived, "messaging.ConversationArchived", conversation_id);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_cut_on_characters_not_bytes() {
        assert_eq!(preview_of("hello"), "hello");
        let long = "é".repeat(PREVIEW_CHARS + 5);
        let preview = preview_of(&long);
        assert_eq!(preview.chars().count(), PREVIEW_CHARS + 1);
        assert!(preview.ends_with('…'));
        assert_eq!(preview_of(&"a".repeat(PREVIEW_CHARS)), "a".repeat(PREVIEW_CHARS));
    }
}
