//! The review context's errors and their one mapping to GraphQL codes.

use kernel::ErrorCode;
use platform::graphql::CodedError;
pub use platform::graphql::IntoGraphql;

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("{0}")]
    BadInput(String),
    #[error("this booking already has a review")]
    AlreadyReviewed,
    #[error("you already flagged this review")]
    AlreadyFlagged,
    #[error("the review changed meanwhile; retry")]
    Conflict,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AlreadyReviewed => Self::AlreadyReviewed,
            StoreError::AlreadyFlagged => Self::AlreadyFlagged,
            StoreError::StaleRevision => Self::Conflict,
            StoreError::NotFound => Self::NotFound("no such review"),
            StoreError::Domain(e) => Self::Invalid(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl CodedError for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(DomainError::NotTheAuthor | DomainError::OwnReview) => ErrorCode::Forbidden,
            Self::Invalid(DomainError::NoCompletedBooking) => ErrorCode::NotFound,
            Self::Invalid(DomainError::WrongStatus(..) | DomainError::Deleted) => ErrorCode::Conflict,
            Self::Invalid(_) | Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::AlreadyReviewed | Self::AlreadyFlagged | Self::Conflict => ErrorCode::Conflict,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}
