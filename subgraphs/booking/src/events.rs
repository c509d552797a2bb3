//! Booking's published events, and its consumers: users (identity), tutors' calendars and
//! prices (tutoring) and the payment steps of the saga (payment).

use std::sync::Arc;

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel::events::booking::{BookedSlot, BookingCancelled, BookingCompleted, BookingConfirmed, BookingRequested};
use kernel::events::identity::{UserProfileUpdated, UserRegistered};
use kernel::events::payment::{PaymentFailed, PaymentSucceeded, RefundProcessed};
use kernel::events::tutoring::{
    TutorAvailabilityUpdated, TutorPricingChanged, TutorProfileCreated, TutorProfileUpdated,
};
use platform::bus::{Binding, EventHandler, HandlerError, Subscription};

use crate::domain::{Booking, Change, TutorId, UserId};
use crate::service::BookingService;
use crate::store::{KnownUser, StoreError, TutorChange};

fn slot(b: &Booking) -> BookedSlot {
    BookedSlot {
        booking_id: b.id.to_string(),
        tutor_id: b.tutor_id.to_string(),
        student_id: b.student_id.to_string(),
        starts_at: b.starts_at,
        ends_at: b.ends_at,
    }
}

pub fn requested(b: &Booking) -> EventEnvelope {
    EventEnvelope::wrap(
        &BookingRequested {
            slot: slot(b),
            tutor_user_id: b.tutor_user_id.to_string(),
            subject: b.subject.clone(),
            price: b.price,
            payment_due_at: b.payment_due_at,
        },
        None,
    )
}

/// The event a change publishes, continuing the correlation of the event that caused it.
pub fn for_change(b: &Booking, change: Change, cause: Option<&EventEnvelope>) -> Vec<EventEnvelope> {
    let event = match change {
        Change::Confirmed => EventEnvelope::wrap(
            &BookingConfirmed { slot: slot(b), meeting_url: b.meeting_url.clone().unwrap_or_default() },
            cause,
        ),
        Change::Cancelled => {
            let Some(c) = &b.cancellation else { return Vec::new() };
            EventEnvelope::wrap(
                &BookingCancelled {
                    slot: slot(b),
                    cancelled_by: c.by,
                    reason: c.reason.clone(),
                    paid: b.paid,
                    refund: c.refund,
                },
                cause,
            )
        }
        Change::Completed => EventEnvelope::wrap(&BookingCompleted { slot: slot(b) }, cause),
        Change::Nothing | Change::Updated | Change::Refunded => return Vec::new(),
    };
    vec![event]
}

/// The queues booking consumes, one per producing context.
pub fn subscriptions(service: Arc<BookingService>) -> Vec<Subscription> {
    let handler = Arc::new(Consumer { service });
    vec![
        Subscription {
            queue: "booking.identity".into(),
            bindings: vec![Binding::event("identity.UserRegistered"), Binding::event("identity.UserProfileUpdated")],
            handler: handler.clone(),
        },
        Subscription {
            queue: "booking.tutoring".into(),
            bindings: vec![
                Binding::event("tutoring.TutorProfileCreated"),
                Binding::event("tutoring.TutorProfileUpdated"),
                Binding::event("tutoring.TutorAvailabilityUpdated"),
                Binding::event("tutoring.TutorPricingChanged"),
            ],
            handler: handler.clone(),
        },
        Subscription {
            queue: "booking.payment".into(),
            bindings: vec![
                Binding::event("payment.PaymentSucceeded"),
                Binding::event("payment.PaymentFailed"),
                Binding::event("payment.RefundProcessed"),
            ],
            handler,
        },
    ]
}

pub const CONSUMER: &str = "booking";

pub struct Consumer {
    service: Arc<BookingService>,
}

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn store_error(e: StoreError) -> HandlerError {
    match e {
        StoreError::Corrupt(_) | StoreError::Domain(_) => permanent(e),
        other => HandlerError::Transient(other.to_string()),
    }
}

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, HandlerError> {
    raw.parse().map_err(|_| permanent(format!("`{raw}` is not an id")))
}

impl Consumer {
    async fn user(&self, event: &EventEnvelope, user: KnownUser) -> Result<(), HandlerError> {
        self.service.store().apply_user(CONSUMER, event, &user).await.map(drop).map_err(store_error)
    }

    async fn tutor(&self, event: &EventEnvelope, tutor: &str, change: TutorChange) -> Result<(), HandlerError> {
        let tutor: TutorId = id(tutor)?;
        self.service.store().apply_tutor(CONSUMER, event, tutor, &change).await.map(drop).map_err(store_error)
    }
}

#[async_trait]
impl EventHandler for Consumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        match event.event_type.as_str() {
            "identity.UserRegistered" => {
                let e: UserRegistered = event.decode().map_err(permanent)?;
                let user = KnownUser {
                    user_id: id::<UserId>(&e.user_id)?,
                    email: e.email,
                    first_name: e.first_name,
                    last_name: e.last_name,
                };
                self.user(event, user).await
            }
            "identity.UserProfileUpdated" => {
                let e: UserProfileUpdated = event.decode().map_err(permanent)?;
                let user = KnownUser {
                    user_id: id::<UserId>(&e.user_id)?,
                    email: e.email,
                    first_name: e.first_name,
                    last_name: e.last_name,
                };
                self.user(event, user).await
            }
            "tutoring.TutorProfileCreated" => {
                let e: TutorProfileCreated = event.decode().map_err(permanent)?;
                let change =
                    TutorChange::Profile { user_id: id(&e.user_id)?, instant_booking: e.instant_booking, version: 1 };
                self.tutor(event, &e.tutor_id, change).await
            }
            "tutoring.TutorProfileUpdated" => {
                let e: TutorProfileUpdated = event.decode().map_err(permanent)?;
                let change = TutorChange::Profile {
                    user_id: id(&e.user_id)?,
                    instant_booking: e.instant_booking,
                    version: e.version,
                };
                self.tutor(event, &e.tutor_id, change).await
            }
            "tutoring.TutorAvailabilityUpdated" => {
                let e: TutorAvailabilityUpdated = event.decode().map_err(permanent)?;
                if e.time_zone.parse::<chrono_tz::Tz>().is_err() {
                    return Err(permanent(format!("unknown time zone {}", e.time_zone)));
                }
                let change = TutorChange::Availability {
                    time_zone: e.time_zone,
                    weekly: e.weekly,
                    time_off: e.time_off,
                    revision: e.revision,
                };
                self.tutor(event, &e.tutor_id, change).await
            }
            "tutoring.TutorPricingChanged" => {
                let e: TutorPricingChanged = event.decode().map_err(permanent)?;
                let change = TutorChange::Pricing { currency: e.currency, options: e.options, revision: e.revision };
                self.tutor(event, &e.tutor_id, change).await
            }
            "payment.PaymentSucceeded" => {
                let e: PaymentSucceeded = event.decode().map_err(permanent)?;
                self.service.payment_succeeded(event, id(&e.booking_id)?).await.map_err(store_error)
            }
            "payment.PaymentFailed" => {
                let e: PaymentFailed = event.decode().map_err(permanent)?;
                self.service.payment_failed(event, id(&e.booking_id)?, &e.reason).await.map_err(store_error)
            }
            "payment.RefundProcessed" => {
                let e: RefundProcessed = event.decode().map_err(permanent)?;
                let total = e.total_refunded.amount_minor;
                self.service.refunded(event, id(&e.booking_id)?, total).await.map_err(store_error)
            }
            _ => Ok(()),
        }
    }
}
