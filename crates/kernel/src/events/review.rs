//! Events published by the review context on the `review.events` exchange.
//!
//! Every event carries the review's whole state after the change — rating, whether it is
//! published (counts in the tutor's rating) and its `revision` (1 when posted, +1 per change) —
//! so a projection can apply them idempotently and in any order: keep the highest revision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;

macro_rules! review_event {
    ($name:ident, $type:literal) => {
        impl PublishedEvent for $name {
            const PRODUCER: &'static str = "review";
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            fn aggregate_id(&self) -> String {
                self.review_id.clone()
            }
        }
    };
}

macro_rules! review_state_event {
    ($(#[$doc:meta])* $name:ident, $type:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            pub review_id: String,
            #[serde(flatten)]
            pub state: ReviewStateFields,
        }
        review_event!($name, $type);
    };
}

/// [`ReviewState`] without the id (flattened into each event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewStateFields {
    pub tutor_id: String,
    pub booking_id: String,
    pub student_id: String,
    pub rating: u8,
    /// Visible to everyone and counted in the tutor's rating (false: hidden, flagged, deleted).
    pub published: bool,
    pub revision: i64,
    pub at: DateTime<Utc>,
}

review_state_event!(
    /// A student reviewed a completed booking; the review is published.
    ReviewPosted,
    "review.ReviewPosted"
);
review_state_event!(
    /// The author changed the rating or comment.
    ReviewEdited,
    "review.ReviewEdited"
);
review_state_event!(
    /// Hidden by moderation or by enough flags: it no longer counts in the rating.
    ReviewHidden,
    "review.ReviewHidden"
);
review_state_event!(
    /// An admin restored a hidden review: it counts again.
    ReviewRestored,
    "review.ReviewRestored"
);
review_state_event!(
    /// The author deleted it: it never counts again.
    ReviewDeleted,
    "review.ReviewDeleted"
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewFlagged {
    pub review_id: String,
    pub tutor_id: String,
    pub flagged_by: String,
    pub reason: String,
    pub flag_count: i64,
}
review_event!(ReviewFlagged, "review.ReviewFlagged");
