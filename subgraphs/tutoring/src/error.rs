//! The tutoring context's errors and their one mapping to GraphQL codes.

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
    #[error("this user already has a tutor profile")]
    ProfileExists,
    #[error("the tutor profile changed meanwhile; retry")]
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
            StoreError::ProfileExists => Self::ProfileExists,
            StoreError::StaleVersion => Self::Conflict,
            StoreError::Domain(e) => Self::Invalid(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl CodedError for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) | Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::ProfileExists | Self::Conflict => ErrorCode::Conflict,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}
