//! The payment subgraph's GraphQL schema: `payment(id)`, `payouts`, the mutations
//! `payForBooking`, `refundPayment` and `requestPayout`, the federated
//! `Payment @key(fields: "id")` entity, and `Booking.payment` and `Tutor.payouts`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, EmptySubscription, Enum, ID, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use platform::SignedInGuard;
use platform::auth::require_principal;
use platform::auth::viewer;
use platform::graphql::{RequestMetrics, parse_id};

use crate::domain::{self, BookingId, PaymentId, PayoutStatus as DomainPayoutStatus, Status, TutorId};
use crate::error::{IntoGraphql, ServiceError};
use crate::service::{PaymentService, PayoutPage};

pub type PaymentSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema; `service` is `None` only to export the SDL.
pub fn build(service: Option<Arc<PaymentService>>) -> PaymentSchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .limit_depth(16)
        .limit_complexity(1_000)
        .extension(RequestMetrics::new("payment"));
    if let Some(service) = service {
        let by_id = DataLoader::new(PaymentLoader(service.clone()), tokio::spawn);
        let by_booking = DataLoader::new(BookingPaymentLoader(service.clone()), tokio::spawn);
        builder = builder.data(service).data(by_id).data(by_booking);
    }
    builder.finish()
}

/// The federated SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build(None).sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

fn service<'a>(ctx: &Context<'a>) -> &'a Arc<PaymentService> {
    ctx.data_unchecked::<Arc<PaymentService>>()
}

fn loader_error(e: Arc<ServiceError>) -> async_graphql::Error {
    platform::graphql::internal_error(&e)
}

/// `first` as a page size (10 when omitted; out-of-range values are refused by the service).
fn page_size(first: Option<i32>) -> usize {
    usize::try_from(first.unwrap_or(10)).unwrap_or(0)
}

/// Batches payment lookups by id.
pub struct PaymentLoader(Arc<PaymentService>);

impl Loader<PaymentId> for PaymentLoader {
    type Value = domain::Payment;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[PaymentId]) -> Result<HashMap<PaymentId, domain::Payment>, Self::Error> {
        let payments = self.0.payments(keys).await.map_err(|e| Arc::new(e.into()))?;
        Ok(payments.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// Batches `Booking.payment`.
pub struct BookingPaymentLoader(Arc<PaymentService>);

impl Loader<BookingId> for BookingPaymentLoader {
    type Value = domain::Payment;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[BookingId]) -> Result<HashMap<BookingId, domain::Payment>, Self::Error> {
        let payments = self.0.payments_of_bookings(keys).await.map_err(|e| Arc::new(e.into()))?;
        Ok(payments.into_iter().map(|p| (p.booking_id, p)).collect())
    }
}

/// Only what the viewer may see: the payer, the tutor's user and admins.
fn visible(ctx: &Context<'_>, payment: Option<domain::Payment>) -> Option<Payment> {
    let viewer = viewer(ctx)?;
    payment.filter(|p| p.visible_to(viewer.user_id, viewer.role)).map(Payment)
}

fn connection(page: PayoutPage) -> PayoutConnection {
    let end_cursor = page.payouts.last().map(|p| p.id.to_string());
    PayoutConnection {
        edges: page.payouts.into_iter().map(|p| PayoutEdge { cursor: p.id.to_string(), node: Payout(p) }).collect(),
        page_info: PageInfo { has_next_page: page.has_next_page, end_cursor },
    }
}

pub struct Query;

#[Object]
impl Query {
    /// A payment, for its payer, the tutor and admins (`null` for anyone else).
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payment>> {
        let id = parse_id(&id, "payment")?;
        Ok(service(ctx).payment(viewer(ctx), id).await.gql()?.map(Payment))
    }

    /// The signed-in tutor's payouts, newest first; `first` is 1–50 (10 when omitted).
    #[graphql(guard = "SignedInGuard")]
    async fn payouts(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<PayoutConnection> {
        let principal = require_principal(ctx)?;
        let page = service(ctx).my_payouts(principal, page_size(first), after.as_deref()).await.gql()?;
        Ok(connection(page))
    }

    #[graphql(entity)]
    async fn find_payment_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payment>> {
        let Ok(id) = id.parse::<PaymentId>() else { return Ok(None) };
        let found = ctx.data_unchecked::<DataLoader<PaymentLoader>>().load_one(id).await.map_err(loader_error)?;
        Ok(visible(ctx, found))
    }

    #[graphql(entity)]
    async fn find_booking_by_id(&self, id: ID) -> Booking {
        Booking { id }
    }

    #[graphql(entity)]
    async fn find_tutor_by_id(&self, id: ID) -> Tutor {
        Tutor { id }
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}

/// The payment of a booking: the student pays the tutor through the platform.
pub struct Payment(domain::Payment);

#[Object]
impl Payment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn booking(&self) -> Booking {
        Booking { id: ID(self.0.booking_id.to_string()) }
    }
    /// The student who pays.
    async fn payer(&self) -> User {
        User { id: ID(self.0.payer_id.to_string()) }
    }
    /// The tutor who is paid.
    async fn tutor(&self) -> Tutor {
        Tutor { id: ID(self.0.tutor_id.to_string()) }
    }
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }
    /// What went back to the payer so far.
    async fn refunded(&self) -> Money {
        self.0.refunded().into()
    }
    /// `PENDING` until the provider reports the charge (poll, or wait for the booking's update).
    async fn status(&self) -> PaymentStatus {
        match self.0.status {
            Status::Pending => PaymentStatus::Pending,
            Status::Succeeded => PaymentStatus::Succeeded,
            Status::Failed => PaymentStatus::Failed,
            Status::Cancelled => PaymentStatus::Cancelled,
            Status::PartiallyRefunded => PaymentStatus::PartiallyRefunded,
            Status::Refunded => PaymentStatus::Refunded,
        }
    }
    /// Why the charge failed (the provider's code, e.g. `card_declined`), or `cancelled`.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Waiting for the student's payment, or for the provider's answer.
    Pending,
    Succeeded,
    /// The charge failed; see `failureReason`.
    Failed,
    /// The booking was cancelled before any charge.
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

/// A transfer of a tutor's earnings of a period.
pub struct Payout(domain::Payout);

#[Object]
impl Payout {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn tutor(&self) -> Tutor {
        Tutor { id: ID(self.0.tutor_id.to_string()) }
    }
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }
    async fn status(&self) -> PayoutStatus {
        match self.0.status {
            DomainPayoutStatus::Pending => PayoutStatus::Pending,
            DomainPayoutStatus::Processing => PayoutStatus::Processing,
            DomainPayoutStatus::Completed => PayoutStatus::Completed,
        }
    }
    /// The earnings accrued from this instant (inclusive)…
    async fn period_start(&self) -> DateTime<Utc> {
        self.0.period.start
    }
    /// …to this one (exclusive).
    async fn period_end(&self) -> DateTime<Utc> {
        self.0.period.end
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum PayoutStatus {
    /// The earnings are reserved; the transfer is being sent.
    Pending,
    /// The provider has the transfer.
    Processing,
    /// The money was paid out.
    Completed,
}

/// An amount of money: integer minor units of an ISO 4217 currency (1234 EUR = 12.34 €).
#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct Money {
    amount_minor: i64,
    currency: String,
}

impl From<kernel::Money> for Money {
    fn from(m: kernel::Money) -> Self {
        Self { amount_minor: m.amount_minor, currency: m.currency.to_string() }
    }
}

/// A user, as payment refers to them.
#[derive(SimpleObject)]
pub struct User {
    pub id: ID,
}

/// A tutor, as payment extends them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Tutor {
    pub id: ID,
}

#[ComplexObject]
impl Tutor {
    /// The tutor's payouts, newest first, for the tutor and admins (`null` for anyone else);
    /// `first` is 1–50 (10 when omitted).
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<PayoutConnection>> {
        let Ok(tutor) = self.id.parse::<TutorId>() else { return Ok(None) };
        let page = service(ctx).tutor_payouts(viewer(ctx), tutor, page_size(first), after.as_deref()).await.gql()?;
        Ok(page.map(connection))
    }
}

/// A booking, as payment extends it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Booking {
    pub id: ID,
}

#[ComplexObject]
impl Booking {
    /// The booking's payment, for its payer, the tutor and admins.
    async fn payment(&self, ctx: &Context<'_>) -> Result<Option<Payment>> {
        let Ok(id) = self.id.parse::<BookingId>() else { return Ok(None) };
        let found =
            ctx.data_unchecked::<DataLoader<BookingPaymentLoader>>().load_one(id).await.map_err(loader_error)?;
        Ok(visible(ctx, found))
    }
}

#[derive(SimpleObject)]
pub struct PayoutConnection {
    edges: Vec<PayoutEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct PayoutEdge {
    cursor: String,
    node: Payout,
}

#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// The booking's student pays it with a payment method (a card number or `pm_…` token).
    /// The charge completes asynchronously: the payment comes back `PENDING` and turns
    /// `SUCCEEDED` or `FAILED` when the provider reports; poll `payment` (or the booking) to
    /// follow it. Paying again with the same method returns the same answer.
    #[graphql(guard = "SignedInGuard")]
    async fn pay_for_booking(&self, ctx: &Context<'_>, booking_id: ID, payment_method: String) -> Result<Payment> {
        let principal = require_principal(ctx)?;
        let booking = parse_id(&booking_id, "booking")?;
        Ok(Payment(service(ctx).pay(principal, booking, &payment_method).await.gql()?))
    }

    /// Admin: refunds `amountMinor` of a charged payment (all that remains when omitted). The
    /// money goes back asynchronously: `refunded` grows when the provider reports it.
    #[graphql(guard = "SignedInGuard")]
    async fn refund_payment(&self, ctx: &Context<'_>, payment_id: ID, amount_minor: Option<i64>) -> Result<Payment> {
        let principal = require_principal(ctx)?;
        let payment = parse_id(&payment_id, "payment")?;
        Ok(Payment(service(ctx).refund(principal, payment, amount_minor).await.gql()?))
    }

    /// A tutor takes their unpaid earnings accrued in `[from, to)` into a payout (in
    /// `currency`, needed only when the earnings are in several). It is `PENDING`, then
    /// `PROCESSING` and `COMPLETED` as the transfer goes through.
    #[graphql(guard = "SignedInGuard")]
    async fn request_payout(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        currency: Option<String>,
    ) -> Result<Payout> {
        let principal = require_principal(ctx)?;
        Ok(Payout(service(ctx).request_payout(principal, from, to, currency.as_deref()).await.gql()?))
    }
}
