//! For tests: a subscriber whose spans end up in memory, to check trace ids and parentage.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::Layered;
use tracing_subscriber::layer::SubscriberExt as _;

/// A registry with an OpenTelemetry layer; more layers (a log writer) can go on top.
pub type TestSubscriber = Layered<OpenTelemetryLayer<Registry, SdkTracer>, Registry>;

/// Spans recorded by [`subscriber`]; each is exported as soon as it closes.
#[derive(Debug, Clone)]
pub struct RecordedSpans {
    exporter: InMemorySpanExporter,
    // Kept so the provider is not shut down while the subscriber lives.
    _provider: SdkTracerProvider,
}

impl RecordedSpans {
    /// The closed spans so far, in the order they closed.
    pub fn finished(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().expect("the in-memory exporter is not shut down")
    }

    /// The closed span named `name` (panics when there is none).
    pub fn named(&self, name: &str) -> SpanData {
        let spans = self.finished();
        let names: Vec<String> = spans.iter().map(|s| s.name.to_string()).collect();
        spans.into_iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name:?} among {names:?}"))
    }
}

/// A subscriber recording every span (all levels) through an OpenTelemetry layer; install it
/// with `tracing::subscriber::set_default` for the test's thread.
pub fn subscriber() -> (TestSubscriber, RecordedSpans) {
    let exporter = InMemorySpanExporter::default();
    // Simple processor: a span is exported synchronously when it closes, so tests need no waits.
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let subscriber = tracing_subscriber::registry().with(layer);
    (subscriber, RecordedSpans { exporter, _provider: provider })
}
