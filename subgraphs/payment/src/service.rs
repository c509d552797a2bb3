//! The payment use cases: the booking saga's steps (open, compensate, settle), paying, refunds,
//! webhooks and payouts. Provider calls are keyed by idempotency keys derived from our ids, so
//! a retry after a crash finds the first answer; what the provider must still be told (refunds,
//! payout transfers) is recorded first and sent by [`PaymentService::dispatch`], right after
//! the write and again by a background loop until the provider has acknowledged it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kernel::{Currency, EventEnvelope, Money};
use platform::{Principal, Shutdown};
use uuid::Uuid;

use crate::domain::{BookingId, BookingState, DomainError, Parties, Payment, PaymentId, Payout, Period, Role, TutorId};
use crate::error::ServiceError;
use crate::events::CONSUMER;
use crate::provider::{IntentRequest, Metadata, PaymentProvider, ProviderEvent, RefundRequest, TransferRequest};
use crate::store::{PaymentStore, PayoutOwner, StoreError, now};

pub const MAX_PAGE: usize = 50;

/// How often the background loop sends what the provider has not acknowledged yet.
pub const DISPATCH_INTERVAL: Duration = Duration::from_secs(2);

const DISPATCH_BATCH: i64 = 100;

/// How long paying waits for a booking's payment to open by default (`PAYMENT_OPEN_WAIT_MS`).
pub const DEFAULT_OPEN_WAIT: Duration = Duration::from_secs(3);

pub struct PaymentService {
    store: Arc<dyn PaymentStore>,
    provider: Arc<dyn PaymentProvider>,
    /// How long [`PaymentService::pay`] waits for `BookingRequested` to open the payment.
    open_wait: Duration,
}

/// A page of payouts, newest first.
pub struct PayoutPage {
    pub payouts: Vec<Payout>,
    pub has_next_page: bool,
}

fn metadata<const N: usize>(pairs: [(&str, String); N]) -> Metadata {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl PaymentService {
    pub fn new(store: Arc<dyn PaymentStore>, provider: Arc<dyn PaymentProvider>) -> Self {
        Self { store, provider, open_wait: DEFAULT_OPEN_WAIT }
    }

    /// Sets how long paying waits for a just-requested booking's payment to open.
    pub fn with_open_wait(mut self, open_wait: Duration) -> Self {
        self.open_wait = open_wait;
        self
    }

    /// `BookingRequested`: opens the booking's payment and its provider intent. The intent is
    /// created first, keyed by the booking: a redelivery gets the same intent back.
    pub async fn open(&self, event: &EventEnvelope, parties: Parties, price: Money) -> Result<(), ServiceError> {
        if price.amount_minor <= 0 {
            return Err(DomainError::NonPositiveAmount.into());
        }
        let request =
            IntentRequest { amount: price, metadata: metadata([("booking_id", parties.booking_id.to_string())]) };
        let intent = self.provider.create_intent(&format!("intent-{}", parties.booking_id), &request).await?;
        let payment = Payment::open(parties, price, intent.id, event.correlation_id, now())?;
        self.store.open(CONSUMER, event, &payment).await?;
        Ok(())
    }

    /// `BookingCancelled` (with what booking granted) or `BookingCompleted`.
    pub async fn booking_ended(
        &self,
        event: &EventEnvelope,
        booking: BookingId,
        end: BookingState,
        granted: Option<Money>,
    ) -> Result<(), ServiceError> {
        match self.store.end_booking(CONSUMER, event, booking, end, granted).await {
            Err(StoreError::NotFound(_)) => {
                return Err(ServiceError::NotFound(format!("the payment of booking {booking} is not open yet")));
            }
            other => other?,
        };
        self.dispatch().await;
        Ok(())
    }

    /// A verified provider webhook; `false` when it was applied before (a replay).
    pub async fn apply_webhook(
        &self,
        event_id: &str,
        event_type: &str,
        event: &ProviderEvent,
    ) -> Result<bool, ServiceError> {
        let applied = self.store.apply_provider_event(event_id, event_type, event).await?;
        if applied {
            self.dispatch().await;
        }
        Ok(applied)
    }

    /// The payer pays an open payment with `method`. The charge's outcome arrives by webhook:
    /// the payment returned is usually still `PENDING`. The same method again returns the same
    /// answer; another method is refused.
    ///
    /// Right after `requestBooking` the payment may not be open yet (`BookingRequested` is on its
    /// way here): paying waits for it, up to `open_wait`. A booking the caller did not make is
    /// `NOT_FOUND`, as one that does not exist: outsiders learn nothing.
    pub async fn pay(&self, principal: &Principal, booking: BookingId, method: &str) -> Result<Payment, ServiceError> {
        let method = method.trim();
        if !method.is_empty() {
            self.provider.accepts(method)?;
        }
        let payment = self.opened(booking).await?;
        payment.check_payable(principal.user_id, method).map_err(|e| match e {
            DomainError::NotThePayer => ServiceError::NotOpen,
            other => other.into(),
        })?;
        self.provider.confirm_intent(&format!("confirm-{}", payment.id), &payment.intent_id, method).await?;
        Ok(self.store.record_attempt(payment.id, method).await?)
    }

    /// The booking's payment, once `BookingRequested` has opened it: polled (10 ms, doubling to
    /// 200 ms) for up to `open_wait`, since another replica may be the one consuming the event.
    async fn opened(&self, booking: BookingId) -> Result<Payment, ServiceError> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(payment) = self.store.payments_of_bookings(&[booking]).await?.pop() {
                return Ok(payment);
            }
            let left = self.open_wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ServiceError::NotOpen);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// An admin refunds `amount` (all that remains when `None`) of a charged payment. The money
    /// goes back asynchronously: `refunded` grows when the provider reports it.
    pub async fn refund(
        &self,
        principal: &Principal,
        payment: PaymentId,
        amount: Option<i64>,
    ) -> Result<Payment, ServiceError> {
        if principal.role != Role::Admin {
            return Err(ServiceError::Forbidden("only an admin can refund a payment"));
        }
        if amount.is_some_and(|a| a <= 0) {
            return Err(DomainError::NonPositiveAmount.into());
        }
        let payment = self.store.request_refund(payment, amount).await?;
        self.dispatch().await;
        Ok(payment)
    }

    /// A tutor takes their unpaid earnings of `[from, to)` into a payout.
    pub async fn request_payout(
        &self,
        principal: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        currency: Option<&str>,
    ) -> Result<Payout, ServiceError> {
        if principal.role != Role::Tutor {
            return Err(ServiceError::Forbidden("only a tutor can request a payout of their earnings"));
        }
        let period = Period::new(from, to, now())?;
        let currency =
            currency.map(|c| Currency::parse(c).map_err(|e| ServiceError::BadInput(e.to_string()))).transpose()?;
        let payout = self.store.create_payout(principal.user_id, period, currency).await?;
        self.dispatch().await;
        Ok(payout)
    }

    /// A payment as `viewer` may see it: its payer, the tutor's user, admins.
    pub async fn payment(&self, viewer: Option<&Principal>, id: PaymentId) -> Result<Option<Payment>, ServiceError> {
        let Some(viewer) = viewer else { return Ok(None) };
        let found = self.store.payments(&[id]).await?.pop();
        Ok(found.filter(|p| p.visible_to(viewer.user_id, viewer.role)))
    }

    /// The payouts of the signed-in user.
    pub async fn my_payouts(
        &self,
        principal: &Principal,
        first: usize,
        after: Option<&str>,
    ) -> Result<PayoutPage, ServiceError> {
        self.page(PayoutOwner::User(principal.user_id), first, after).await
    }

    /// A tutor's payouts, for that tutor's user and admins (`None` for anyone else).
    pub async fn tutor_payouts(
        &self,
        viewer: Option<&Principal>,
        tutor: TutorId,
        first: usize,
        after: Option<&str>,
    ) -> Result<Option<PayoutPage>, ServiceError> {
        let Some(viewer) = viewer else { return Ok(None) };
        let allowed = viewer.role == Role::Admin || self.store.tutor_user(tutor).await? == Some(viewer.user_id);
        if !allowed {
            return Ok(None);
        }
        Ok(Some(self.page(PayoutOwner::Tutor(tutor), first, after).await?))
    }

    async fn page(&self, owner: PayoutOwner, first: usize, after: Option<&str>) -> Result<PayoutPage, ServiceError> {
        if first == 0 || first > MAX_PAGE {
            return Err(ServiceError::BadInput(format!("`first` must be between 1 and {MAX_PAGE}")));
        }
        let after = after
            .map(|c| c.parse::<Uuid>().map_err(|_| ServiceError::BadInput("`after` is not a payout cursor".into())))
            .transpose()?;
        let limit = i64::try_from(first).unwrap_or(i64::MAX).saturating_add(1);
        let mut payouts = self.store.payouts(owner, after, limit).await?;
        let has_next_page = payouts.len() > first;
        payouts.truncate(first);
        Ok(PayoutPage { payouts, has_next_page })
    }

    pub async fn payments(&self, ids: &[PaymentId]) -> Result<Vec<Payment>, StoreError> {
        self.store.payments(ids).await
    }

    pub async fn payments_of_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Payment>, StoreError> {
        self.store.payments_of_bookings(bookings).await
    }

    /// Sends the refunds and payout transfers the provider has not acknowledged yet; returns
    /// how many it sent. Failures are logged and left for the next round.
    pub async fn dispatch(&self) -> usize {
        match self.try_dispatch().await {
            Ok(sent) => sent,
            Err(error) => {
                tracing::warn!(%error, "dispatching refunds and payouts failed; retrying later");
                0
            }
        }
    }

    async fn try_dispatch(&self) -> Result<usize, ServiceError> {
        let mut sent = 0;
        for item in self.store.refunds_to_send(DISPATCH_BATCH).await? {
            let refund = &item.refund;
            let request = RefundRequest {
                intent_id: item.intent_id.clone(),
                amount: refund.amount,
                metadata: metadata([
                    ("refund_id", refund.id.to_string()),
                    ("payment_id", refund.payment_id.to_string()),
                    ("booking_id", refund.booking_id.to_string()),
                ]),
            };
            match self.provider.create_refund(&refund.idempotency_key, &request).await {
                Ok(answer) => {
                    self.store.refund_sent(refund.id, &answer.id).await?;
                    sent += 1;
                }
                Err(error) => tracing::error!(refund_id = %refund.id, %error, "the provider refused a refund"),
            }
        }
        for payout in self.store.payouts_to_send(DISPATCH_BATCH).await? {
            let request = TransferRequest {
                amount: payout.amount,
                destination: format!("acct_{}", payout.tutor_user_id.as_uuid().simple()),
                metadata: metadata([("payout_id", payout.id.to_string()), ("tutor_id", payout.tutor_id.to_string())]),
            };
            match self.provider.create_transfer(&format!("payout-{}", payout.id), &request).await {
                Ok(transfer) => {
                    self.store.payout_sent(payout.id, &transfer.id).await?;
                    sent += 1;
                }
                Err(error) => tracing::error!(payout_id = %payout.id, %error, "the provider refused a transfer"),
            }
        }
        Ok(sent)
    }

    /// Runs [`dispatch`](Self::dispatch) every [`DISPATCH_INTERVAL`] until shutdown (what a
    /// crash or an unavailable provider left unsent goes out then).
    pub async fn run_dispatcher(self: Arc<Self>, shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            self.dispatch().await;
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = tokio::time::sleep(DISPATCH_INTERVAL) => {}
            }
        }
    }
}
