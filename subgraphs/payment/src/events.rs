//! Payment's published events (the booking saga's payment steps and payouts), and its consumer
//! of booking's `BookingRequested`, `BookingCancelled` and `BookingCompleted`.

use std::sync::Arc;

use async_trait::async_trait;
use kernel::EventEnvelope;
use kernel::events::booking::{BookingCancelled, BookingCompleted, BookingRequested};
use kernel::events::payment::{
    PaymentFailed, PaymentRequested, PaymentSucceeded, PayoutCompleted, PayoutInitiated, RefundProcessed,
};
use platform::bus::{Binding, EventHandler, HandlerError, Subscription};

use crate::domain::{BookingState, Parties, Payment, Payout, Refund};
use crate::error::ServiceError;
use crate::service::PaymentService;

/// The consumer's name in the inbox.
pub const CONSUMER: &str = "payment";

pub fn requested(payment: &Payment, cause: Option<&EventEnvelope>) -> EventEnvelope {
    let event = PaymentRequested {
        payment_id: payment.id.to_string(),
        booking_id: payment.booking_id.to_string(),
        payer_id: payment.payer_id.to_string(),
        tutor_id: payment.tutor_id.to_string(),
        amount: payment.amount,
    };
    EventEnvelope::wrap(&event, cause)
}

pub fn succeeded(payment: &Payment) -> EventEnvelope {
    let event = PaymentSucceeded {
        payment_id: payment.id.to_string(),
        booking_id: payment.booking_id.to_string(),
        payer_id: payment.payer_id.to_string(),
        amount: payment.amount,
    };
    EventEnvelope::correlated(&event, payment.correlation_id)
}

/// `reason`: the provider's code, or `cancelled` for an intent abandoned before any charge.
pub fn failed(payment: &Payment, reason: &str, cause: Option<&EventEnvelope>) -> EventEnvelope {
    let event = PaymentFailed {
        payment_id: payment.id.to_string(),
        booking_id: payment.booking_id.to_string(),
        payer_id: payment.payer_id.to_string(),
        reason: reason.to_owned(),
    };
    match cause {
        Some(cause) => EventEnvelope::wrap(&event, Some(cause)),
        None => EventEnvelope::correlated(&event, payment.correlation_id),
    }
}

/// `payment` as it is after the refund.
pub fn refund_processed(payment: &Payment, refund: &Refund) -> EventEnvelope {
    let event = RefundProcessed {
        refund_id: refund.id.to_string(),
        payment_id: payment.id.to_string(),
        booking_id: payment.booking_id.to_string(),
        payer_id: payment.payer_id.to_string(),
        amount: refund.amount,
        total_refunded: payment.refunded(),
    };
    EventEnvelope::correlated(&event, payment.correlation_id)
}

pub fn payout_initiated(payout: &Payout) -> EventEnvelope {
    let event = PayoutInitiated {
        payout_id: payout.id.to_string(),
        tutor_id: payout.tutor_id.to_string(),
        tutor_user_id: payout.tutor_user_id.to_string(),
        amount: payout.amount,
        period_start: payout.period.start,
        period_end: payout.period.end,
    };
    EventEnvelope::wrap(&event, None)
}

pub fn payout_completed(payout: &Payout) -> EventEnvelope {
    let event = PayoutCompleted {
        payout_id: payout.id.to_string(),
        tutor_id: payout.tutor_id.to_string(),
        tutor_user_id: payout.tutor_user_id.to_string(),
        amount: payout.amount,
    };
    EventEnvelope::wrap(&event, None)
}

/// Payment opens a payment per requested booking, compensates cancelled ones (abandons the
/// intent or refunds) and accrues the tutor's earnings of completed ones.
pub fn subscriptions(service: Arc<PaymentService>) -> Vec<Subscription> {
    vec![Subscription {
        queue: "payment.booking".into(),
        bindings: vec![
            Binding::event("booking.BookingRequested"),
            Binding::event("booking.BookingCancelled"),
            Binding::event("booking.BookingCompleted"),
        ],
        handler: Arc::new(Consumer { service }),
    }]
}

pub struct Consumer {
    service: Arc<PaymentService>,
}

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, HandlerError> {
    raw.parse().map_err(|_| permanent(format!("`{raw}` is not an id")))
}

/// Retrying cannot fix bad input or a conflicting request; anything else (the database, the
/// provider, a booking whose payment is not open yet) may pass later.
fn handler_error(error: ServiceError) -> HandlerError {
    match error {
        ServiceError::Invalid(_) | ServiceError::BadInput(_) | ServiceError::Conflict(_) => permanent(error),
        other => HandlerError::Transient(other.to_string()),
    }
}

#[async_trait]
impl EventHandler for Consumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        if event.is::<BookingRequested>() {
            let e: BookingRequested = event.decode().map_err(permanent)?;
            let parties = Parties {
                booking_id: id(&e.slot.booking_id)?,
                payer_id: id(&e.slot.student_id)?,
                tutor_id: id(&e.slot.tutor_id)?,
                tutor_user_id: id(&e.tutor_user_id)?,
            };
            return self.service.open(event, parties, e.price).await.map_err(handler_error);
        }
        if event.is::<BookingCancelled>() {
            let e: BookingCancelled = event.decode().map_err(permanent)?;
            if e.refund.amount_minor < 0 {
                return Err(permanent("a refund cannot be negative"));
            }
            let end = BookingState::Cancelled { paid: e.paid, refund_minor: e.refund.amount_minor };
            let booking = id(&e.slot.booking_id)?;
            return self.service.booking_ended(event, booking, end, Some(e.refund)).await.map_err(handler_error);
        }
        if event.is::<BookingCompleted>() {
            let e: BookingCompleted = event.decode().map_err(permanent)?;
            let booking = id(&e.slot.booking_id)?;
            return self
                .service
                .booking_ended(event, booking, BookingState::Completed, None)
                .await
                .map_err(handler_error);
        }
        Ok(())
    }
}
