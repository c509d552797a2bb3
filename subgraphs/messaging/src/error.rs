//! The messaging context's errors and their one mapping to GraphQL codes. Beside the stable
//! `code`, refusals the domain decides carry `extensions.reason` (`EDIT_WINDOW_PASSED`,
//! `NOT_SENDER`, …); a refused send carries `extensions.retryAfter` (seconds). Whatever a
//! non-participant asks about a conversation or message gets the same `NOT_FOUND` as something
//! that does not exist.

use std::time::Duration;

use async_graphql::ErrorExtensions as _;
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
    #[error("too many messages; try again in {}s", whole_seconds(*retry_after))]
    RateLimited { retry_after: Duration },
    #[error("internal error: {0}")]
    Internal(String),
}

/// A wait in whole seconds, rounded up (at least 1).
fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(e) => Self::Invalid(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ServiceError {
    /// The domain's reason, for `extensions.reason` (never for "not found": it would tell).
    pub fn reason(&self) -> Option<&'static str> {
        let Self::Invalid(e) = self else { return None };
        Some(match e {
            DomainError::EmptyContent => "EMPTY_CONTENT",
            DomainError::ContentTooLong => "CONTENT_TOO_LONG",
            DomainError::WithYourself => "CANNOT_MESSAGE_YOURSELF",
            DomainError::UnknownUser => "UNKNOWN_USER",
            DomainError::NotAStudentTutorPair => "NOT_A_STUDENT_TUTOR_PAIR",
            DomainError::NotSender => "NOT_SENDER",
            DomainError::EditWindowPassed => "EDIT_WINDOW_PASSED",
            DomainError::MessageDeleted => "MESSAGE_DELETED",
            DomainError::NotAParticipant => return None,
        })
    }
}

impl CodedError for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(DomainError::EmptyContent | DomainError::ContentTooLong | DomainError::WithYourself)
            | Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::Invalid(DomainError::UnknownUser | DomainError::NotAParticipant) | Self::NotFound(_) => {
                ErrorCode::NotFound
            }
            Self::Invalid(
                DomainError::NotAStudentTutorPair | DomainError::NotSender | DomainError::EditWindowPassed,
            )
            | Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Invalid(DomainError::MessageDeleted) => ErrorCode::Conflict,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn extend(&self, error: async_graphql::Error) -> async_graphql::Error {
        let error = match self.reason() {
            Some(reason) => error.extend_with(|_, ext| ext.set("reason", reason)),
            None => error,
        };
        match self {
            Self::RateLimited { retry_after } => {
                let seconds = whole_seconds(*retry_after);
                error.extend_with(|_, ext| ext.set("retryAfter", seconds))
            }
            _ => error,
        }
    }
}
