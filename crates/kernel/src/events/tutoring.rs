//! Events published by the tutoring context on the `tutoring.events` exchange. Availability and
//! pricing events carry the whole new state, so a consumer's projection is one upsert.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;

macro_rules! tutoring_event {
    ($name:ident, $type:literal) => {
        impl PublishedEvent for $name {
            const PRODUCER: &'static str = "tutoring";
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            fn aggregate_id(&self) -> String {
                self.tutor_id.clone()
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TutorProfileCreated {
    pub tutor_id: String,
    pub user_id: String,
    pub time_zone: String,
    pub instant_booking: bool,
    /// Normalised subject names.
    pub subjects: Vec<String>,
    pub created_at: DateTime<Utc>,
}
tutoring_event!(TutorProfileCreated, "tutoring.TutorProfileCreated");

/// The profile's bookable settings after an update (`version` increases with every change of
/// the profile: consumers keep the highest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TutorProfileUpdated {
    pub tutor_id: String,
    pub user_id: String,
    pub instant_booking: bool,
    pub subjects: Vec<String>,
    pub version: i64,
}
tutoring_event!(TutorProfileUpdated, "tutoring.TutorProfileUpdated");

/// A weekly window in the tutor's time zone: ISO weekday (1 = Monday) and `HH:MM` local times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyWindow {
    pub weekday: u8,
    pub start: String,
    pub end: String,
}

/// Time off: a half-open UTC interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeOff {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TutorAvailabilityUpdated {
    pub tutor_id: String,
    pub time_zone: String,
    pub weekly: Vec<WeeklyWindow>,
    pub time_off: Vec<TimeOff>,
    /// Increases with every change of this tutor's schedule: consumers keep the highest.
    pub revision: i64,
}
tutoring_event!(TutorAvailabilityUpdated, "tutoring.TutorAvailabilityUpdated");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricingOption {
    pub option_id: String,
    /// `HOURLY` (price per hour) or `PACKAGE` (price for `sessions` one-hour sessions).
    pub kind: String,
    pub sessions: u32,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TutorPricingChanged {
    pub tutor_id: String,
    pub currency: String,
    pub options: Vec<PricingOption>,
    pub revision: i64,
}
tutoring_event!(TutorPricingChanged, "tutoring.TutorPricingChanged");

/// The tutor's rating after a review event was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TutorReviewReceived {
    pub tutor_id: String,
    pub review_id: String,
    pub rating_count: i64,
    /// Sum of the counted ratings; the average is `rating_sum / rating_count`.
    pub rating_sum: i64,
}
tutoring_event!(TutorReviewReceived, "tutoring.TutorReviewReceived");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TutorVerified {
    pub tutor_id: String,
    pub user_id: String,
    pub verified_by: String,
}
tutoring_event!(TutorVerified, "tutoring.TutorVerified");
