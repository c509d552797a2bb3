//! Logs (human on a terminal, JSON with `LOG_FORMAT=json`), traces (OTLP over HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and the Prometheus recorder; the trace context carried
//! into requests and events.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kernel::EventEnvelope;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::CommonConfig;

pub use telemetry::TelemetryGuard;

/// Installs the global subscriber (and span export) once; later calls (several services in
/// one process) are no-ops. Keep the guard until the process ends: dropping it flushes spans.
pub fn init_tracing(common: &CommonConfig) -> TelemetryGuard {
    telemetry::init(&common.telemetry)
}

/// The span of one `/graphql` request, continuing the caller's trace (the router's subgraph
/// fetch) when the request carries `traceparent`, a new trace otherwise.
pub fn request_span(method: &axum::http::Method, headers: &axum::http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "graphql_request",
        otel.name = %format_args!("{method} /graphql"),
        otel.kind = "server",
        http.request.method = %method,
    );
    telemetry::continue_trace(&span, headers);
    span
}

/// `event` carrying the current span's trace context, unless it already has one (an event
/// stamped where it was caused keeps that origin).
pub fn stamp_trace_context(event: &EventEnvelope) -> std::borrow::Cow<'_, EventEnvelope> {
    if !event.trace_context.is_empty() {
        return std::borrow::Cow::Borrowed(event);
    }
    let trace_context = telemetry::propagation::current_entries();
    if trace_context.is_empty() {
        return std::borrow::Cow::Borrowed(event);
    }
    std::borrow::Cow::Owned(EventEnvelope { trace_context, ..event.clone() })
}

/// The span a consumer handles `event` in: a child of the span that caused the event (its
/// trace context from the message headers, else from the envelope), a new trace without one.
pub(crate) fn consumer_span(
    queue: &str,
    event: &EventEnvelope,
    headers: Option<&BTreeMap<String, String>>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "event_consume",
        otel.name = %format_args!("{} process", event.event_type),
        otel.kind = "consumer",
        messaging.destination.name = %queue,
        messaging.message.id = %event.id,
        event_type = %event.event_type,
    );
    let carried = headers.filter(|h| h.contains_key("traceparent")).unwrap_or(&event.trace_context);
    telemetry::propagation::continue_from(&span, telemetry::propagation::extract_entries(carried));
    span
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); then this handle renders nothing
            // from it, which only affects that test process.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::debug!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// Keeps label values bounded: operation names are client-chosen, so only short identifiers
/// are kept, and past a cap every new name is counted as `other`.
pub fn bounded_operation_label(name: Option<&str>) -> String {
    use std::collections::HashSet;
    use std::sync::Mutex;
    const MAX_NAMES: usize = 500;
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

    let Some(name) = name.filter(|n| !n.is_empty()) else { return "anonymous".into() };
    let well_formed = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return "other".into();
    }
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if seen.contains(name) || seen.len() < MAX_NAMES {
        seen.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(bounded_operation_label(None), "anonymous");
        assert_eq!(bounded_operation_label(Some("Me")), "Me");
        assert_eq!(bounded_operation_label(Some("x\ny")), "other");
        assert_eq!(bounded_operation_label(Some(&"a".repeat(65))), "other");
    }
}
