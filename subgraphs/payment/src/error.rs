//! The payment context's errors and their one mapping to GraphQL codes.

use async_graphql::ErrorExtensions as _;
use kernel::ErrorCode;
use platform::graphql::CodedError;
pub use platform::graphql::IntoGraphql;

use crate::domain::DomainError;
use crate::provider::ProviderError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// No payment of this booking is open for the caller: the booking does not exist, is not
    /// theirs, or was requested a moment ago and is still being opened (`retryAfter`: 1 s).
    #[error("no payment of this booking is open for you; if you have just booked, retry in a second")]
    NotOpen,
    #[error("the payment provider is unavailable; retry shortly")]
    ProviderUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(e) => Self::Invalid(e),
            StoreError::NotFound(what) => Self::NotFound(what.into()),
            StoreError::NothingToPay => Self::Conflict(error.to_string()),
            StoreError::SeveralCurrencies(_) => Self::BadInput(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ProviderError> for ServiceError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::InvalidRequest(message) => Self::BadInput(message),
            ProviderError::IdempotencyConflict(_) => {
                Self::Conflict("this payment is already being paid with another payment method".into())
            }
            ProviderError::NotFound(what) => Self::Internal(format!("the provider has no {what}")),
            ProviderError::Unavailable(why) => Self::ProviderUnavailable(why),
        }
    }
}

impl CodedError for ServiceError {
    fn extend(&self, error: async_graphql::Error) -> async_graphql::Error {
        match self {
            Self::NotOpen => error.extend_with(|_, extensions| extensions.set("retryAfter", 1)),
            _ => error,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(DomainError::NotThePayer) | Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Invalid(
                DomainError::Cancelled
                | DomainError::Failed(_)
                | DomainError::OtherMethod
                | DomainError::WrongStatus(..),
            )
            | Self::Conflict(_) => ErrorCode::Conflict,
            Self::Invalid(_) | Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) | Self::NotOpen => ErrorCode::NotFound,
            Self::ProviderUnavailable(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }
}
