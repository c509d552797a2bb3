//! Review's published events (each carrying the review's whole state and revision), and its
//! consumer of booking's `BookingCompleted` (who may review which booking).

use std::sync::Arc;

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel::events::booking::BookingCompleted;
use kernel::events::review::{
    ReviewDeleted, ReviewEdited, ReviewFlagged, ReviewHidden, ReviewPosted, ReviewRestored, ReviewStateFields,
};
use platform::bus::{Binding, EventHandler, HandlerError, Subscription};

use crate::domain::{CompletedBooking, Review, UserId};
use crate::store::{ReviewStore, StoreError};

fn state(review: &Review) -> ReviewStateFields {
    ReviewStateFields {
        tutor_id: review.tutor_id.to_string(),
        booking_id: review.booking_id.to_string(),
        student_id: review.student_id.to_string(),
        rating: review.rating.get(),
        published: review.is_published(),
        revision: review.revision,
        at: review.updated_at,
    }
}

pub fn posted(review: &Review) -> EventEnvelope {
    EventEnvelope::wrap(&ReviewPosted { review_id: review.id.to_string(), state: state(review) }, None)
}

pub fn edited(review: &Review) -> EventEnvelope {
    EventEnvelope::wrap(&ReviewEdited { review_id: review.id.to_string(), state: state(review) }, None)
}

pub fn hidden(review: &Review) -> EventEnvelope {
    EventEnvelope::wrap(&ReviewHidden { review_id: review.id.to_string(), state: state(review) }, None)
}

pub fn restored(review: &Review) -> EventEnvelope {
    EventEnvelope::wrap(&ReviewRestored { review_id: review.id.to_string(), state: state(review) }, None)
}

pub fn deleted(review: &Review) -> EventEnvelope {
    EventEnvelope::wrap(&ReviewDeleted { review_id: review.id.to_string(), state: state(review) }, None)
}

pub fn flagged(review: &Review, by: UserId, reason: &str, flag_count: i64) -> EventEnvelope {
    EventEnvelope::wrap(
        &ReviewFlagged {
            review_id: review.id.to_string(),
            tutor_id: review.tutor_id.to_string(),
            flagged_by: by.to_string(),
            reason: reason.to_owned(),
            flag_count,
        },
        None,
    )
}

/// Review learns which bookings are completed (and whose they are) from booking's events.
pub fn subscriptions(store: Arc<dyn ReviewStore>) -> Vec<Subscription> {
    vec![Subscription {
        queue: "review.booking".into(),
        bindings: vec![Binding::event("booking.BookingCompleted")],
        handler: Arc::new(Consumer { store }),
    }]
}

pub struct Consumer {
    store: Arc<dyn ReviewStore>,
}

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, HandlerError> {
    raw.parse().map_err(|_| permanent(format!("`{raw}` is not an id")))
}

#[async_trait]
impl EventHandler for Consumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        if !event.is::<BookingCompleted>() {
            return Ok(());
        }
        let e: BookingCompleted = event.decode().map_err(permanent)?;
        let booking = CompletedBooking {
            booking_id: id(&e.slot.booking_id)?,
            tutor_id: id(&e.slot.tutor_id)?,
            student_id: id(&e.slot.student_id)?,
        };
        self.store.apply_completed("review", event, &booking, event.occurred_at).await.map(drop).map_err(|e| match e {
            StoreError::Corrupt(_) | StoreError::Domain(_) => permanent(e),
            other => HandlerError::Transient(other.to_string()),
        })
    }
}
