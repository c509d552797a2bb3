//! GraphQL plumbing shared by the subgraphs: errors with stable codes and request metrics.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{ErrorExtensions, Response};
use kernel::ErrorCode;

use crate::telemetry::bounded_operation_label;

/// A GraphQL error whose `extensions.code` is the stable code.
pub fn error_with_code(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}

/// An id argument parsed as `T`, or a `BAD_USER_INPUT` error naming `what` it should have been.
pub fn parse_id<T: std::str::FromStr>(id: &async_graphql::ID, what: &str) -> async_graphql::Result<T> {
    id.parse().map_err(|_| error_with_code(ErrorCode::BadUserInput, format!("`{}` is not a {what} id", id.as_str())))
}

/// An unexpected failure: logged with its cause, shown to the client only as "internal error".
pub fn internal_error(cause: &dyn std::fmt::Display) -> async_graphql::Error {
    tracing::error!(error = %cause, "internal error");
    error_with_code(ErrorCode::Internal, "internal error")
}

/// A use case's error with its stable code. Internal failures are logged and shown to clients
/// only as "internal error"; the others carry their message.
pub trait CodedError: std::fmt::Display + Sized {
    fn code(&self) -> ErrorCode;

    /// Adds extensions beyond the code (e.g. `retryAfter`).
    fn extend(&self, error: async_graphql::Error) -> async_graphql::Error {
        error
    }

    fn into_graphql(self) -> async_graphql::Error {
        match self.code() {
            ErrorCode::Internal => internal_error(&self),
            code => self.extend(error_with_code(code, self.to_string())),
        }
    }
}

/// Turns a use case's result into a GraphQL result that keeps the error's code.
/// (`async_graphql::Error` converts any `Display` type on its own, which would drop the code.)
pub trait IntoGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: CodedError> IntoGraphql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(CodedError::into_graphql)
    }
}

/// Counts requests and records their latency by (bounded) operation name.
pub struct RequestMetrics {
    service: Arc<str>,
}

impl RequestMetrics {
    pub fn new(service: &str) -> Self {
        Self { service: service.into() }
    }
}

impl ExtensionFactory for RequestMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestMetricsExtension { service: self.service.clone() })
    }
}

struct RequestMetricsExtension {
    service: Arc<str>,
}

#[async_trait::async_trait]
impl Extension for RequestMetricsExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let operation = bounded_operation_label(operation_name);
        let outcome = if response.errors.is_empty() { "ok" } else { "error" };
        let service = self.service.to_string();
        metrics::counter!("graphql_requests_total", "service" => service.clone(), "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("graphql_request_duration_seconds", "service" => service, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        response
    }
}
