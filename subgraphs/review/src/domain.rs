//! The review domain: who may review which booking, the review's life (published, edited,
//! flagged, hidden, restored, deleted) and its rules. Pure: no database, HTTP or GraphQL here.

use chrono::{DateTime, Duration, Utc};
pub use kernel::{BookingId, ReviewId, Role, TutorId, UserId};

/// A rule of the domain was broken; the message is fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("a rating is a whole number from 1 to 5")]
    InvalidRating,
    #[error("the comment must be at most {MAX_COMMENT_CHARS} characters")]
    CommentTooLong,
    #[error("a flag needs a reason of 1 to {MAX_REASON_CHARS} characters")]
    InvalidReason,
    /// The booking is unknown, not completed yet, or not the author's: one answer for all three,
    /// so that no one learns anything about a booking that is not theirs.
    #[error("no completed booking of yours has this id; a booking can be reviewed once its session is completed")]
    NoCompletedBooking,
    #[error("only the author can change or delete a review")]
    NotTheAuthor,
    #[error("a review can be edited for {EDIT_WINDOW_DAYS} days after it was posted")]
    EditWindowClosed,
    #[error("you cannot flag your own review")]
    OwnReview,
    #[error("this review was deleted")]
    Deleted,
    #[error("a hidden review cannot be edited")]
    HiddenByModeration,
    #[error("the review is {0}, not {1}")]
    WrongStatus(&'static str, &'static str),
}

pub const MAX_COMMENT_CHARS: usize = 2_000;
pub const MAX_REASON_CHARS: usize = 500;
pub const EDIT_WINDOW_DAYS: i64 = 14;

/// A review's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Visible to everyone; counts in the tutor's rating.
    Published,
    /// Enough users flagged it: hidden pending moderation.
    Flagged,
    /// Hidden by an admin.
    Hidden,
    /// Deleted by its author (kept as a tombstone: one review per booking).
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "PUBLISHED",
            Self::Flagged => "FLAGGED",
            Self::Hidden => "HIDDEN",
            Self::Deleted => "DELETED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Published, Self::Flagged, Self::Hidden, Self::Deleted].into_iter().find(|s| s.as_str() == raw)
    }
}

/// A rating of 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stars(u8);

impl Stars {
    pub fn new(value: i64) -> Result<Self, DomainError> {
        u8::try_from(value).ok().filter(|v| (1..=5).contains(v)).map(Self).ok_or(DomainError::InvalidRating)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A comment, trimmed; empty means none.
pub fn comment(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(DomainError::CommentTooLong);
    }
    Ok(Some(text.to_owned()))
}

pub fn reason(raw: &str) -> Result<String, DomainError> {
    let text = raw.trim();
    let n = text.chars().count();
    if n == 0 || n > MAX_REASON_CHARS { Err(DomainError::InvalidReason) } else { Ok(text.to_owned()) }
}

/// A completed booking, as booking's events told review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedBooking {
    pub booking_id: BookingId,
    pub tutor_id: TutorId,
    pub student_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: ReviewId,
    pub booking_id: BookingId,
    pub tutor_id: TutorId,
    pub student_id: UserId,
    pub rating: Stars,
    pub comment: Option<String>,
    pub status: Status,
    /// 1 when posted, +1 with every change: what projections order events by.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    /// Flags before this instant were settled by an admin's restore.
    pub moderated_at: Option<DateTime<Utc>>,
}

impl Review {
    /// A student reviews their completed booking (`booking` is `None` when review has not
    /// learned of its completion).
    pub fn post(
        author: UserId,
        booking: Option<&CompletedBooking>,
        rating: Stars,
        comment: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let booking = booking.filter(|b| b.student_id == author).ok_or(DomainError::NoCompletedBooking)?;
        Ok(Self {
            id: ReviewId::new(),
            booking_id: booking.booking_id,
            tutor_id: booking.tutor_id,
            student_id: author,
            rating,
            comment,
            status: Status::Published,
            revision: 1,
            created_at: now,
            updated_at: now,
            edited_at: None,
            moderated_at: None,
        })
    }

    pub fn is_published(&self) -> bool {
        self.status == Status::Published
    }

    /// Who may read it: everyone when published; otherwise its author and admins.
    pub fn visible_to(&self, viewer: Option<(UserId, Role)>) -> bool {
        match viewer {
            _ if self.status == Status::Deleted => false,
            _ if self.is_published() => true,
            Some((_, Role::Admin)) => true,
            Some((user, _)) => user == self.student_id,
            None => false,
        }
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.revision += 1;
        self.updated_at = now;
    }

    /// The author changes the rating and/or comment within the edit window.
    pub fn edit(
        &mut self,
        author: UserId,
        rating: Option<Stars>,
        comment: Option<Option<String>>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if author != self.student_id {
            return Err(DomainError::NotTheAuthor);
        }
        match self.status {
            Status::Deleted => return Err(DomainError::Deleted),
            Status::Hidden => return Err(DomainError::HiddenByModeration),
            Status::Published | Status::Flagged => {}
        }
        if now - self.created_at > Duration::days(EDIT_WINDOW_DAYS) {
            return Err(DomainError::EditWindowClosed);
        }
        if let Some(rating) = rating {
            self.rating = rating;
        }
        if let Some(comment) = comment {
            self.comment = comment;
        }
        self.edited_at = Some(now);
        self.touch(now);
        Ok(())
    }

    pub fn delete(&mut self, author: UserId, now: DateTime<Utc>) -> Result<(), DomainError> {
        if author != self.student_id {
            return Err(DomainError::NotTheAuthor);
        }
        if self.status == Status::Deleted {
            return Err(DomainError::Deleted);
        }
        self.status = Status::Deleted;
        self.touch(now);
        Ok(())
    }

    /// Whether `flagger` may flag it.
    pub fn check_flag(&self, flagger: UserId) -> Result<(), DomainError> {
        if self.status == Status::Deleted {
            return Err(DomainError::Deleted);
        }
        if flagger == self.student_id {
            return Err(DomainError::OwnReview);
        }
        Ok(())
    }

    /// After a flag: with `open_flags` unsettled flags at or above `threshold`, a published
    /// review is hidden pending moderation. Returns whether the status changed.
    pub fn after_flag(&mut self, open_flags: i64, threshold: i64, now: DateTime<Utc>) -> bool {
        if self.status == Status::Published && open_flags >= threshold {
            self.status = Status::Flagged;
            self.touch(now);
            return true;
        }
        false
    }

    /// An admin hides it (published or flagged).
    pub fn hide(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        match self.status {
            Status::Published | Status::Flagged => {
                self.status = Status::Hidden;
                self.moderated_at = Some(now);
                self.touch(now);
                Ok(())
            }
            other => Err(DomainError::WrongStatus(other.as_str(), "PUBLISHED or FLAGGED")),
        }
    }

    /// An admin restores it (hidden or flagged); the flags so far are settled.
    pub fn restore(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        match self.status {
            Status::Hidden | Status::Flagged => {
                self.status = Status::Published;
                self.moderated_at = Some(now);
                self.touch(now);
                Ok(())
            }
            other => Err(DomainError::WrongStatus(other.as_str(), "HIDDEN or FLAGGED")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(student: UserId) -> CompletedBooking {
        CompletedBooking { booking_id: BookingId::new(), tutor_id: TutorId::new(), student_id: student }
    }

    fn stars(n: i64) -> Stars {
        Stars::new(n).expect("valid")
    }

    #[test]
    fn only_the_student_of_a_completed_booking_reviews_it() {
        let (student, other) = (UserId::new(), UserId::new());
        let now = Utc::now();
        assert_eq!(Review::post(student, None, stars(5), None, now), Err(DomainError::NoCompletedBooking));
        let theirs = Review::post(other, Some(&booking(student)), stars(5), None, now);
        assert_eq!(theirs, Err(DomainError::NoCompletedBooking), "an outsider learns nothing more");
        let review = Review::post(student, Some(&booking(student)), stars(4), None, now).expect("allowed");
        assert_eq!((review.status, review.revision), (Status::Published, 1));
    }

    #[test]
    fn ratings_and_text_are_checked() {
        assert_eq!(Stars::new(0), Err(DomainError::InvalidRating));
        assert_eq!(Stars::new(6), Err(DomainError::InvalidRating));
        assert_eq!(comment(Some("   ")), Ok(None));
        assert_eq!(comment(Some(&"x".repeat(2001))), Err(DomainError::CommentTooLong));
        assert_eq!(reason(" "), Err(DomainError::InvalidReason));
    }

    #[test]
    fn the_author_edits_within_fourteen_days() {
        let student = UserId::new();
        let posted = Utc::now() - Duration::days(10);
        let mut review = Review::post(student, Some(&booking(student)), stars(2), None, posted).expect("posted");
        assert_eq!(review.edit(UserId::new(), Some(stars(5)), None, Utc::now()), Err(DomainError::NotTheAuthor));
        review.edit(student, Some(stars(5)), Some(Some("better".into())), Utc::now()).expect("in time");
        assert_eq!((review.rating, review.revision), (stars(5), 2));
        let late = posted + Duration::days(15);
        assert_eq!(review.edit(student, Some(stars(1)), None, late), Err(DomainError::EditWindowClosed));
    }

    #[test]
    fn flags_hide_moderation_restores_and_deletion_is_final() {
        let student = UserId::new();
        let now = Utc::now();
        let mut review = Review::post(student, Some(&booking(student)), stars(1), None, now).expect("posted");
        assert_eq!(review.check_flag(student), Err(DomainError::OwnReview));
        assert!(!review.after_flag(2, 3, now));
        assert!(review.after_flag(3, 3, now));
        assert_eq!(review.status, Status::Flagged);
        assert!(!review.visible_to(None));
        assert!(review.visible_to(Some((student, Role::Student))));
        review.restore(now).expect("restorable");
        assert!(review.is_published() && review.moderated_at.is_some());
        review.hide(now).expect("hideable");
        assert!(matches!(review.hide(now), Err(DomainError::WrongStatus(..))));
        assert_eq!(review.edit(student, Some(stars(5)), None, now), Err(DomainError::HiddenByModeration));
        review.delete(student, now).expect("the author deletes");
        assert_eq!(review.delete(student, now), Err(DomainError::Deleted));
        assert!(!review.visible_to(Some((UserId::new(), Role::Admin))));
    }
}
