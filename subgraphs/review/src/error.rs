//! The review context's errors and their one mapping to GraphQL codes.

use kernel::ErrorCode;
use platform::graphql::{error_with_code, internal_error};

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

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(DomainError::NotTheStudent | DomainError::NotTheAuthor | DomainError::OwnReview) => {
                ErrorCode::Forbidden
            }
            Self::Invalid(DomainError::NotCompleted | DomainError::WrongStatus(..) | DomainError::Deleted) => {
                ErrorCode::Conflict
            }
            Self::Invalid(_) | Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::AlreadyReviewed | Self::AlreadyFlagged | Self::Conflict => ErrorCode::Conflict,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn into_graphql(self) -> async_graphql::Error {
        match &self {
            Self::Internal(cause) => internal_error(cause),
            _ => error_with_code(self.code(), self.to_string()),
        }
    }
}

/// Turns a use case's error into a GraphQL error with its stable code.
pub trait IntoGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> IntoGraphql<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(ServiceError::into_graphql)
    }
}
