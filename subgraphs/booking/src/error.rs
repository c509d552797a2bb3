//! The booking context's errors and their one mapping to GraphQL codes. Beside the stable
//! `code`, refusals the domain decides carry `extensions.reason` (`TUTOR_BUSY`,
//! `OUTSIDE_AVAILABILITY`, `INVALID_TRANSITION`, …) so clients can react without parsing text.

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
    #[error("the booking changed meanwhile; retry")]
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
            StoreError::StaleVersion => Self::Conflict,
            StoreError::Domain(e) => Self::Invalid(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ServiceError {
    /// The domain's reason, for `extensions.reason`.
    pub fn reason(&self) -> Option<&'static str> {
        let Self::Invalid(e) = self else { return None };
        Some(match e {
            DomainError::InvalidDuration => "INVALID_DURATION",
            DomainError::UnalignedStart => "UNALIGNED_START",
            DomainError::InThePast => "IN_THE_PAST",
            DomainError::InvalidText { .. } => "INVALID_TEXT",
            DomainError::OutsideAvailability => "OUTSIDE_AVAILABILITY",
            DomainError::TimeOff => "TUTOR_TIME_OFF",
            DomainError::UnknownPricingOption(_) => "UNKNOWN_PRICING_OPTION",
            DomainError::OwnBooking => "OWN_BOOKING",
            DomainError::TutorBusy => "TUTOR_BUSY",
            DomainError::StudentBusy => "STUDENT_BUSY",
            DomainError::NotParticipant(_) => "NOT_PARTICIPANT",
            DomainError::Transition { .. } => "INVALID_TRANSITION",
            DomainError::NotEnded => "SESSION_NOT_ENDED",
            DomainError::Overflow => "AMOUNT_OVERFLOW",
        })
    }
}

impl CodedError for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(DomainError::NotParticipant(_)) | Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Invalid(
                DomainError::TutorBusy
                | DomainError::StudentBusy
                | DomainError::Transition { .. }
                | DomainError::NotEnded,
            )
            | Self::Conflict => ErrorCode::Conflict,
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
