//! Live updates of a conversation for its subscribers on every replica: after a use case's
//! transaction commits, a [`LiveEvent`] goes out through `platform::live::Fanout` on the topic
//! `conversation:<id>` (see [`topic`]). The payload carries everything a subscription answers
//! with, so delivering it needs no database read. Live updates are ephemeral: one lost to a
//! broker outage is not retried (clients re-read the history when they reconnect).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use platform::live::{Fanout, LiveMessage};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::domain::{ConversationId, Message, MessageId, ReadReceipt, UserId};

/// The payload of a live message; `kind` tells the subscriptions apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum LiveEvent {
    /// A message was sent (`messageAdded`).
    MessageAdded { message: MessageState },
    /// A message was edited or deleted (`messageUpdated`).
    MessageUpdated { message: MessageState },
    /// A participant read up to a message (`messageRead`).
    MessageRead { receipt: ReceiptState },
    /// A participant is typing (`typing`; never stored).
    Typing { typing: TypingState },
}

/// A message as it is after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageState {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub participants: [Uuid; 2],
    pub sender_id: Uuid,
    pub content: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptState {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub reader_id: Uuid,
    pub read_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingState {
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub at: DateTime<Utc>,
}

impl From<&Message> for MessageState {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.as_uuid(),
            conversation_id: m.conversation_id.as_uuid(),
            participants: m.participants.map(|p| p.as_uuid()),
            sender_id: m.sender_id.as_uuid(),
            content: m.content.clone(),
            sent_at: m.sent_at,
            edited_at: m.edited_at,
            deleted_at: m.deleted_at,
        }
    }
}

impl From<MessageState> for Message {
    fn from(m: MessageState) -> Self {
        Self {
            id: MessageId::from_uuid(m.id),
            conversation_id: ConversationId::from_uuid(m.conversation_id),
            participants: m.participants.map(UserId::from_uuid),
            sender_id: UserId::from_uuid(m.sender_id),
            content: m.content,
            sent_at: m.sent_at,
            edited_at: m.edited_at,
            deleted_at: m.deleted_at,
        }
    }
}

impl From<&ReadReceipt> for ReceiptState {
    fn from(r: &ReadReceipt) -> Self {
        Self {
            conversation_id: r.conversation_id.as_uuid(),
            message_id: r.message_id.as_uuid(),
            reader_id: r.reader_id.as_uuid(),
            read_at: r.read_at,
        }
    }
}

impl From<ReceiptState> for ReadReceipt {
    fn from(r: ReceiptState) -> Self {
        Self {
            conversation_id: ConversationId::from_uuid(r.conversation_id),
            message_id: MessageId::from_uuid(r.message_id),
            reader_id: UserId::from_uuid(r.reader_id),
            read_at: r.read_at,
        }
    }
}

/// The fan-out topic of a conversation.
pub fn topic(conversation: ConversationId) -> String {
    format!("conversation:{conversation}")
}

/// Sends `event` to the conversation's subscribers on every replica. Failing to is logged, not
/// returned: the change it reports is committed and readable anyway.
pub async fn publish(fanout: &Fanout, conversation: ConversationId, event: &LiveEvent) {
    let payload = serde_json::to_value(event).expect("live events serialise to JSON");
    if let Err(error) = fanout.publish(&topic(conversation), payload).await {
        tracing::warn!(%conversation, %error, "live update not delivered");
    }
}

/// The live events of a subscription to a topic. A subscriber that fell behind skips ahead to
/// what is still buffered (and says so in the log); the stream ends only with the fan-out.
pub fn events(receiver: Receiver<Arc<LiveMessage>>) -> impl Stream<Item = LiveEvent> + Send + 'static {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(message) => match serde_json::from_value::<LiveEvent>(message.payload.clone()) {
                    Ok(event) => return Some((event, receiver)),
                    Err(error) => tracing::warn!(topic = %message.topic, %error, "malformed live event skipped"),
                },
                Err(RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "a live subscriber fell behind; skipping to the newest updates");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    #[test]
    fn the_payload_names_its_kind() {
        let typing = TypingState { conversation_id: Uuid::now_v7(), user_id: Uuid::now_v7(), at: Utc::now() };
        let json = serde_json::to_value(LiveEvent::Typing { typing: typing.clone() }).expect("serialises");
        assert_eq!(json["kind"], "typing");
        assert_eq!(json["typing"]["userId"], typing.user_id.to_string());
        let back: LiveEvent = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, LiveEvent::Typing { typing });
    }

    #[tokio::test]
    async fn a_lagging_subscriber_skips_ahead_and_keeps_streaming() {
        let fanout = Fanout::in_process();
        let conversation = ConversationId::new();
        let mut events = Box::pin(events(fanout.subscribe(&topic(conversation))));
        // More than the topic's buffer (256) while nobody reads: the oldest are dropped.
        for _ in 0..300 {
            let typing =
                TypingState { conversation_id: conversation.as_uuid(), user_id: Uuid::now_v7(), at: Utc::now() };
            publish(&fanout, conversation, &LiveEvent::Typing { typing }).await;
        }
        fanout.publish(&topic(conversation), serde_json::json!({ "kind": "unknown" })).await.expect("published");
        let last = TypingState { conversation_id: conversation.as_uuid(), user_id: Uuid::now_v7(), at: Utc::now() };
        publish(&fanout, conversation, &LiveEvent::Typing { typing: last.clone() }).await;
        let mut received = 0;
        while let Some(event) = events.next().await {
            received += 1;
            if event == (LiveEvent::Typing { typing: last.clone() }) {
                break;
            }
        }
        assert!((1..300).contains(&received), "skipped what was dropped, then got the rest: {received}");
    }
}
