//! Events published by the booking context on the `booking.events` exchange (the part of the
//! published language other contexts read: who, when, which tutor). Booking's own issue may add
//! optional fields without a version bump.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;

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
    ($(#[$doc:meta])* $name:ident, $type:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(flatten)]
            pub slot: BookedSlot,
        }
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

booking_event!(
    /// A student asked for the slot; it is held while the booking is pending.
    BookingRequested,
    "booking.BookingRequested"
);
booking_event!(
    /// The booking is confirmed: the slot stays taken.
    BookingConfirmed,
    "booking.BookingConfirmed"
);
booking_event!(
    /// Cancelled (declined, unpaid or called off): the slot is free again.
    BookingCancelled,
    "booking.BookingCancelled"
);
booking_event!(
    /// The session took place: the student may review it.
    BookingCompleted,
    "booking.BookingCompleted"
);
