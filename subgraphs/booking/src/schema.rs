//! The booking subgraph's GraphQL schema: `booking(id)`, `bookings(...)`, the booking
//! mutations, the federated `Booking @key(fields: "id")` entity, and `User.bookings` and
//! `Tutor.bookings`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    ComplexObject, Context, EmptySubscription, Enum, ID, InputObject, Object, Result, Schema, SimpleObject,
};
use chrono::{DateTime, Utc};
use platform::SignedInGuard;
use platform::auth::require_principal;
use platform::auth::viewer;
use platform::graphql::{RequestMetrics, parse_id};

use crate::domain::{self, BookingId, CancelledBy, Status, TutorId, UserId};
use crate::error::{IntoGraphql, ServiceError};
use crate::service::{self, BookingService, NewBooking};
use crate::store::{Filter, Owner};

pub type BookingSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema; `service` is `None` only to export the SDL.
pub fn build(service: Option<Arc<BookingService>>) -> BookingSchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .limit_depth(16)
        .limit_complexity(1_000)
        .extension(RequestMetrics::new("booking"));
    if let Some(service) = service {
        let loader = DataLoader::new(BookingLoader(service.clone()), tokio::spawn);
        builder = builder.data(service).data(loader);
    }
    builder.finish()
}

/// The federated SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build(None).sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

fn service<'a>(ctx: &Context<'a>) -> &'a Arc<BookingService> {
    ctx.data_unchecked::<Arc<BookingService>>()
}

/// Batches booking lookups by id (entities, `booking(id)`).
pub struct BookingLoader(Arc<BookingService>);

impl Loader<BookingId> for BookingLoader {
    type Value = domain::Booking;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[BookingId]) -> Result<HashMap<BookingId, domain::Booking>, Self::Error> {
        let bookings = self.0.bookings(keys).await.map_err(|e| Arc::new(e.into()))?;
        Ok(bookings.into_iter().map(|b| (b.id, b)).collect())
    }
}

async fn load_visible(ctx: &Context<'_>, id: BookingId) -> Result<Option<Booking>> {
    let Some(viewer) = viewer(ctx) else { return Ok(None) };
    let found = ctx
        .data_unchecked::<DataLoader<BookingLoader>>()
        .load_one(id)
        .await
        .map_err(|e| platform::graphql::internal_error(&e))?;
    Ok(found.filter(|b| b.visible_to(viewer.user_id, viewer.role)).map(Booking))
}

pub struct Query;

#[Object]
impl Query {
    /// A booking, for its student, its tutor and admins (`null` for anyone else).
    #[graphql(guard = "SignedInGuard")]
    async fn booking(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Booking>> {
        load_visible(ctx, parse_id(&id, "booking")?).await
    }

    /// My bookings (as student or tutor) by session start; `first` is 1–50 (20 when omitted).
    #[graphql(guard = "SignedInGuard")]
    async fn bookings(
        &self,
        ctx: &Context<'_>,
        filter: Option<BookingFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BookingConnection> {
        let principal = require_principal(ctx)?;
        list(ctx, Owner::Participant(principal.user_id), filter, first, after).await
    }

    #[graphql(entity)]
    async fn find_booking_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Booking>> {
        let Ok(id) = id.parse::<BookingId>() else { return Ok(None) };
        load_visible(ctx, id).await
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }

    #[graphql(entity)]
    async fn find_tutor_by_id(&self, id: ID) -> Tutor {
        Tutor { id }
    }
}

async fn list(
    ctx: &Context<'_>,
    owner: Owner,
    filter: Option<BookingFilter>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<BookingConnection> {
    let filter =
        filter.map(|f| Filter { status: f.status.map(Status::from), from: f.from, to: f.to }).unwrap_or_default();
    let first = usize::try_from(first.unwrap_or(20)).unwrap_or(0);
    let page = service(ctx).list(owner, filter, first, after.as_deref()).await.gql()?;
    let end_cursor = page.bookings.last().map(service::cursor);
    Ok(BookingConnection {
        edges: page
            .bookings
            .into_iter()
            .map(|b| BookingEdge { cursor: service::cursor(&b), node: Booking(b) })
            .collect(),
        page_info: PageInfo { has_next_page: page.has_next_page, end_cursor },
    })
}

/// A session booked with a tutor, and where it stands in the payment and cancellation saga.
pub struct Booking(domain::Booking);

#[Object]
impl Booking {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn status(&self) -> BookingStatus {
        self.0.status.into()
    }
    async fn student(&self) -> User {
        User { id: ID(self.0.student_id.to_string()) }
    }
    async fn tutor(&self) -> Tutor {
        Tutor { id: ID(self.0.tutor_id.to_string()) }
    }
    async fn session(&self) -> Session<'_> {
        Session(&self.0)
    }
    /// What the session costs (from the tutor's pricing when it was booked).
    async fn price(&self) -> Money {
        self.0.price.into()
    }
    /// Whether payment reported the charge succeeded.
    async fn paid(&self) -> bool {
        self.0.paid
    }
    /// Whether the booking waits for the tutor to confirm it.
    async fn awaiting_tutor(&self) -> bool {
        self.0.status == Status::Pending && !self.0.accepted
    }
    /// A pending booking not paid by then is cancelled.
    async fn payment_due_at(&self) -> DateTime<Utc> {
        self.0.payment_due_at
    }
    /// The parties and price as they were when the session was booked.
    async fn snapshot(&self) -> BookingSnapshot<'_> {
        BookingSnapshot(&self.0.snapshot)
    }
    async fn cancellation(&self) -> Option<Cancellation<'_>> {
        self.0.cancellation.as_ref().map(Cancellation)
    }
    /// What payment has refunded so far.
    async fn refunded(&self) -> Money {
        kernel::Money::new(self.0.refunded_minor, self.0.price.currency).into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.confirmed_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
}

pub struct Session<'a>(&'a domain::Booking);

#[Object]
impl Session<'_> {
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
    async fn duration_minutes(&self) -> i32 {
        i32::try_from(self.0.duration_minutes()).unwrap_or(i32::MAX)
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// Set when the booking is confirmed.
    async fn meeting_url(&self) -> Option<&str> {
        self.0.meeting_url.as_deref()
    }
}

pub struct BookingSnapshot<'a>(&'a domain::Snapshot);

#[Object]
impl BookingSnapshot<'_> {
    async fn tutor_name(&self) -> Option<&str> {
        self.0.tutor_name.as_deref()
    }
    async fn tutor_email(&self) -> Option<&str> {
        self.0.tutor_email.as_deref()
    }
    async fn student_name(&self) -> Option<&str> {
        self.0.student_name.as_deref()
    }
    async fn student_email(&self) -> Option<&str> {
        self.0.student_email.as_deref()
    }
    async fn original_price(&self) -> Money {
        self.0.original_price.into()
    }
}

pub struct Cancellation<'a>(&'a domain::Cancellation);

#[Object]
impl Cancellation<'_> {
    async fn by(&self) -> CancellationParty {
        match self.0.by {
            CancelledBy::Student => CancellationParty::Student,
            CancelledBy::Tutor => CancellationParty::Tutor,
            CancelledBy::System => CancellationParty::System,
        }
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// What the refund policy grants out of what was paid.
    async fn refund(&self) -> Money {
        self.0.refund.into()
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    Pending,
    Confirmed,
    Completed,
    Cancelled,
    Refunded,
}

impl From<Status> for BookingStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => Self::Pending,
            Status::Confirmed => Self::Confirmed,
            Status::Completed => Self::Completed,
            Status::Cancelled => Self::Cancelled,
            Status::Refunded => Self::Refunded,
        }
    }
}

impl From<BookingStatus> for Status {
    fn from(s: BookingStatus) -> Self {
        match s {
            BookingStatus::Pending => Self::Pending,
            BookingStatus::Confirmed => Self::Confirmed,
            BookingStatus::Completed => Self::Completed,
            BookingStatus::Cancelled => Self::Cancelled,
            BookingStatus::Refunded => Self::Refunded,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum CancellationParty {
    Student,
    Tutor,
    /// Payment failed or timed out, or the tutor never confirmed.
    System,
}

/// An amount in a currency's minor units (cents).
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

#[derive(InputObject)]
pub struct BookingFilter {
    status: Option<BookingStatus>,
    /// Sessions starting at or after.
    from: Option<DateTime<Utc>>,
    /// Sessions starting before.
    to: Option<DateTime<Utc>>,
}

/// A user, as booking extends them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
}

#[ComplexObject]
impl User {
    /// The user's bookings as student or tutor (only for the user themself or an admin).
    async fn bookings(
        &self,
        ctx: &Context<'_>,
        filter: Option<BookingFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BookingConnection> {
        let principal = require_principal(ctx)?;
        let user: UserId = parse_id(&self.id, "user")?;
        let owner = service::owner_for(principal, Owner::Participant(user), None).gql()?;
        list(ctx, owner, filter, first, after).await
    }
}

/// A tutor, as booking extends them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Tutor {
    pub id: ID,
}

#[ComplexObject]
impl Tutor {
    /// The tutor's bookings (only for the tutor themself or an admin).
    async fn bookings(
        &self,
        ctx: &Context<'_>,
        filter: Option<BookingFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BookingConnection> {
        let principal = require_principal(ctx)?;
        let tutor: TutorId = parse_id(&self.id, "tutor")?;
        let tutor_user = service(ctx).store().tutor_user(tutor).await.map_err(ServiceError::from).gql()?;
        let owner = service::owner_for(principal, Owner::Tutor(tutor), tutor_user).gql()?;
        list(ctx, owner, filter, first, after).await
    }
}

#[derive(SimpleObject)]
pub struct BookingConnection {
    edges: Vec<BookingEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct BookingEdge {
    cursor: String,
    node: Booking,
}

#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(InputObject)]
pub struct RequestBookingInput {
    tutor_id: ID,
    /// On a whole minute, inside the tutor's availability.
    starts_at: DateTime<Utc>,
    /// 15 to 240, in steps of 15.
    duration_minutes: i32,
    /// 1–100 characters.
    subject: String,
    /// One of the tutor's pricing options.
    pricing_option_id: ID,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// A student books a tutor's slot. The booking is PENDING until paid (`payForBooking`) and,
    /// unless the tutor books instantly, confirmed by the tutor.
    #[graphql(guard = "SignedInGuard")]
    async fn request_booking(&self, ctx: &Context<'_>, input: RequestBookingInput) -> Result<Booking> {
        let principal = require_principal(ctx)?;
        let input = NewBooking {
            tutor_id: parse_id(&input.tutor_id, "tutor")?,
            starts_at: input.starts_at,
            duration_minutes: i64::from(input.duration_minutes),
            subject: input.subject,
            pricing_option_id: parse_id(&input.pricing_option_id, "pricing option")?,
        };
        Ok(Booking(service(ctx).request(principal, input).await.gql()?))
    }

    /// The tutor accepts a pending booking (confirmed once paid).
    #[graphql(guard = "SignedInGuard")]
    async fn confirm_booking(&self, ctx: &Context<'_>, id: ID) -> Result<Booking> {
        let principal = require_principal(ctx)?;
        Ok(Booking(service(ctx).confirm(principal, parse_id(&id, "booking")?).await.gql()?))
    }

    /// The tutor declines a pending booking; a payment already made is refunded in full.
    #[graphql(guard = "SignedInGuard")]
    async fn decline_booking(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Booking> {
        let principal = require_principal(ctx)?;
        Ok(Booking(service(ctx).decline(principal, parse_id(&id, "booking")?, &reason).await.gql()?))
    }

    /// Either party cancels a pending or confirmed booking; the refund policy prices it.
    #[graphql(guard = "SignedInGuard")]
    async fn cancel_booking(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Booking> {
        let principal = require_principal(ctx)?;
        Ok(Booking(service(ctx).cancel(principal, parse_id(&id, "booking")?, &reason).await.gql()?))
    }

    /// The tutor marks a confirmed session done after it ended.
    #[graphql(guard = "SignedInGuard")]
    async fn complete_booking(&self, ctx: &Context<'_>, id: ID) -> Result<Booking> {
        let principal = require_principal(ctx)?;
        Ok(Booking(service(ctx).complete(principal, parse_id(&id, "booking")?).await.gql()?))
    }
}
