//! Events published by the notification context on the `notification.events` exchange: the
//! outcome of each delivery.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;

/// A notification reached its channel (the SMTP server, the push or SMS provider accepted it,
/// or it was stored in the app).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSent {
    pub notification_id: String,
    pub recipient_id: String,
    /// The notification type, e.g. `BOOKING_CONFIRMED`.
    pub kind: String,
    /// `EMAIL`, `PUSH`, `SMS` or `IN_APP`.
    pub channel: String,
    pub attempts: u32,
    pub sent_at: DateTime<Utc>,
}

impl PublishedEvent for NotificationSent {
    const PRODUCER: &'static str = "notification";
    const TYPE: &'static str = "notification.NotificationSent";
    const VERSION: u32 = 1;
    fn aggregate_id(&self) -> String {
        self.notification_id.clone()
    }
}

/// Delivery gave up: every attempt failed, or the failure cannot be retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationFailed {
    pub notification_id: String,
    pub recipient_id: String,
    pub kind: String,
    pub channel: String,
    pub attempts: u32,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

impl PublishedEvent for NotificationFailed {
    const PRODUCER: &'static str = "notification";
    const TYPE: &'static str = "notification.NotificationFailed";
    const VERSION: u32 = 1;
    fn aggregate_id(&self) -> String {
        self.notification_id.clone()
    }
}
