//! Events published by the payment context on the `payment.events` exchange: the booking saga's
//! payment steps (requested, succeeded, failed, refunded) and tutors' payouts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;
use crate::Money;

macro_rules! payment_event {
    ($name:ident, $type:literal, $aggregate:ident) => {
        impl PublishedEvent for $name {
            const PRODUCER: &'static str = "payment";
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            fn aggregate_id(&self) -> String {
                self.$aggregate.clone()
            }
        }
    };
}

/// A payment intent was opened for a requested booking; the student can now pay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequested {
    pub payment_id: String,
    pub booking_id: String,
    pub payer_id: String,
    pub tutor_id: String,
    pub amount: Money,
}
payment_event!(PaymentRequested, "payment.PaymentRequested", payment_id);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSucceeded {
    pub payment_id: String,
    pub booking_id: String,
    pub payer_id: String,
    pub amount: Money,
}
payment_event!(PaymentSucceeded, "payment.PaymentSucceeded", payment_id);

/// The charge failed (`reason`: the provider's code, e.g. `card_declined`, `insufficient_funds`)
/// or the intent was abandoned (`cancelled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailed {
    pub payment_id: String,
    pub booking_id: String,
    pub payer_id: String,
    pub reason: String,
}
payment_event!(PaymentFailed, "payment.PaymentFailed", payment_id);

/// Money went back to the payer: `amount` this time, `total_refunded` so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundProcessed {
    pub refund_id: String,
    pub payment_id: String,
    pub booking_id: String,
    pub payer_id: String,
    pub amount: Money,
    pub total_refunded: Money,
}
payment_event!(RefundProcessed, "payment.RefundProcessed", payment_id);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutInitiated {
    pub payout_id: String,
    pub tutor_id: String,
    pub tutor_user_id: String,
    pub amount: Money,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}
payment_event!(PayoutInitiated, "payment.PayoutInitiated", payout_id);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutCompleted {
    pub payout_id: String,
    pub tutor_id: String,
    pub tutor_user_id: String,
    pub amount: Money,
}
payment_event!(PayoutCompleted, "payment.PayoutCompleted", payout_id);
