//! The router's traces, metrics and access log.
//!
//! - [`init`]: logs and OTLP span export (see the shared `telemetry` crate); keep the guard.
//! - [`inject`] / [`extract`]: the W3C trace context on subgraph requests and from clients.
//! - [`Metrics`]: Prometheus counters and histograms, with bounded label values.
//! - [`access_log`]: one structured event per request (target `router::access`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

pub use telemetry::{LogFormat, Settings, TelemetryGuard, continue_trace, current_trace_id};

/// Installs the subscriber (env filter from `RUST_LOG`, logs, JSON with `LOG_FORMAT=json`) and,
/// with `OTEL_EXPORTER_OTLP_ENDPOINT`, span export; `OTEL_SERVICE_NAME` overrides the name and
/// `OTEL_TRACES_SAMPLER_ARG` sets the share of new traces kept. An invalid `LOG_FORMAT` falls
/// back to human logs with a warning.
pub fn init(service_name: &str) -> TelemetryGuard {
    let env = |name: &str| std::env::var(name).ok();
    let settings = match Settings::from_env(service_name, env) {
        Ok(settings) => settings,
        Err(error) => {
            let without_format = |name: &str| if name == "LOG_FORMAT" { None } else { env(name) };
            let mut settings = Settings::from_env(service_name, without_format).expect("only LOG_FORMAT is refused");
            settings.warnings.push(format!("{error}; logging for humans"));
            settings
        }
    };
    telemetry::init(&settings)
}

/// Adds the current span's trace context (`traceparent`, `tracestate`) to a subgraph request.
pub fn inject(headers: &mut reqwest::header::HeaderMap) {
    telemetry::inject(headers);
}

/// The trace context a client sent; continue it with [`continue_trace`] (or
/// `tracing_opentelemetry::OpenTelemetrySpanExt::set_parent`). Empty without `traceparent`.
pub fn extract(headers: &axum::http::HeaderMap) -> opentelemetry::Context {
    telemetry::extract(headers)
}

/// How a request (or a subgraph fetch) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Data and no errors.
    Ok,
    /// Refused before execution: unparsable, invalid, over a limit.
    RequestError,
    /// Data with errors (some subgraph fetches failed).
    Partial,
    /// No data: execution failed.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RequestError => "request_error",
            Outcome::Partial => "partial",
            Outcome::Error => "error",
        }
    }
}

/// Distinct operation names kept as label values before the rest count as `__other`.
pub const DEFAULT_MAX_OPERATIONS: usize = 100;
/// Longer operation names are cut to this many characters.
pub const MAX_OPERATION_NAME_LEN: usize = 64;
pub const ANONYMOUS: &str = "__anonymous";
pub const OTHER: &str = "__other";

/// Latencies from a millisecond to tens of seconds.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The router's Prometheus metrics. Each `Metrics` owns its recorder (none is installed
/// globally), so several can coexist (tests, routers in one process) and `render` shows
/// exactly what this one recorded.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    operations: Mutex<HashSet<String>>,
    max_operations: usize,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("max_operations", &self.max_operations).finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::with_max_operations(DEFAULT_MAX_OPERATIONS)
    }

    /// Keeps at most `max_operations` distinct operation names as label values.
    pub fn with_max_operations(max_operations: usize) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle, operations: Mutex::default(), max_operations };
        metrics.describe();
        metrics
    }

    fn describe(&self) {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::describe_counter!("router_requests_total", "GraphQL requests by operation and outcome");
            metrics::describe_histogram!(
                "router_request_duration_seconds",
                metrics::Unit::Seconds,
                "Time to answer a GraphQL request"
            );
            metrics::describe_counter!("router_subgraph_requests_total", "Fetches from subgraphs by outcome");
            metrics::describe_histogram!(
                "router_subgraph_duration_seconds",
                metrics::Unit::Seconds,
                "Time of one subgraph fetch"
            );
            metrics::describe_counter!("router_cache_requests_total", "Cache look-ups by cache and result");
            metrics::describe_counter!("router_refusals_total", "Requests refused before execution, by code");
            metrics::describe_gauge!(
                "router_live",
                "Open subscription connections, client subscriptions and upstream subscriptions (by kind)"
            );
            metrics::describe_counter!("router_subscription_events_total", "Subscription events delivered to clients");
        });
    }

    /// The Prometheus text exposition, for `GET /metrics`.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// One client request: `router_requests_total{operation,outcome}` and
    /// `router_request_duration_seconds{operation}`.
    pub fn request(&self, operation: Option<&str>, outcome: Outcome, elapsed: Duration) {
        let operation = self.operation_label(operation);
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("router_requests_total", "operation" => operation.clone(), "outcome" => outcome.as_str())
                .increment(1);
            metrics::histogram!("router_request_duration_seconds", "operation" => operation)
                .record(elapsed.as_secs_f64());
        });
    }

    /// One subgraph fetch: `router_subgraph_requests_total{subgraph,outcome}` and
    /// `router_subgraph_duration_seconds{subgraph}` (names come from the supergraph: bounded).
    pub fn subgraph(&self, name: &str, outcome: Outcome, elapsed: Duration) {
        let name = name.to_owned();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("router_subgraph_requests_total", "subgraph" => name.clone(), "outcome" => outcome.as_str())
                .increment(1);
            metrics::histogram!("router_subgraph_duration_seconds", "subgraph" => name).record(elapsed.as_secs_f64());
        });
    }

    /// One cache look-up: `router_cache_requests_total{kind,result=hit|miss}`; `kind` is one of
    /// `plan`, `apq`, `entity`, `response`.
    pub fn cache(&self, kind: &str, hit: bool) {
        let kind = kind.to_owned();
        let result = if hit { "hit" } else { "miss" };
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("router_cache_requests_total", "kind" => kind, "result" => result).increment(1);
        });
    }

    /// A request refused with the error code `code`: `router_refusals_total{code}`.
    /// Changes the gauge of live `kind`s (`connections`, `subscriptions`, `upstreams`).
    pub fn live(&self, kind: &'static str, delta: f64) {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::gauge!("router_live", "kind" => kind).increment(delta);
        });
    }

    /// One subscription event delivered (to one client subscription).
    pub fn subscription_event(&self) {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("router_subscription_events_total").increment(1);
        });
    }

    pub fn refused(&self, code: &str) {
        let code = code.to_owned();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!("router_refusals_total", "code" => code).increment(1);
        });
    }

    /// The label value for an operation name: clients choose names, so the set is bounded.
    /// No name → `__anonymous`; a name that is not a GraphQL name, or any new name once
    /// `max_operations` are known → `__other`; names are cut to 64 characters.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else { return ANONYMOUS.to_owned() };
        if !is_graphql_name(name) {
            return OTHER.to_owned();
        }
        let name = &name[..name.len().min(MAX_OPERATION_NAME_LEN)];
        let mut known = self.operations.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(name) {
            return name.to_owned();
        }
        if known.len() < self.max_operations {
            known.insert(name.to_owned());
            return name.to_owned();
        }
        OTHER.to_owned()
    }
}

/// `[_A-Za-z][_0-9A-Za-z]*` (ASCII only, so cutting at a byte index is safe).
fn is_graphql_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// What the access log records of one request.
#[derive(Debug, Clone, Copy)]
pub struct AccessEntry<'a> {
    pub method: &'a str,
    pub operation: Option<&'a str>,
    pub status: u16,
    pub outcome: Outcome,
    pub elapsed: Duration,
    /// Who asked: a client name, an address, a user id — whatever the caller identifies by.
    pub client: &'a str,
}

/// Emits one `router::access` info event with method, operation, status, outcome, duration_ms,
/// client and trace_id (empty when no trace is recorded). Call it inside the request's span so
/// the trace id is the request's.
pub fn access_log(entry: &AccessEntry<'_>) {
    let operation = entry.operation.map(|name| truncate(name, MAX_OPERATION_NAME_LEN)).unwrap_or_default();
    let trace_id = current_trace_id().unwrap_or_default();
    tracing::info!(
        target: "router::access",
        method = entry.method,
        operation,
        status = entry.status,
        outcome = entry.outcome.as_str(),
        duration_ms = entry.elapsed.as_secs_f64() * 1000.0,
        client = entry.client,
        trace_id,
        "request"
    );
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

#[cfg(test)]
mod tests;
