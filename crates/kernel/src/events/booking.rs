//! Events published by the booking context on the `booking.events` exchange. Every event carries
//! the booked slot (who, when, which tutor), so a consumer that only tracks slots reads one shape;
//! each adds what its consumers need (price for payment, refund for cancellations).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;
use crate::Money;

/// The session a booking holds: the tutor's slot `[starts_at, ends_at)` in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookedSlot {
    pub booking_id: String,
    pub tutor_id: String,
    pub student_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

macro_rules! booking_event {
    ($name:ident, $type:literal) => {
        impl PublishedEvent for $name {
            const PRODUCER: &'static str = "booking";
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            fn aggregate_id(&self) -> String {
                self.slot.booking_id.clone()
            }
        }
    };
}

/// A student asked for the slot; it is held while the booking is pending. Payment opens an
/// intent for `price`; an unpaid booking is cancelled at `payment_due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingRequested {
    #[serde(flatten)]
    pub slot: BookedSlot,
    /// The tutor's user account (payouts go to it).
    pub tutor_user_id: String,
    pub subject: String,
    pub price: Money,
    pub payment_due_at: DateTime<Utc>,
}
booking_event!(BookingRequested, "booking.BookingRequested");

/// The booking is confirmed (paid, and accepted by the tutor): the slot stays taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingConfirmed {
    #[serde(flatten)]
    pub slot: BookedSlot,
    pub meeting_url: String,
}
booking_event!(BookingConfirmed, "booking.BookingConfirmed");

/// Who called a booking off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancelledBy {
    Student,
    Tutor,
    /// Payment failed or timed out, or the tutor never answered.
    System,
}

/// Cancelled (declined, unpaid, failed payment or called off): the slot is free again. `refund`
/// is what the refund policy grants out of what was paid; `paid` says whether booking had seen
/// the payment succeed (a payment that succeeds after the cancellation is refunded in full).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingCancelled {
    #[serde(flatten)]
    pub slot: BookedSlot,
    pub cancelled_by: CancelledBy,
    pub reason: String,
    pub paid: bool,
    pub refund: Money,
}
booking_event!(BookingCancelled, "booking.BookingCancelled");

/// The session took place: the student may review it; the tutor's earnings accrue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingCompleted {
    #[serde(flatten)]
    pub slot: BookedSlot,
}
booking_event!(BookingCompleted, "booking.BookingCompleted");
