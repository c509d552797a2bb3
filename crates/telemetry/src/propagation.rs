//! W3C trace context (`traceparent`, `tracestate`) across process boundaries: HTTP headers
//! and message headers. The format is fixed (not the global propagator) so propagation works
//! the same whether or not [`init`](crate::init) ran in this process.

use std::collections::BTreeMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The context of the current `tracing` span (empty when no OpenTelemetry layer records it).
pub fn current_context() -> Context {
    tracing::Span::current().context()
}

/// Writes the current span's context into request headers (`traceparent`, `tracestate`).
pub fn inject(headers: &mut http::HeaderMap) {
    inject_context(&current_context(), headers);
}

/// Writes `cx` into request headers.
pub fn inject_context(cx: &Context, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
}

/// The remote context an incoming request carries; empty (a new trace) without `traceparent`
/// or with a malformed one.
pub fn extract(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Makes `span` continue the trace the request headers carry (a no-op without `traceparent`:
/// the span stays a root). Call it before the span is entered.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    continue_from(span, extract(headers));
}

/// Makes `span` a child of `parent` when `parent` holds a valid remote span.
pub fn continue_from(span: &tracing::Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer records the span: nothing to continue then.
        let _ = span.set_parent(parent);
    }
}

/// The current span's context as text entries (`traceparent`, `tracestate`), to store with a
/// message; empty when no trace is being recorded.
pub fn current_entries() -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    TraceContextPropagator::new().inject_context(&current_context(), &mut EntriesMut(&mut entries));
    entries
}

/// The context stored as text entries by [`current_entries`].
pub fn extract_entries(entries: &BTreeMap<String, String>) -> Context {
    TraceContextPropagator::new().extract(&Entries(entries))
}

struct EntriesMut<'a>(&'a mut BTreeMap<String, String>);

impl Injector for EntriesMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct Entries<'a>(&'a BTreeMap<String, String>);

impl Extractor for Entries<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The current trace id in hex (32 digits), if a trace is being recorded.
pub fn current_trace_id() -> Option<String> {
    let cx = current_context();
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}
