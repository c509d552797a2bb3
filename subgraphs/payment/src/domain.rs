//! The payment domain: a booking's payment and its life (pending, succeeded or failed, refunded,
//! or cancelled before any charge), refunds, the settlement of a booking into the tutor's
//! earnings and the platform's fee, and payouts. Pure: no database, HTTP or GraphQL here.

use chrono::{DateTime, Duration, Utc};
pub use kernel::{BookingId, Currency, Money, PaymentId, PayoutId, RefundId, Role, TutorId, UserId};
use uuid::Uuid;

/// A rule of the domain was broken; the message is fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("an amount must be a positive number of minor units")]
    NonPositiveAmount,
    #[error("only the student who booked can pay for it")]
    NotThePayer,
    #[error("the booking was cancelled; its payment is closed")]
    Cancelled,
    #[error("this payment failed ({0}); book again to retry")]
    Failed(String),
    #[error("this payment was already submitted with another payment method")]
    OtherMethod,
    #[error("a payment method is required")]
    NoMethod,
    #[error("only {remaining} minor units of this payment can still be refunded")]
    RefundTooLarge { remaining: i64 },
    #[error("the payment is {0}, not {1}")]
    WrongStatus(&'static str, &'static str),
    #[error("the refund is in {0}, the payment in {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("the period must start before it ends")]
    EmptyPeriod,
    #[error("the period cannot end in the future")]
    FuturePeriod,
}

/// Stable names of enum values, as stored and as shown.
macro_rules! named {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                [$(Self::$variant),+].into_iter().find(|v| v.as_str() == raw)
            }
        }
    };
}

/// A payment's status: `PENDING → SUCCEEDED | FAILED | CANCELLED`, `SUCCEEDED → REFUNDED |
/// PARTIALLY_REFUNDED`, and `CANCELLED → SUCCEEDED` only for a charge that was already under way
/// when the booking was cancelled (it is then refunded in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

named!(Status {
    Pending => "PENDING",
    Succeeded => "SUCCEEDED",
    Failed => "FAILED",
    Cancelled => "CANCELLED",
    PartiallyRefunded => "PARTIALLY_REFUNDED",
    Refunded => "REFUNDED",
});

impl Status {
    /// Whether money was taken (some of it may have gone back).
    pub fn charged(self) -> bool {
        matches!(self, Self::Succeeded | Self::PartiallyRefunded | Self::Refunded)
    }
}

/// What booking told payment about the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingState {
    Open,
    /// `paid`: booking had seen the payment succeed; `refund_minor`: what its policy grants then.
    Cancelled {
        paid: bool,
        refund_minor: i64,
    },
    Completed,
}

impl BookingState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Cancelled { .. } => "CANCELLED",
            Self::Completed => "COMPLETED",
        }
    }
}

/// How the ledger splits what a booking retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub earning: i64,
    pub fee: i64,
}

/// `retained × fee_bps / 10000`, rounded half up in integers, is the platform's; the rest the tutor's.
pub fn split(retained: i64, fee_bps: u32) -> Split {
    let scaled = i128::from(retained) * i128::from(fee_bps);
    let fee =
        i64::try_from((scaled + 5_000).div_euclid(10_000)).expect("a fee never exceeds the amount it is taken from");
    Split { earning: retained - fee, fee }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub booking_id: BookingId,
    pub payer_id: UserId,
    pub tutor_id: TutorId,
    pub tutor_user_id: UserId,
    pub amount: Money,
    pub refunded_minor: i64,
    pub status: Status,
    pub failure_reason: Option<String>,
    /// The provider's payment intent.
    pub intent_id: String,
    /// The booking saga's correlation id: events about this payment continue it.
    pub correlation_id: Uuid,
    /// The method of the charge attempt; `None` while no charge was attempted.
    pub payment_method: Option<String>,
    pub booking: BookingState,
    /// When the booking's money was split into earning and fee (once).
    pub settled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who a booking's payment is between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parties {
    pub booking_id: BookingId,
    pub payer_id: UserId,
    pub tutor_id: TutorId,
    pub tutor_user_id: UserId,
}

/// Whether paying is a first attempt or the same attempt again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    First,
    Repeat,
}

impl Payment {
    /// The payment of a requested booking, waiting for the student to pay `amount`.
    pub fn open(
        parties: Parties,
        amount: Money,
        intent_id: String,
        correlation_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if amount.amount_minor <= 0 {
            return Err(DomainError::NonPositiveAmount);
        }
        Ok(Self {
            id: PaymentId::new(),
            booking_id: parties.booking_id,
            payer_id: parties.payer_id,
            tutor_id: parties.tutor_id,
            tutor_user_id: parties.tutor_user_id,
            amount,
            refunded_minor: 0,
            status: Status::Pending,
            failure_reason: None,
            intent_id,
            correlation_id,
            payment_method: None,
            booking: BookingState::Open,
            settled_at: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// The payer, the tutor's user and admins see it.
    pub fn visible_to(&self, user: UserId, role: Role) -> bool {
        role == Role::Admin || user == self.payer_id || user == self.tutor_user_id
    }

    pub fn refunded(&self) -> Money {
        Money::new(self.refunded_minor, self.amount.currency)
    }

    /// Whether `payer` may pay with `method` now: only an open payment, with one method.
    pub fn check_payable(&self, payer: UserId, method: &str) -> Result<Attempt, DomainError> {
        if payer != self.payer_id {
            return Err(DomainError::NotThePayer);
        }
        if method.trim().is_empty() {
            return Err(DomainError::NoMethod);
        }
        match (self.status, self.payment_method.as_deref()) {
            (Status::Cancelled, _) => Err(DomainError::Cancelled),
            (Status::Failed, _) => Err(DomainError::Failed(self.failure_reason.clone().unwrap_or_default())),
            (_, Some(used)) if used != method => Err(DomainError::OtherMethod),
            (_, Some(_)) => Ok(Attempt::Repeat),
            (Status::Pending, None) => Ok(Attempt::First),
            (other, None) => Err(DomainError::WrongStatus(other.as_str(), "PENDING")),
        }
    }

    /// Records the method of the charge attempt (the first one sticks).
    pub fn attempt_charge(&mut self, method: &str, now: DateTime<Utc>) -> bool {
        if self.payment_method.is_some() {
            return false;
        }
        self.payment_method = Some(method.to_owned());
        self.updated_at = now;
        true
    }

    /// The provider charged the payer. `false`: already known. A charge that completes after the
    /// booking was cancelled moves a `CANCELLED` payment to `SUCCEEDED` (its refund follows).
    pub fn charge_succeeded(&mut self, now: DateTime<Utc>) -> Result<bool, DomainError> {
        match self.status {
            Status::Pending | Status::Cancelled => {
                self.status = Status::Succeeded;
                self.failure_reason = None;
                self.updated_at = now;
                Ok(true)
            }
            Status::Failed => Err(DomainError::WrongStatus("FAILED", "PENDING")),
            _ => Ok(false),
        }
    }

    /// The charge failed with the provider's `code`. `false`: nothing changed.
    pub fn charge_failed(&mut self, code: &str, now: DateTime<Utc>) -> bool {
        if self.status != Status::Pending {
            return false;
        }
        self.status = Status::Failed;
        self.failure_reason = Some(code.to_owned());
        self.updated_at = now;
        true
    }

    /// Booking ended (cancelled or completed); the first end it reports wins. For an unpaid
    /// payment without a charge attempt, a cancellation abandons the intent. Returns whether
    /// the end was new, and whether the payment became `CANCELLED`.
    pub fn booking_ended(&mut self, end: BookingState, now: DateTime<Utc>) -> (bool, bool) {
        if self.booking != BookingState::Open || end == BookingState::Open {
            return (false, false);
        }
        self.booking = end;
        self.updated_at = now;
        let abandon = matches!(end, BookingState::Cancelled { .. })
            && self.status == Status::Pending
            && self.payment_method.is_none();
        if abandon {
            self.status = Status::Cancelled;
            self.failure_reason = Some("cancelled".into());
        }
        (true, abandon)
    }

    /// What can still be refunded, given refunds already requested but not yet processed.
    pub fn refundable(&self, pending_minor: i64) -> i64 {
        if self.status.charged() { (self.amount.amount_minor - self.refunded_minor - pending_minor).max(0) } else { 0 }
    }

    /// The refund a cancelled booking is owed now (0 when none, or not charged yet): what
    /// booking granted when it had seen the payment, everything when it had not.
    pub fn cancellation_refund(&self, pending_minor: i64) -> i64 {
        let refundable = self.refundable(pending_minor);
        match self.booking {
            BookingState::Cancelled { paid: true, refund_minor } => refund_minor.clamp(0, refundable),
            BookingState::Cancelled { paid: false, .. } => refundable,
            _ => 0,
        }
    }

    /// An admin's refund of `amount` (all that remains when `None`).
    pub fn check_refund(&self, amount: Option<i64>, pending_minor: i64) -> Result<i64, DomainError> {
        if !self.status.charged() {
            return Err(DomainError::WrongStatus(self.status.as_str(), "SUCCEEDED or PARTIALLY_REFUNDED"));
        }
        let remaining = self.refundable(pending_minor);
        let amount = amount.unwrap_or(remaining);
        if amount <= 0 && remaining > 0 {
            return Err(DomainError::NonPositiveAmount);
        }
        if amount > remaining || remaining == 0 {
            return Err(DomainError::RefundTooLarge { remaining });
        }
        Ok(amount)
    }

    /// The provider returned `amount` to the payer.
    pub fn refund_processed(&mut self, amount: i64, now: DateTime<Utc>) -> Result<(), DomainError> {
        let total = self.refunded_minor + amount;
        if amount <= 0 || total > self.amount.amount_minor || !self.status.charged() {
            return Err(DomainError::RefundTooLarge { remaining: self.amount.amount_minor - self.refunded_minor });
        }
        self.refunded_minor = total;
        self.status = if total == self.amount.amount_minor { Status::Refunded } else { Status::PartiallyRefunded };
        self.updated_at = now;
        Ok(())
    }

    /// Whether the booking's money can be split now: the booking ended, the charge is decided,
    /// no refund is under way, and it was not split before.
    pub fn settlement_due(&self, pending_refunds: usize) -> bool {
        self.settled_at.is_none()
            && self.booking != BookingState::Open
            && self.status != Status::Pending
            && pending_refunds == 0
    }

    /// Splits what the booking retained (charged − refunded) and marks it settled.
    pub fn settle(&mut self, fee_bps: u32, now: DateTime<Utc>) -> Split {
        let retained = if self.status.charged() { self.amount.amount_minor - self.refunded_minor } else { 0 };
        self.settled_at = Some(now);
        self.updated_at = now;
        split(retained, fee_bps)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundKind {
    /// What a cancelled booking is owed (one per booking).
    Cancellation,
    /// An admin's decision.
    Admin,
}

named!(RefundKind { Cancellation => "CANCELLATION", Admin => "ADMIN" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Succeeded,
}

named!(RefundStatus { Pending => "PENDING", Succeeded => "SUCCEEDED" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub booking_id: BookingId,
    pub kind: RefundKind,
    pub amount: Money,
    pub status: RefundStatus,
    /// What the provider call is keyed by: a retry returns the same refund.
    pub idempotency_key: String,
    pub provider_refund_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

impl Refund {
    pub fn new(payment: &Payment, kind: RefundKind, amount_minor: i64, now: DateTime<Utc>) -> Self {
        let id = RefundId::new();
        let idempotency_key = match kind {
            RefundKind::Cancellation => format!("refund-{}", payment.booking_id),
            RefundKind::Admin => format!("refund-{id}"),
        };
        Self {
            id,
            payment_id: payment.id,
            booking_id: payment.booking_id,
            kind,
            amount: Money::new(amount_minor, payment.amount.currency),
            status: RefundStatus::Pending,
            idempotency_key,
            provider_refund_id: None,
            created_at: now,
            processed_at: None,
        }
    }
}

/// The ledger's kinds of entries. Per currency, once every booking is settled:
/// Σ CHARGE − Σ REFUND = Σ TUTOR_EARNING + Σ PLATFORM_FEE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Charge,
    Refund,
    TutorEarning,
    PlatformFee,
}

named!(EntryKind {
    Charge => "CHARGE",
    Refund => "REFUND",
    TutorEarning => "TUTOR_EARNING",
    PlatformFee => "PLATFORM_FEE",
});

/// `PENDING` (earnings reserved) → `PROCESSING` (transfer sent) → `COMPLETED` (transfer paid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutStatus {
    Pending,
    Processing,
    Completed,
}

named!(PayoutStatus { Pending => "PENDING", Processing => "PROCESSING", Completed => "COMPLETED" });

/// The half-open period `[start, end)` of earnings a payout covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Clocks disagree a little: an end up to this far ahead is accepted.
const CLOCK_SKEW_SECS: i64 = 300;

impl Period {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self, DomainError> {
        if start >= end {
            return Err(DomainError::EmptyPeriod);
        }
        if end > now + Duration::seconds(CLOCK_SKEW_SECS) {
            return Err(DomainError::FuturePeriod);
        }
        Ok(Self { start, end })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub id: PayoutId,
    pub tutor_id: TutorId,
    pub tutor_user_id: UserId,
    pub amount: Money,
    pub status: PayoutStatus,
    pub period: Period,
    /// The provider's transfer, once sent.
    pub transfer_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Payout {
    /// `PROCESSING → COMPLETED` (or straight from `PENDING` when the webhook overtook the
    /// transfer's answer). `false`: already completed.
    pub fn complete(&mut self, now: DateTime<Utc>) -> bool {
        if self.status == PayoutStatus::Completed {
            return false;
        }
        self.status = PayoutStatus::Completed;
        self.completed_at = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::parse("EUR").expect("valid"))
    }

    fn parties() -> Parties {
        Parties {
            booking_id: BookingId::new(),
            payer_id: UserId::new(),
            tutor_id: TutorId::new(),
            tutor_user_id: UserId::new(),
        }
    }

    fn payment(amount: i64) -> Payment {
        Payment::open(parties(), eur(amount), "pi_1".into(), Uuid::nil(), Utc::now()).expect("positive")
    }

    #[test]
    fn fees_round_half_up_in_integers() {
        assert_eq!(split(10_000, 1500), Split { earning: 8_500, fee: 1_500 });
        assert_eq!(split(10, 1500), Split { earning: 8, fee: 2 }, "1.5 rounds up");
        assert_eq!(split(3, 1500), Split { earning: 3, fee: 0 }, "0.45 rounds down");
        assert_eq!(split(1, 5000), Split { earning: 0, fee: 1 }, "0.5 rounds up");
        assert_eq!(split(999, 0), Split { earning: 999, fee: 0 });
        assert_eq!(split(999, 10_000), Split { earning: 0, fee: 999 });
        assert_eq!(split(0, 1500), Split { earning: 0, fee: 0 });
        assert_eq!(split(i64::MAX, 10_000).earning, 0, "no overflow");
    }

    #[test]
    fn a_payment_opens_pending_for_a_positive_amount() {
        assert_eq!(
            Payment::open(parties(), eur(0), "pi".into(), Uuid::nil(), Utc::now()),
            Err(DomainError::NonPositiveAmount)
        );
        assert_eq!(payment(5000).status, Status::Pending);
    }

    #[test]
    fn only_the_payer_pays_with_one_method() {
        let now = Utc::now();
        let mut p = payment(5000);
        assert_eq!(p.check_payable(UserId::new(), "pm_card_visa"), Err(DomainError::NotThePayer));
        assert_eq!(p.check_payable(p.payer_id, " "), Err(DomainError::NoMethod));
        assert_eq!(p.check_payable(p.payer_id, "pm_card_visa"), Ok(Attempt::First));
        assert!(p.attempt_charge("pm_card_visa", now));
        assert!(!p.attempt_charge("pm_card_chargeDeclined", now), "the first method sticks");
        assert_eq!(p.check_payable(p.payer_id, "pm_card_visa"), Ok(Attempt::Repeat));
        assert_eq!(p.check_payable(p.payer_id, "pm_card_chargeDeclined"), Err(DomainError::OtherMethod));
        assert_eq!(p.charge_succeeded(now), Ok(true));
        assert_eq!(p.charge_succeeded(now), Ok(false), "a second report changes nothing");
        assert!(!p.charge_failed("card_declined", now));
        assert_eq!(p.check_payable(p.payer_id, "pm_card_visa"), Ok(Attempt::Repeat));
    }

    #[test]
    fn a_failed_charge_is_final() {
        let now = Utc::now();
        let mut p = payment(5000);
        assert!(p.charge_failed("card_declined", now));
        assert_eq!((p.status, p.failure_reason.as_deref()), (Status::Failed, Some("card_declined")));
        assert_eq!(p.check_payable(p.payer_id, "pm_card_visa"), Err(DomainError::Failed("card_declined".into())));
        assert!(matches!(p.charge_succeeded(now), Err(DomainError::WrongStatus(..))));
    }

    #[test]
    fn cancelling_an_unpaid_booking_abandons_the_intent_but_a_charge_under_way_completes() {
        let now = Utc::now();
        let cancelled = BookingState::Cancelled { paid: false, refund_minor: 0 };
        let mut unpaid = payment(5000);
        assert_eq!(unpaid.booking_ended(cancelled, now), (true, true));
        assert_eq!(unpaid.status, Status::Cancelled);
        assert_eq!(unpaid.check_payable(unpaid.payer_id, "pm_card_visa"), Err(DomainError::Cancelled));
        assert_eq!(unpaid.booking_ended(BookingState::Completed, now), (false, false), "the first end wins");
        assert!(unpaid.settlement_due(0));
        assert_eq!(unpaid.settle(1500, now), Split { earning: 0, fee: 0 });

        let mut in_flight = payment(5000);
        in_flight.attempt_charge("pm_card_visa", now);
        assert_eq!(in_flight.booking_ended(cancelled, now), (true, false));
        assert!(!in_flight.settlement_due(0), "the charge is not decided yet");
        assert_eq!(in_flight.charge_succeeded(now), Ok(true));
        assert_eq!(in_flight.cancellation_refund(0), 5000, "booking never saw it: everything goes back");
    }

    #[test]
    fn refunds_never_exceed_what_remains_and_move_the_status() {
        let now = Utc::now();
        let mut p = payment(5000);
        assert!(matches!(p.check_refund(None, 0), Err(DomainError::WrongStatus(..))));
        p.charge_succeeded(now).expect("pending");
        assert_eq!(p.check_refund(Some(0), 0), Err(DomainError::NonPositiveAmount));
        assert_eq!(p.check_refund(Some(5001), 0), Err(DomainError::RefundTooLarge { remaining: 5000 }));
        assert_eq!(p.check_refund(None, 1000), Ok(4000), "pending refunds count");
        p.refund_processed(2000, now).expect("within");
        assert_eq!((p.status, p.refunded_minor), (Status::PartiallyRefunded, 2000));
        assert!(p.refund_processed(3001, now).is_err());
        p.refund_processed(3000, now).expect("the rest");
        assert_eq!(p.status, Status::Refunded);
        assert_eq!(p.check_refund(None, 0), Err(DomainError::RefundTooLarge { remaining: 0 }));
    }

    #[test]
    fn a_cancelled_paid_booking_gets_what_booking_granted() {
        let now = Utc::now();
        let mut p = payment(5000);
        p.charge_succeeded(now).expect("pending");
        p.booking_ended(BookingState::Cancelled { paid: true, refund_minor: 2500 }, now);
        assert_eq!(p.cancellation_refund(0), 2500);
        assert!(!p.settlement_due(1), "waits for its refund");
        p.refund_processed(2500, now).expect("within");
        assert!(p.settlement_due(0));
        assert_eq!(p.settle(1500, now), Split { earning: 2125, fee: 375 });
        assert!(!p.settlement_due(0), "settled once");
    }

    #[test]
    fn completion_settles_the_whole_charge() {
        let now = Utc::now();
        let mut p = payment(4999);
        p.charge_succeeded(now).expect("pending");
        assert!(!p.settlement_due(0), "the booking is still open");
        p.booking_ended(BookingState::Completed, now);
        let split = p.settle(1500, now);
        assert_eq!(split.earning + split.fee, 4999);
        assert_eq!(split.fee, 750, "749.85 rounds up");
    }

    #[test]
    fn payout_periods_are_ordered_and_not_in_the_future() {
        let now = Utc::now();
        assert_eq!(Period::new(now, now, now), Err(DomainError::EmptyPeriod));
        assert_eq!(Period::new(now, now + Duration::days(1), now), Err(DomainError::FuturePeriod));
        assert!(Period::new(now - Duration::days(7), now, now).is_ok());
    }

    #[test]
    fn stored_names_round_trip() {
        for status in [Status::Pending, Status::Succeeded, Status::Failed, Status::Cancelled, Status::Refunded] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(EntryKind::parse("TUTOR_EARNING"), Some(EntryKind::TutorEarning));
        assert_eq!(PayoutStatus::parse("nope"), None);
    }
}
