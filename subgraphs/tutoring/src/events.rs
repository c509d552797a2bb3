//! Tutoring's published events, and its consumers of other contexts' events: the user
//! projection (identity), slots held by bookings (booking) and the rating projection (review).

use std::sync::Arc;

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel::events::booking::{BookedSlot as BookedSlotEvent, BookingCancelled, BookingConfirmed, BookingRequested};
use kernel::events::identity::{UserProfileUpdated, UserRegistered, UserRoleChanged};
use kernel::events::review::{
    ReviewDeleted, ReviewEdited, ReviewHidden, ReviewPosted, ReviewRestored, ReviewStateFields,
};
use kernel::events::tutoring::{
    self as published, TutorAvailabilityUpdated, TutorPricingChanged, TutorProfileCreated, TutorProfileUpdated,
    TutorReviewReceived, TutorVerified,
};
use platform::bus::{Binding, EventHandler, HandlerError, Subscription};

use crate::domain::{PricingKind, Rating, ReviewContribution, Tutor, TutorId, UserId};
use crate::store::{BookedSlot, KnownUser, StoreError, TutorStore};

pub fn profile_created(tutor: &Tutor) -> EventEnvelope {
    EventEnvelope::wrap(
        &TutorProfileCreated {
            tutor_id: tutor.id.to_string(),
            user_id: tutor.user_id.to_string(),
            time_zone: tutor.schedule.time_zone.name().to_owned(),
            instant_booking: tutor.instant_booking,
            subjects: tutor.subjects.iter().map(|s| s.name.clone()).collect(),
            created_at: tutor.created_at,
        },
        None,
    )
}

pub fn profile_updated(tutor: &Tutor) -> EventEnvelope {
    EventEnvelope::wrap(
        &TutorProfileUpdated {
            tutor_id: tutor.id.to_string(),
            user_id: tutor.user_id.to_string(),
            instant_booking: tutor.instant_booking,
            subjects: tutor.subjects.iter().map(|s| s.name.clone()).collect(),
            version: tutor.version,
        },
        None,
    )
}

pub fn availability_updated(tutor: &Tutor) -> EventEnvelope {
    let s = &tutor.schedule;
    EventEnvelope::wrap(
        &TutorAvailabilityUpdated {
            tutor_id: tutor.id.to_string(),
            time_zone: s.time_zone.name().to_owned(),
            weekly: s
                .weekly
                .iter()
                .map(|w| published::WeeklyWindow { weekday: w.weekday, start: w.start_hhmm(), end: w.end_hhmm() })
                .collect(),
            time_off: s
                .time_off
                .iter()
                .map(|t| published::TimeOff { starts_at: t.starts_at, ends_at: t.ends_at })
                .collect(),
            revision: tutor.availability_revision,
        },
        None,
    )
}

pub fn pricing_changed(tutor: &Tutor) -> EventEnvelope {
    let pricing = tutor.pricing.as_ref();
    EventEnvelope::wrap(
        &TutorPricingChanged {
            tutor_id: tutor.id.to_string(),
            currency: pricing.map(|p| p.currency.to_string()).unwrap_or_default(),
            options: pricing
                .iter()
                .flat_map(|p| &p.options)
                .map(|o| {
                    let (kind, sessions) = match o.kind {
                        PricingKind::Hourly => ("HOURLY", 1),
                        PricingKind::Package { sessions } => ("PACKAGE", sessions),
                    };
                    published::PricingOption {
                        option_id: o.id.to_string(),
                        kind: kind.to_owned(),
                        sessions,
                        amount_minor: o.amount_minor,
                    }
                })
                .collect(),
            revision: tutor.pricing_revision,
        },
        None,
    )
}

pub fn verified(tutor: &Tutor, by: UserId) -> EventEnvelope {
    EventEnvelope::wrap(
        &TutorVerified {
            tutor_id: tutor.id.to_string(),
            user_id: tutor.user_id.to_string(),
            verified_by: by.to_string(),
        },
        None,
    )
}

fn review_received(tutor: TutorId, review: uuid::Uuid, rating: Rating, cause: &EventEnvelope) -> EventEnvelope {
    EventEnvelope::wrap(
        &TutorReviewReceived {
            tutor_id: tutor.to_string(),
            review_id: review.to_string(),
            rating_count: rating.count,
            rating_sum: rating.sum,
        },
        Some(cause),
    )
}

/// The queues tutoring consumes, one per producing context.
pub fn subscriptions(store: Arc<dyn TutorStore>) -> Vec<Subscription> {
    let handler = Arc::new(Consumer { store });
    vec![
        Subscription {
            queue: "tutoring.identity".into(),
            bindings: vec![
                Binding::event("identity.UserRegistered"),
                Binding::event("identity.UserRoleChanged"),
                Binding::event("identity.UserProfileUpdated"),
            ],
            handler: handler.clone(),
        },
        Subscription {
            queue: "tutoring.booking".into(),
            bindings: vec![
                Binding::event("booking.BookingRequested"),
                Binding::event("booking.BookingConfirmed"),
                Binding::event("booking.BookingCancelled"),
            ],
            handler: handler.clone(),
        },
        Subscription { queue: "tutoring.review".into(), bindings: vec![Binding::all_of("review")], handler },
    ]
}

/// Applies other contexts' events to tutoring's projections, idempotently.
pub struct Consumer {
    store: Arc<dyn TutorStore>,
}

const CONSUMER: &str = "tutoring";

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn transient(e: StoreError) -> HandlerError {
    match e {
        StoreError::Corrupt(_) | StoreError::Domain(_) => HandlerError::Permanent(e.to_string()),
        other => HandlerError::Transient(other.to_string()),
    }
}

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, HandlerError> {
    raw.parse().map_err(|_| permanent(format!("`{raw}` is not an id")))
}

impl Consumer {
    async fn booking(&self, event: &EventEnvelope, slot: BookedSlotEvent, active: bool) -> Result<(), HandlerError> {
        if slot.ends_at <= slot.starts_at {
            return Err(permanent("a booking that ends before it starts"));
        }
        let slot = BookedSlot {
            booking_id: id(&slot.booking_id)?,
            tutor_id: id(&slot.tutor_id)?,
            starts_at: slot.starts_at,
            ends_at: slot.ends_at,
            active,
        };
        self.store.apply_booking(CONSUMER, event, &slot).await.map_err(transient).map(drop)
    }

    async fn review(
        &self,
        event: &EventEnvelope,
        review: &str,
        state: ReviewStateFields,
        may_count: bool,
    ) -> Result<(), HandlerError> {
        if !(1..=5).contains(&state.rating) {
            return Err(permanent(format!("rating {} is not 1–5", state.rating)));
        }
        let tutor: TutorId = id(&state.tutor_id)?;
        let review: uuid::Uuid = id(review)?;
        // The state says whether the review is published; a deletion never counts.
        let counted = may_count && state.published;
        let contribution = ReviewContribution { rating: state.rating, counted, revision: state.revision };
        let make = |rating: Rating| review_received(tutor, review, rating, event);
        self.store.apply_review(CONSUMER, event, tutor, review, &contribution, &make).await.map_err(transient).map(drop)
    }
}

#[async_trait]
impl EventHandler for Consumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let store = &self.store;
        match event.event_type.as_str() {
            "identity.UserRegistered" => {
                let e: UserRegistered = event.decode().map_err(permanent)?;
                let user = KnownUser {
                    user_id: id(&e.user_id)?,
                    role: e.role,
                    first_name: e.first_name,
                    last_name: e.last_name,
                };
                store.apply_user(CONSUMER, event, &user).await.map_err(transient).map(drop)
            }
            "identity.UserRoleChanged" => {
                let e: UserRoleChanged = event.decode().map_err(permanent)?;
                store.apply_user_role(CONSUMER, event, id(&e.user_id)?, e.role).await.map_err(transient).map(drop)
            }
            "identity.UserProfileUpdated" => {
                let e: UserProfileUpdated = event.decode().map_err(permanent)?;
                let user: UserId = id(&e.user_id)?;
                store
                    .apply_user_names(CONSUMER, event, user, &e.first_name, &e.last_name)
                    .await
                    .map_err(transient)
                    .map(drop)
            }
            "booking.BookingRequested" => {
                let e: BookingRequested = event.decode().map_err(permanent)?;
                self.booking(event, e.slot, true).await
            }
            "booking.BookingConfirmed" => {
                let e: BookingConfirmed = event.decode().map_err(permanent)?;
                self.booking(event, e.slot, true).await
            }
            "booking.BookingCancelled" => {
                let e: BookingCancelled = event.decode().map_err(permanent)?;
                self.booking(event, e.slot, false).await
            }
            "review.ReviewPosted" => {
                let e: ReviewPosted = event.decode().map_err(permanent)?;
                self.review(event, &e.review_id, e.state, true).await
            }
            "review.ReviewEdited" => {
                let e: ReviewEdited = event.decode().map_err(permanent)?;
                self.review(event, &e.review_id, e.state, true).await
            }
            "review.ReviewRestored" => {
                let e: ReviewRestored = event.decode().map_err(permanent)?;
                self.review(event, &e.review_id, e.state, true).await
            }
            "review.ReviewHidden" => {
                let e: ReviewHidden = event.decode().map_err(permanent)?;
                self.review(event, &e.review_id, e.state, false).await
            }
            "review.ReviewDeleted" => {
                let e: ReviewDeleted = event.decode().map_err(permanent)?;
                self.review(event, &e.review_id, e.state, false).await
            }
            // Other review events (flags) do not change the rating.
            _ => Ok(()),
        }
    }
}
