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

/// An unexpected failure: logged with its cause, shown to the client only as "internal error".
pub fn internal_error(cause: &dyn std::fmt::Display) -> async_graphql::Error {
    tracing::error!(error = %cause, "internal error");
    error_with_code(ErrorCode::Internal, "internal error")
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
