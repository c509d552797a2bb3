//! The event envelope and the events contexts publish to each other (the published language).
//!
//! Event types are named `<context>.<EventName>` and versioned; a consumer reads the payload
//! with [`EventEnvelope::decode`]. Adding optional fields keeps a version; anything else bumps it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod booking;
pub mod identity;
pub mod messaging;
pub mod notification;
pub mod payment;
pub mod review;
pub mod tutoring;

/// An event as it travels: metadata plus a JSON payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub producer: String,
    pub aggregate_id: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub payload: serde_json::Value,
    /// The W3C trace context (`traceparent`, `tracestate`) of the work that caused the event,
    /// so its consumers continue the same trace. Empty when none was recorded; events written
    /// before it existed read as empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trace_context: BTreeMap<String, String>,
}

/// A payload type of the published language.
pub trait PublishedEvent: Serialize + DeserializeOwned {
    /// The producing context, e.g. `identity`; also the exchange prefix.
    const PRODUCER: &'static str;
    /// `<context>.<EventName>`, also the routing key.
    const TYPE: &'static str;
    const VERSION: u32;

    fn aggregate_id(&self) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("expected event {expected}, got {actual}")]
    WrongType { expected: &'static str, actual: String },
    #[error("unsupported version {actual} of {event_type}")]
    WrongVersion { event_type: &'static str, actual: u32 },
    #[error("malformed payload: {0}")]
    Payload(#[from] serde_json::Error),
}

impl EventEnvelope {
    /// Wraps a payload; the correlation id starts a new chain unless `caused_by` continues one.
    pub fn wrap<E: PublishedEvent>(event: &E, caused_by: Option<&EventEnvelope>) -> Self {
        let id = Uuid::now_v7();
        Self {
            id,
            event_type: E::TYPE.to_owned(),
            version: E::VERSION,
            occurred_at: Utc::now(),
            producer: E::PRODUCER.to_owned(),
            aggregate_id: event.aggregate_id(),
            correlation_id: caused_by.map_or(id, |cause| cause.correlation_id),
            causation_id: caused_by.map(|cause| cause.id),
            payload: serde_json::to_value(event).expect("published events serialise to JSON"),
            trace_context: BTreeMap::new(),
        }
    }

    /// Wraps a payload that continues the chain `correlation_id` when its cause is not at hand
    /// (a saga step triggered by a webhook, say): same correlation id, no causation.
    pub fn correlated<E: PublishedEvent>(event: &E, correlation_id: Uuid) -> Self {
        Self { correlation_id, ..Self::wrap(event, None) }
    }

    pub fn is<E: PublishedEvent>(&self) -> bool {
        self.event_type == E::TYPE
    }

    pub fn decode<E: PublishedEvent>(&self) -> Result<E, DecodeError> {
        if self.event_type != E::TYPE {
            return Err(DecodeError::WrongType { expected: E::TYPE, actual: self.event_type.clone() });
        }
        if self.version != E::VERSION {
            return Err(DecodeError::WrongVersion { event_type: E::TYPE, actual: self.version });
        }
        Ok(serde_json::from_value(self.payload.clone())?)
    }
}

#[cfg(test)]
mod tests {
    use super::identity::UserLoggedIn;
    use super::*;

    #[test]
    fn an_envelope_round_trips_its_payload_and_continues_the_correlation() {
        let first = EventEnvelope::wrap(&UserLoggedIn { user_id: "u1".into(), at: Utc::now() }, None);
        assert_eq!(first.correlation_id, first.id);
        let second = EventEnvelope::wrap(&UserLoggedIn { user_id: "u1".into(), at: Utc::now() }, Some(&first));
        assert_eq!(second.correlation_id, first.id);
        assert_eq!(second.causation_id, Some(first.id));
        assert_eq!(second.decode::<UserLoggedIn>().map(|e| e.user_id).ok(), Some("u1".to_owned()));
        let json = serde_json::to_value(&second).expect("serialises");
        assert_eq!(json["type"], "identity.UserLoggedIn");
        assert!(json.get("traceContext").is_none(), "an empty trace context is not written");
    }

    #[test]
    fn envelopes_written_without_a_trace_context_still_read_and_one_round_trips() {
        let mut event = EventEnvelope::wrap(&UserLoggedIn { user_id: "u1".into(), at: Utc::now() }, None);
        let mut old = serde_json::to_value(&event).expect("serialises");
        old.as_object_mut().expect("an object").remove("traceContext");
        let read: EventEnvelope = serde_json::from_value(old).expect("an older envelope reads");
        assert!(read.trace_context.is_empty());

        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        event.trace_context.insert("traceparent".into(), traceparent.into());
        let json = serde_json::to_value(&event).expect("serialises");
        assert_eq!(json["traceContext"]["traceparent"], traceparent);
        let back: EventEnvelope = serde_json::from_value(json).expect("reads");
        assert_eq!(back, event);
    }
}
