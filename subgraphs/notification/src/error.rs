//! The notification context's errors and their one mapping to GraphQL codes. Domain refusals
//! carry `extensions.reason` (`INVALID_PHONE_NUMBER`, `NOT_IN_APP`, …) beside the stable `code`.

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
            StoreError::NotFound => Self::NotFound("no such notification"),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ServiceError {
    /// The domain's reason, for `extensions.reason`.
    pub fn reason(&self) -> Option<&'static str> {
        let Self::Invalid(e) = self else { return None };
        Some(match e {
            DomainError::InvalidPhoneNumber(_) => "INVALID_PHONE_NUMBER",
            DomainError::InvalidDeviceToken => "INVALID_DEVICE_TOKEN",
            DomainError::DuplicatePreference(..) => "DUPLICATE_PREFERENCE",
            DomainError::PreferenceCount(_) => "PREFERENCE_COUNT",
            DomainError::NotInApp(_) => "NOT_IN_APP",
            DomainError::NotTheRecipient => "NOT_THE_RECIPIENT",
        })
    }
}

impl CodedError for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(DomainError::NotTheRecipient) | Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Invalid(_) | Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn extend(&self, error: async_graphql::Error) -> async_graphql::Error {
        use async_graphql::ErrorExtensions as _;
        match self.reason() {
            Some(reason) => error.extend_with(|_, ext| ext.set("reason", reason)),
            None => error,
        }
    }
}
