//! The review subgraph's GraphQL schema: `review(id)`, the review mutations, the federated
//! `Review @key(fields: "id")` entity, and `Tutor.reviews` and `Booking.review`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    ComplexObject, Context, EmptySubscription, Enum, ID, InputObject, MaybeUndefined, Object, Result, Schema,
    SimpleObject,
};
use chrono::{DateTime, Utc};
use platform::SignedInGuard;
use platform::auth::require_principal;
use platform::auth::viewer;
use platform::graphql::{RequestMetrics, parse_id};

use crate::domain::{self, BookingId, ReviewId, Status, TutorId};
use crate::error::{IntoGraphql, ServiceError};
use crate::service::ReviewService;

pub type ReviewSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema; `service` is `None` only to export the SDL.
pub fn build(service: Option<Arc<ReviewService>>) -> ReviewSchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .limit_depth(16)
        .limit_complexity(1_000)
        .extension(RequestMetrics::new("review"));
    if let Some(service) = service {
        let by_id = DataLoader::new(ReviewLoader(service.clone()), tokio::spawn);
        let by_booking = DataLoader::new(BookingReviewLoader(service.clone()), tokio::spawn);
        builder = builder.data(service).data(by_id).data(by_booking);
    }
    builder.finish()
}

/// The federated SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build(None).sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

fn service<'a>(ctx: &Context<'a>) -> &'a Arc<ReviewService> {
    ctx.data_unchecked::<Arc<ReviewService>>()
}

fn loader_error(e: Arc<ServiceError>) -> async_graphql::Error {
    platform::graphql::internal_error(&e)
}

/// Batches review lookups by id.
pub struct ReviewLoader(Arc<ReviewService>);

impl Loader<ReviewId> for ReviewLoader {
    type Value = domain::Review;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[ReviewId]) -> Result<HashMap<ReviewId, domain::Review>, Self::Error> {
        let reviews = self.0.reviews(keys).await.map_err(|e| Arc::new(e.into()))?;
        Ok(reviews.into_iter().map(|r| (r.id, r)).collect())
    }
}

/// Batches `Booking.review`.
pub struct BookingReviewLoader(Arc<ReviewService>);

impl Loader<BookingId> for BookingReviewLoader {
    type Value = domain::Review;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[BookingId]) -> Result<HashMap<BookingId, domain::Review>, Self::Error> {
        let reviews = self.0.reviews_of_bookings(keys).await.map_err(|e| Arc::new(e.into()))?;
        Ok(reviews.into_iter().map(|r| (r.booking_id, r)).collect())
    }
}

/// Only what the viewer may see.
fn visible(ctx: &Context<'_>, review: Option<domain::Review>) -> Option<Review> {
    let viewer = viewer(ctx).map(|p| (p.user_id, p.role));
    review.filter(|r| r.visible_to(viewer)).map(Review)
}

pub struct Query;

#[Object]
impl Query {
    /// A review: published ones for everyone; hidden or flagged ones for their author and admins.
    async fn review(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Review>> {
        let id = parse_id(&id, "review")?;
        Ok(service(ctx).review(viewer(ctx), id).await.gql()?.map(Review))
    }

    #[graphql(entity)]
    async fn find_review_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Review>> {
        let Ok(id) = id.parse::<ReviewId>() else { return Ok(None) };
        let found = ctx.data_unchecked::<DataLoader<ReviewLoader>>().load_one(id).await.map_err(loader_error)?;
        Ok(visible(ctx, found))
    }

    #[graphql(entity)]
    async fn find_tutor_by_id(&self, id: ID) -> Tutor {
        Tutor { id }
    }

    #[graphql(entity)]
    async fn find_booking_by_id(&self, id: ID) -> Booking {
        Booking { id }
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}

/// A student's review of a completed booking.
pub struct Review(domain::Review);

#[Object]
impl Review {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// 1 to 5.
    async fn rating(&self) -> i32 {
        i32::from(self.0.rating.get())
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    async fn status(&self) -> ReviewStatus {
        match self.0.status {
            Status::Published => ReviewStatus::Published,
            Status::Flagged => ReviewStatus::Flagged,
            Status::Hidden | Status::Deleted => ReviewStatus::Hidden,
        }
    }
    /// The reviewer (name and avatar from identity).
    async fn student(&self) -> User {
        User { id: ID(self.0.student_id.to_string()) }
    }
    async fn tutor(&self) -> Tutor {
        Tutor { id: ID(self.0.tutor_id.to_string()) }
    }
    async fn booking(&self) -> Booking {
        Booking { id: ID(self.0.booking_id.to_string()) }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the author last edited it (editable for 14 days).
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.0.edited_at
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    Published,
    /// Hidden pending moderation after enough flags.
    Flagged,
    /// Hidden by an admin.
    Hidden,
}

/// A user, as review refers to them.
#[derive(SimpleObject)]
pub struct User {
    pub id: ID,
}

/// A tutor, as review extends them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Tutor {
    pub id: ID,
}

#[ComplexObject]
impl Tutor {
    /// Published reviews, newest first; `first` is 1–50 (10 when omitted).
    async fn reviews(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<ReviewConnection> {
        let Ok(tutor) = self.id.parse::<TutorId>() else {
            return Ok(ReviewConnection {
                edges: Vec::new(),
                page_info: PageInfo { has_next_page: false, end_cursor: None },
            });
        };
        let first = usize::try_from(first.unwrap_or(10)).unwrap_or(0);
        let page = service(ctx).tutor_reviews(tutor, first, after.as_deref()).await.gql()?;
        let end_cursor = page.reviews.last().map(|r| r.id.to_string());
        Ok(ReviewConnection {
            edges: page.reviews.into_iter().map(|r| ReviewEdge { cursor: r.id.to_string(), node: Review(r) }).collect(),
            page_info: PageInfo { has_next_page: page.has_next_page, end_cursor },
        })
    }
}

/// A booking, as review extends it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Booking {
    pub id: ID,
}

#[ComplexObject]
impl Booking {
    /// The student's review of this booking, if any (and visible to the caller).
    async fn review(&self, ctx: &Context<'_>) -> Result<Option<Review>> {
        let Ok(id) = self.id.parse::<BookingId>() else { return Ok(None) };
        let found = ctx.data_unchecked::<DataLoader<BookingReviewLoader>>().load_one(id).await.map_err(loader_error)?;
        Ok(visible(ctx, found))
    }
}

#[derive(SimpleObject)]
pub struct ReviewConnection {
    edges: Vec<ReviewEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct ReviewEdge {
    cursor: String,
    node: Review,
}

#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(InputObject)]
pub struct CreateReviewInput {
    booking_id: ID,
    /// 1 to 5.
    rating: i32,
    /// At most 2000 characters.
    comment: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateReviewInput {
    rating: Option<i32>,
    /// `null` removes the comment; omitted keeps it.
    comment: MaybeUndefined<String>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// The booking's student reviews it, once, after it is completed.
    #[graphql(guard = "SignedInGuard")]
    async fn create_review(&self, ctx: &Context<'_>, input: CreateReviewInput) -> Result<Review> {
        let principal = require_principal(ctx)?;
        let booking = parse_id(&input.booking_id, "booking")?;
        let review =
            service(ctx).create(principal, booking, i64::from(input.rating), input.comment.as_deref()).await.gql()?;
        Ok(Review(review))
    }

    /// The author changes the rating or comment, within 14 days of posting.
    #[graphql(guard = "SignedInGuard")]
    async fn update_review(&self, ctx: &Context<'_>, id: ID, input: UpdateReviewInput) -> Result<Review> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&id, "review")?;
        let comment = match &input.comment {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(text) => Some(Some(text.as_str())),
        };
        let review = service(ctx).update(principal, id, input.rating.map(i64::from), comment).await.gql()?;
        Ok(Review(review))
    }

    /// The author deletes their review; it stops counting in the tutor's rating.
    #[graphql(guard = "SignedInGuard")]
    async fn delete_review(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let principal = require_principal(ctx)?;
        let review = service(ctx).delete(principal, parse_id(&id, "review")?).await.gql()?;
        Ok(ID(review.id.to_string()))
    }

    /// Any signed-in user (not the author) flags a review once, with a reason. Enough flags hide
    /// it pending moderation. Returns whether the review is still published.
    #[graphql(guard = "SignedInGuard")]
    async fn flag_review(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<bool> {
        let principal = require_principal(ctx)?;
        let review = service(ctx).flag(principal, parse_id(&id, "review")?, &reason).await.gql()?;
        Ok(review.is_published())
    }

    /// Admin: hides a review.
    #[graphql(guard = "SignedInGuard")]
    async fn hide_review(&self, ctx: &Context<'_>, id: ID) -> Result<Review> {
        let principal = require_principal(ctx)?;
        Ok(Review(service(ctx).hide(principal, parse_id(&id, "review")?).await.gql()?))
    }

    /// Admin: publishes a hidden or flagged review again; the flags so far are settled.
    #[graphql(guard = "SignedInGuard")]
    async fn restore_review(&self, ctx: &Context<'_>, id: ID) -> Result<Review> {
        let principal = require_principal(ctx)?;
        Ok(Review(service(ctx).restore(principal, parse_id(&id, "review")?).await.gql()?))
    }
}
