//! Identifiers shared between contexts: opaque strings on the wire, UUIDv7 inside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid id")]
pub struct InvalidId(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| InvalidId(s.to_owned()))
            }
        }
    };
}

id_type!(
    /// A user of the platform, owned by the identity context.
    UserId
);
id_type!(
    /// A tutor profile, owned by the tutoring context.
    TutorId
);
id_type!(
    /// A booking, owned by the booking context.
    BookingId
);
id_type!(
    /// A review, owned by the review context.
    ReviewId
);
id_type!(
    /// A booking's payment, owned by the payment context.
    PaymentId
);
id_type!(
    /// A refund of (part of) a payment, owned by the payment context.
    RefundId
);
id_type!(
    /// A transfer of a tutor's earnings, owned by the payment context.
    PayoutId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>(), Ok(id));
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert_eq!("nope".parse::<UserId>(), Err(InvalidId("nope".into())));
    }
}
