//! The payment provider, as payment uses it: payment intents (created for a booking, confirmed
//! with the student's payment method), refunds and transfers, every call keyed by an idempotency
//! key; outcomes arrive later as signed webhooks ([`crate::webhook`]), read here into
//! [`ProviderEvent`]s. [`simulated`] is a Stripe-like provider held in memory.

use std::collections::BTreeMap;

use async_trait::async_trait;
use kernel::{Currency, Money};
use serde::Serialize;
use serde_json::Value;

use crate::domain::{PayoutId, RefundId};

pub mod simulated;

pub use simulated::SimulatedProvider;

/// Why the provider refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The request is wrong (unknown payment method, refund above what remains): not retried.
    #[error("{0}")]
    InvalidRequest(String),
    /// The idempotency key was used before with a different request.
    #[error("idempotency key `{0}` was already used with a different request")]
    IdempotencyConflict(String),
    #[error("the provider has no {0}")]
    NotFound(String),
    /// Worth retrying with the same key.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
}

/// Free-form key-value pairs the provider keeps with an object and echoes in webhooks.
pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentRequest {
    pub amount: Money,
    pub metadata: Metadata,
}

/// A payment intent as the provider answers it (`status` in Stripe's words:
/// `requires_payment_method`, `succeeded`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    pub amount: Money,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundRequest {
    pub intent_id: String,
    pub amount: Money,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    pub id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferRequest {
    pub amount: Money,
    /// The receiving account.
    pub destination: String,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: String,
    pub amount: Money,
}

/// A payment provider. Every mutating call takes an idempotency key: the same key with the same
/// request returns the first answer; with a different request it fails with
/// [`ProviderError::IdempotencyConflict`]. Outcomes (charge succeeded or failed, refund and
/// transfer done) are reported by webhook, never by these answers.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Whether `payment_method` (trimmed, not empty) is one the provider could charge, checked
    /// before anything else so that a malformed method is `BAD_USER_INPUT`, never a conflict
    /// with an earlier attempt. By default: at most 255 visible ASCII characters.
    fn accepts(&self, payment_method: &str) -> Result<(), ProviderError> {
        if payment_method.len() <= 255 && payment_method.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(())
        } else {
            Err(ProviderError::InvalidRequest("a payment method is at most 255 visible ASCII characters".into()))
        }
    }

    async fn create_intent(&self, key: &str, request: &IntentRequest) -> Result<Intent, ProviderError>;
    /// Starts the charge of `intent_id` with `payment_method`.
    async fn confirm_intent(&self, key: &str, intent_id: &str, payment_method: &str) -> Result<Intent, ProviderError>;
    /// Returns part or all of a succeeded charge; never more than remains.
    async fn create_refund(&self, key: &str, request: &RefundRequest) -> Result<ProviderRefund, ProviderError>;
    /// Pays money out to a connected account.
    async fn create_transfer(&self, key: &str, request: &TransferRequest) -> Result<Transfer, ProviderError>;
}

/// A refund the provider reports done, matched by the id payment put in its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundNotice {
    pub refund_id: RefundId,
    pub provider_refund_id: String,
    pub amount_minor: i64,
}

/// What a webhook event tells payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    /// `payment_intent.succeeded`
    IntentSucceeded { intent_id: String },
    /// `payment_intent.payment_failed`, with `last_payment_error.code`.
    IntentFailed { intent_id: String, code: String },
    /// `charge.refunded`: the charge's succeeded refunds.
    ChargeRefunded { intent_id: String, refunds: Vec<RefundNotice> },
    /// `transfer.paid`
    TransferPaid { transfer_id: String, payout_id: PayoutId },
    /// A type payment does not act on.
    Ignored,
}

fn text<'a>(object: &'a Value, field: &str) -> Result<&'a str, String> {
    object[field].as_str().ok_or_else(|| format!("`{field}` is missing"))
}

fn metadata_id<T: std::str::FromStr>(object: &Value, field: &str) -> Result<T, String> {
    object["metadata"][field]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("`metadata.{field}` is missing"))
}

impl ProviderEvent {
    /// Reads a webhook event's `type` and `data.object` (Stripe's shapes).
    pub fn from_webhook(event_type: &str, object: &Value) -> Result<Self, String> {
        Ok(match event_type {
            "payment_intent.succeeded" => Self::IntentSucceeded { intent_id: text(object, "id")?.to_owned() },
            "payment_intent.payment_failed" => Self::IntentFailed {
                intent_id: text(object, "id")?.to_owned(),
                code: object["last_payment_error"]["code"].as_str().unwrap_or("payment_failed").to_owned(),
            },
            "charge.refunded" => {
                let listed = object["refunds"]["data"].as_array().ok_or("`refunds.data` is missing")?;
                let mut refunds = Vec::with_capacity(listed.len());
                for refund in listed.iter().filter(|r| r["status"] == "succeeded") {
                    refunds.push(RefundNotice {
                        refund_id: metadata_id(refund, "refund_id")?,
                        provider_refund_id: text(refund, "id")?.to_owned(),
                        amount_minor: refund["amount"].as_i64().ok_or("a refund's `amount` is missing")?,
                    });
                }
                Self::ChargeRefunded { intent_id: text(object, "payment_intent")?.to_owned(), refunds }
            }
            "transfer.paid" => Self::TransferPaid {
                transfer_id: text(object, "id")?.to_owned(),
                payout_id: metadata_id(object, "payout_id")?,
            },
            _ => Self::Ignored,
        })
    }
}

/// The lower-case currency code Stripe writes.
pub(crate) fn currency_code(currency: Currency) -> String {
    currency.as_str().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn webhook_objects_are_read_like_stripes() {
        let failed = json!({ "id": "pi_1", "last_payment_error": { "code": "card_declined" } });
        assert_eq!(
            ProviderEvent::from_webhook("payment_intent.payment_failed", &failed),
            Ok(ProviderEvent::IntentFailed { intent_id: "pi_1".into(), code: "card_declined".into() })
        );
        let refund = RefundId::new();
        let charge = json!({ "id": "ch_1", "payment_intent": "pi_1", "refunds": { "data": [
            { "id": "re_2", "amount": 500, "status": "pending", "metadata": {} },
            { "id": "re_1", "amount": 700, "status": "succeeded", "metadata": { "refund_id": refund.to_string() } },
        ] } });
        let Ok(ProviderEvent::ChargeRefunded { refunds, .. }) = ProviderEvent::from_webhook("charge.refunded", &charge)
        else {
            panic!("a charge.refunded event");
        };
        assert_eq!(
            refunds,
            vec![RefundNotice { refund_id: refund, provider_refund_id: "re_1".into(), amount_minor: 700 }]
        );
        assert!(ProviderEvent::from_webhook("transfer.paid", &json!({ "id": "tr_1", "metadata": {} })).is_err());
        assert_eq!(ProviderEvent::from_webhook("customer.created", &json!({})), Ok(ProviderEvent::Ignored));
    }
}
