//! The tutoring context's errors and their one mapping to GraphQL codes.

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

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) | Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::ProfileExists | Self::Conflict => ErrorCode::Conflict,
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
