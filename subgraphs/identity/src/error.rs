//! The identity context's errors and their one mapping to GraphQL codes.

use std::time::Duration;

use async_graphql::ErrorExtensions;
use kernel::ErrorCode;
use platform::graphql::CodedError;
pub use platform::graphql::IntoGraphql;

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    #[error("the current password is incorrect")]
    WrongCurrentPassword,
    #[error("{0}")]
    InvalidRefreshToken(&'static str),
    #[error("sign in first")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("no such user")]
    NotFound,
    #[error("too many failed sign-in attempts; try again in {} seconds", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => Self::EmailTaken,
            StoreError::UserNotFound => Self::NotFound,
            StoreError::Domain(e) => Self::Invalid(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::password::HashError> for ServiceError {
    fn from(error: crate::password::HashError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl CodedError for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(DomainError::LastAdmin) | Self::EmailTaken => ErrorCode::Conflict,
            Self::Invalid(_) | Self::WrongCurrentPassword => ErrorCode::BadUserInput,
            Self::InvalidCredentials | Self::InvalidRefreshToken(_) | Self::Unauthenticated => {
                ErrorCode::Unauthenticated
            }
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Sign-in throttling tells clients when to try again.
    fn extend(&self, error: async_graphql::Error) -> async_graphql::Error {
        match self {
            Self::RateLimited { retry_after } => {
                let seconds = retry_after.as_secs().max(1);
                error.extend_with(|_, ext| ext.set("retryAfter", seconds))
            }
            _ => error,
        }
    }
}
