//! The shared kernel: only what EduStream's contexts must agree on exactly.
//!
//! Identifiers that cross context boundaries, `Money`, the event envelope and the published
//! events (the versioned "published language"), the stable error codes clients see, and the
//! claims of an access token. No I/O lives here.

pub mod auth;
pub mod error;
pub mod events;
pub mod ids;
pub mod money;

pub use auth::{AccessClaims, Role};
pub use error::ErrorCode;
pub use events::{EventEnvelope, PublishedEvent};
pub use ids::{BookingId, PaymentId, PayoutId, RefundId, ReviewId, TutorId, UserId};
pub use money::{Currency, Money, MoneyError};
