use super::*;

/// The sample value of one rendered series, e.g. `router_requests_total{operation="Me",outcome="ok"}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn requests_are_counted_by_operation_and_outcome_and_timed_by_operation() {
    let metrics = Metrics::new();
    metrics.request(Some("Me"), Outcome::Ok, Duration::from_millis(3));
    metrics.request(Some("Me"), Outcome::Ok, Duration::from_millis(40));
    metrics.request(Some("Me"), Outcome::Partial, Duration::from_millis(7));
    metrics.request(None, Outcome::RequestError, Duration::from_millis(1));

    let text = metrics.render();
    assert_eq!(sample(&text, r#"router_requests_total{operation="Me",outcome="ok"}"#), Some(2.0), "{text}");
    assert_eq!(sample(&text, r#"router_requests_total{operation="Me",outcome="partial"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"router_requests_total{operation="__anonymous",outcome="request_error"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"router_request_duration_seconds_count{operation="Me"}"#), Some(3.0));
    let sum = sample(&text, r#"router_request_duration_seconds_sum{operation="Me"}"#).expect("a sum");
    assert!((sum - 0.050).abs() < 1e-9, "{sum}");
    // Buckets in the millisecond range: 3 ms and 7 ms fall under 10 ms, 40 ms does not.
    assert_eq!(sample(&text, r#"router_request_duration_seconds_bucket{operation="Me",le="0.01"}"#), Some(2.0));
    assert_eq!(sample(&text, r#"router_request_duration_seconds_bucket{operation="Me",le="0.05"}"#), Some(3.0));
    assert!(text.contains("# TYPE router_request_duration_seconds histogram"));
}

#[test]
fn subgraph_fetches_cache_lookups_and_refusals_have_their_own_series() {
    let metrics = Metrics::new();
    metrics.subgraph("booking", Outcome::Ok, Duration::from_millis(12));
    metrics.subgraph("booking", Outcome::Error, Duration::from_millis(2));
    metrics.cache("plan", true);
    metrics.cache("plan", true);
    metrics.cache("apq", false);
    metrics.refused("QUERY_TOO_DEEP");

    let text = metrics.render();
    assert_eq!(
        sample(&text, r#"router_subgraph_requests_total{subgraph="booking",outcome="ok"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, r#"router_subgraph_requests_total{subgraph="booking",outcome="error"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"router_subgraph_duration_seconds_count{subgraph="booking"}"#), Some(2.0));
    assert_eq!(sample(&text, r#"router_cache_requests_total{kind="plan",result="hit"}"#), Some(2.0));
    assert_eq!(sample(&text, r#"router_cache_requests_total{kind="apq",result="miss"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"router_refusals_total{code="QUERY_TOO_DEEP"}"#), Some(1.0));
}

#[test]
fn each_metrics_instance_renders_only_what_it_recorded() {
    let first = Metrics::new();
    let second = Metrics::new();
    first.refused("BATCH_TOO_LARGE");
    assert!(first.render().contains("BATCH_TOO_LARGE"));
    assert!(!second.render().contains("BATCH_TOO_LARGE"));
}

#[test]
fn past_the_cap_new_operation_names_are_counted_as_other() {
    let cap = 10;
    let metrics = Metrics::with_max_operations(cap);
    for i in 0..cap + 5 {
        metrics.request(Some(&format!("Op{i}")), Outcome::Ok, Duration::from_millis(1));
    }
    // A name seen before the cap keeps its own series.
    metrics.request(Some("Op0"), Outcome::Ok, Duration::from_millis(1));

    let text = metrics.render();
    let operations: HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("router_requests_total{"))
        .filter_map(|l| l.split("operation=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(operations.len(), cap + 1, "{operations:?}");
    assert!(operations.contains(OTHER));
    assert_eq!(sample(&text, r#"router_requests_total{operation="__other",outcome="ok"}"#), Some(5.0));
    assert_eq!(sample(&text, r#"router_requests_total{operation="Op0",outcome="ok"}"#), Some(2.0));
}

#[test]
fn the_default_cap_is_a_hundred_names() {
    let metrics = Metrics::new();
    let labels: HashSet<String> =
        (0..DEFAULT_MAX_OPERATIONS + 5).map(|i| metrics.operation_label(Some(&format!("Op{i}")))).collect();
    assert_eq!(labels.len(), DEFAULT_MAX_OPERATIONS + 1);
    assert!(labels.contains(OTHER));
}

#[test]
fn operation_labels_are_short_graphql_names() {
    let metrics = Metrics::new();
    assert_eq!(metrics.operation_label(None), ANONYMOUS);
    assert_eq!(metrics.operation_label(Some("")), ANONYMOUS);
    assert_eq!(metrics.operation_label(Some("Me")), "Me");
    assert_eq!(metrics.operation_label(Some(&"a".repeat(100))), "a".repeat(64));
    assert_eq!(metrics.operation_label(Some("x\"}\ny")), OTHER);
    assert_eq!(metrics.operation_label(Some("1abc")), OTHER);
}

mod propagation {
    use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use super::*;

    #[test]
    fn a_subgraph_span_under_the_extracted_context_is_the_child_of_the_router_span() {
        let (subscriber, spans) = telemetry::testing::subscriber();
        let _default = tracing::subscriber::set_default(subscriber);

        let mut headers = reqwest::header::HeaderMap::new();
        let router_span = tracing::info_span!("router_fetch");
        let router_trace = router_span.in_scope(|| {
            inject(&mut headers);
            tracing::Span::current().context().span().span_context().trace_id()
        });
        drop(router_span);
        assert!(headers.contains_key("traceparent"), "{headers:?}");

        // The subgraph's side: the same headers arrive on its request.
        let subgraph_span = tracing::info_span!("subgraph_request");
        continue_trace(&subgraph_span, &extract_for_subgraph(&headers));
        let subgraph_trace = subgraph_span.context().span().span_context().trace_id();
        drop(subgraph_span);

        assert_ne!(router_trace, TraceId::INVALID);
        assert_eq!(subgraph_trace, router_trace);
        let router = spans.named("router_fetch");
        let subgraph = spans.named("subgraph_request");
        assert_eq!(subgraph.span_context.trace_id(), router.span_context.trace_id());
        assert_eq!(subgraph.parent_span_id, router.span_context.span_id());
        assert_eq!(router.parent_span_id, SpanId::INVALID, "the router span is the root");
    }

    /// What a subgraph's server receives: the request headers, as axum types.
    fn extract_for_subgraph(sent: &reqwest::header::HeaderMap) -> axum::http::HeaderMap {
        let mut received = axum::http::HeaderMap::new();
        for (name, value) in sent {
            received.insert(name.clone(), value.clone());
        }
        assert!(extract(&received).span().span_context().is_remote());
        received
    }

    #[test]
    fn extract_reads_a_client_traceparent_and_ignores_garbage() {
        let mut headers = axum::http::HeaderMap::new();
        headers
            .insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().expect("valid"));
        let cx = extract(&headers);
        assert_eq!(cx.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(cx.span().span_context().is_remote());

        headers.insert("traceparent", "not a trace".parse().expect("valid header"));
        assert!(!extract(&headers).span().span_context().is_valid());
        assert!(!extract(&axum::http::HeaderMap::new()).span().span_context().is_valid());
    }

    #[test]
    fn a_request_span_continues_the_clients_trace() {
        let (subscriber, spans) = telemetry::testing::subscriber();
        let _default = tracing::subscriber::set_default(subscriber);
        let mut headers = axum::http::HeaderMap::new();
        headers
            .insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().expect("valid"));

        let request = tracing::info_span!("graphql_request");
        continue_trace(&request, &headers);
        request.in_scope(|| tracing::info_span!("subgraph_fetch").in_scope(|| {}));
        drop(request);

        let request = spans.named("graphql_request");
        let fetch = spans.named("subgraph_fetch");
        assert_eq!(request.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(request.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(fetch.parent_span_id, request.span_context.span_id());
    }

    #[test]
    fn without_a_traceparent_the_request_span_starts_a_new_trace() {
        let (subscriber, spans) = telemetry::testing::subscriber();
        let _default = tracing::subscriber::set_default(subscriber);

        let request = tracing::info_span!("graphql_request");
        continue_trace(&request, &axum::http::HeaderMap::new());
        drop(request);

        let request = spans.named("graphql_request");
        assert_eq!(request.parent_span_id, SpanId::INVALID);
        assert_ne!(request.span_context.trace_id(), TraceId::INVALID);
    }

    #[test]
    fn without_a_recorded_span_nothing_is_injected() {
        let mut headers = reqwest::header::HeaderMap::new();
        let _default = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        inject(&mut headers);
        assert!(headers.is_empty());
    }
}

mod access {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_json_line_per_request_with_the_trace_id() {
        let (traced, spans) = telemetry::testing::subscriber();
        let captured = Captured::default();
        let writer = captured.clone();
        let json = tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(move || writer.clone());
        let _default = tracing::subscriber::set_default(traced.with(json));

        tracing::info_span!("graphql_request").in_scope(|| {
            access_log(&AccessEntry {
                method: "POST",
                operation: Some("Me"),
                status: 200,
                outcome: Outcome::Partial,
                elapsed: Duration::from_micros(12_500),
                client: "web-app",
            });
        });

        let text = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["target"], "router::access");
        assert_eq!(line["method"], "POST");
        assert_eq!(line["operation"], "Me");
        assert_eq!(line["status"], 200);
        assert_eq!(line["outcome"], "partial");
        assert_eq!(line["duration_ms"], 12.5);
        assert_eq!(line["client"], "web-app");
        let trace_id = spans.named("graphql_request").span_context.trace_id().to_string();
        assert_eq!(line["trace_id"], trace_id.as_str());
    }
}
