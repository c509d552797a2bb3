//! Tracing set-up shared by the router and the subgraphs.
//!
//! [`init`] installs one subscriber: an env filter (`RUST_LOG`), logs (human, or JSON with
//! `LOG_FORMAT=json`) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, an OpenTelemetry layer
//! exporting spans over OTLP/HTTP in batches. [`propagation`] carries the W3C trace context
//! (`traceparent`, `tracestate`) across HTTP requests and messages.

mod export;
pub mod propagation;
mod settings;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use propagation::{continue_trace, current_trace_id, extract, inject};
pub use settings::{LogFormat, Settings, SettingsError};

/// Keeps the span exporter alive; dropping it exports what is still buffered and shuts the
/// exporter down (give it a name: `let _telemetry = init(..)`, not `let _ = ..`).
#[must_use = "dropping the guard stops span export"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    // Dropped after the provider has flushed through it.
    _runtime: Option<export::ExportRuntime>,
}

impl TelemetryGuard {
    /// Whether spans are exported (an endpoint was configured and the subscriber installed).
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("telemetry: exporting the last spans failed: {error}");
        }
    }
}

/// Installs the global subscriber and the W3C propagator. Only the first call in a process
/// installs anything (several services may share one process); later calls, or a subscriber
/// already set by a test harness, give an inert guard.
pub fn init(settings: &Settings) -> TelemetryGuard {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return TelemetryGuard::default();
    }
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());

    let (provider, runtime, export_error) = match &settings.otlp_endpoint {
        Some(endpoint) => match export::otlp_provider(endpoint, settings) {
            Ok((provider, runtime)) => (Some(provider), Some(runtime), None),
            Err(error) => (None, None, Some(error)),
        },
        None => (None, None, None),
    };
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("edustream"))
            .with_error_records_to_exceptions(true)
            .with_tracked_inactivity(false)
    });
    let installed =
        tracing_subscriber::registry().with(filter(settings)).with(otel).with(log_layer(settings)).try_init();

    if installed.is_err() {
        // Someone else's subscriber receives the logs; nothing of ours would see a span.
        return TelemetryGuard::default();
    }
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    match (&export_error, &settings.otlp_endpoint) {
        (Some(error), _) => tracing::error!(%error, "span export is off: the OTLP exporter could not be built"),
        (None, Some(endpoint)) => {
            tracing::info!(%endpoint, service = %settings.service_name, ratio = settings.sample_ratio, "exporting spans over OTLP/HTTP")
        }
        (None, None) => {}
    }
    TelemetryGuard { provider, _runtime: runtime }
}

fn filter(settings: &Settings) -> EnvFilter {
    settings
        .filter
        .as_deref()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.default_filter))
}

type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

fn log_layer<S>(settings: &Settings) -> BoxedLayer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false).boxed(),
        LogFormat::Human => tracing_subscriber::fmt::layer().boxed(),
    }
}

/// The sampler for a ratio: root spans are kept with probability `ratio`; a span with a parent
/// follows its parent's decision, so a trace is never cut in the middle.
pub fn sampler(ratio: f64) -> Sampler {
    Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
}

fn resource(service_name: &str) -> Resource {
    Resource::builder_empty().with_service_name(service_name.to_owned()).build()
}
