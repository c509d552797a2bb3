//! The review use cases: one transaction each (load, decide in the domain, save with events).

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use platform::Principal;
use uuid::Uuid;

use crate::domain::{self, BookingId, Review, ReviewId, Role, Stars, TutorId};
use crate::error::ServiceError;
use crate::events;
use crate::store::{ReviewStore, StoreError};

pub const MAX_PAGE: usize = 50;

pub struct ReviewService {
    store: Arc<dyn ReviewStore>,
    /// Unsettled flags that hide a review pending moderation.
    flag_threshold: i64,
}

/// A page of a tutor's reviews.
pub struct Page {
    pub reviews: Vec<Review>,
    pub has_next_page: bool,
}

impl ReviewService {
    pub fn new(store: Arc<dyn ReviewStore>, flag_threshold: i64) -> Self {
        Self { store, flag_threshold: flag_threshold.max(1) }
    }

    pub fn store(&self) -> &Arc<dyn ReviewStore> {
        &self.store
    }

    pub async fn create(
        &self,
        principal: &Principal,
        booking: BookingId,
        rating: i64,
        comment: Option<&str>,
    ) -> Result<Review, ServiceError> {
        let rating = Stars::new(rating)?;
        let comment = domain::comment(comment)?;
        let completed = self.store.completed_booking(booking).await?;
        let review = Review::post(principal.user_id, completed.as_ref(), rating, comment, now())?;
        self.store.insert(&review, &[events::posted(&review)]).await?;
        Ok(review)
    }

    async fn existing(&self, id: ReviewId) -> Result<Review, ServiceError> {
        self.store.review(id).await?.ok_or(ServiceError::NotFound("no such review"))
    }

    /// A review as `viewer` may see it: published ones to all; others to their author and admins.
    pub async fn review(&self, viewer: Option<&Principal>, id: ReviewId) -> Result<Option<Review>, ServiceError> {
        let viewer = viewer.map(|p| (p.user_id, p.role));
        Ok(self.store.review(id).await?.filter(|r| r.visible_to(viewer)))
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: ReviewId,
        rating: Option<i64>,
        comment: Option<Option<&str>>,
    ) -> Result<Review, ServiceError> {
        let rating = rating.map(Stars::new).transpose()?;
        let comment = comment.map(domain::comment).transpose()?;
        let mut review = self.existing(id).await?;
        review.edit(principal.user_id, rating, comment, now())?;
        self.store.save(&review, &[events::edited(&review)]).await?;
        Ok(review)
    }

    pub async fn delete(&self, principal: &Principal, id: ReviewId) -> Result<Review, ServiceError> {
        let mut review = self.existing(id).await?;
        review.delete(principal.user_id, now())?;
        self.store.save(&review, &[events::deleted(&review)]).await?;
        Ok(review)
    }

    pub async fn flag(&self, principal: &Principal, id: ReviewId, reason: &str) -> Result<Review, ServiceError> {
        let reason = domain::reason(reason)?;
        let (flagger, threshold, at) = (principal.user_id, self.flag_threshold, now());
        let decide = |review: &mut Review, open: i64| {
            let mut out = vec![events::flagged(review, flagger, &reason, open)];
            if review.after_flag(open, threshold, at) {
                out.push(events::hidden(review));
            }
            out
        };
        Ok(self.store.flag(id, flagger, &reason, at, &decide).await?)
    }

    fn require_admin(principal: &Principal) -> Result<(), ServiceError> {
        if principal.role == Role::Admin {
            Ok(())
        } else {
            Err(ServiceError::Forbidden("only an admin can moderate reviews"))
        }
    }

    pub async fn hide(&self, principal: &Principal, id: ReviewId) -> Result<Review, ServiceError> {
        Self::require_admin(principal)?;
        let mut review = self.existing(id).await?;
        review.hide(now())?;
        self.store.save(&review, &[events::hidden(&review)]).await?;
        Ok(review)
    }

    pub async fn restore(&self, principal: &Principal, id: ReviewId) -> Result<Review, ServiceError> {
        Self::require_admin(principal)?;
        let mut review = self.existing(id).await?;
        review.restore(now())?;
        self.store.save(&review, &[events::restored(&review)]).await?;
        Ok(review)
    }

    /// A tutor's published reviews, newest first.
    pub async fn tutor_reviews(&self, tutor: TutorId, first: usize, after: Option<&str>) -> Result<Page, ServiceError> {
        if first == 0 || first > MAX_PAGE {
            return Err(ServiceError::BadInput(format!("`first` must be between 1 and {MAX_PAGE}")));
        }
        let after = after
            .map(|c| c.parse::<Uuid>().map_err(|_| ServiceError::BadInput("`after` is not a review cursor".into())))
            .transpose()?;
        let mut reviews = self.store.tutor_reviews(tutor, after, first as i64 + 1).await?;
        let has_next_page = reviews.len() > first;
        reviews.truncate(first);
        Ok(Page { reviews, has_next_page })
    }

    pub async fn reviews_of_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Review>, StoreError> {
        self.store.reviews_of_bookings(bookings).await
    }

    pub async fn reviews(&self, ids: &[ReviewId]) -> Result<Vec<Review>, StoreError> {
        self.store.reviews(ids).await
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
