//! Traces cross process boundaries: a request continues its caller's trace, an event carries
//! the trace of the request that caused it, and its consumer continues that trace (in-process
//! bus always; RabbitMQ when `AMQP_URL` is set).

mod support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kernel::EventEnvelope;
use opentelemetry::trace::{SpanId, TraceId};
use platform::Shutdown;
use platform::bus::{Binding, EventBus, EventHandler, HandlerError, MemoryBus, RabbitBus, Subscription};
use platform::outbox::Relay;
use support::*;
use telemetry::testing::{RecordedSpans, subscriber};
use tracing::Instrument as _;

/// Remembers the trace id each handled event was handled under.
#[derive(Default)]
struct TraceRecorder {
    seen: Mutex<Vec<Option<String>>>,
    handled: tokio::sync::Notify,
}

impl TraceRecorder {
    fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl EventHandler for TraceRecorder {
    async fn handle(&self, _event: &EventEnvelope) -> Result<(), HandlerError> {
        self.seen.lock().expect("not poisoned").push(telemetry::current_trace_id());
        self.handled.notify_one();
        Ok(())
    }
}

async fn subscribe(bus: &dyn EventBus, producer: &str) -> Arc<TraceRecorder> {
    let recorder = Arc::new(TraceRecorder::default());
    let sub = Subscription {
        queue: format!("{producer}.traced"),
        bindings: vec![Binding::all_of(producer)],
        handler: recorder.clone(),
    };
    // The handle is dropped: the consumer runs until the test's runtime ends.
    let _handle = bus.subscribe(sub, Shutdown::new()).await.expect("subscribes");
    recorder
}

/// The consumer span's name: `<event type> process`, as OpenTelemetry's messaging conventions.
fn consumed(producer: &str) -> String {
    format!("{producer}.Happened process")
}

fn trace_id(spans: &RecordedSpans, name: &str) -> TraceId {
    spans.named(name).span_context.trace_id()
}

#[tokio::test]
async fn a_consumer_continues_the_trace_of_the_span_that_published() {
    let (subscriber, spans) = subscriber();
    let _default = tracing::subscriber::set_default(subscriber);
    let producer = unique_producer();
    let bus = MemoryBus::new();
    let recorder = subscribe(&bus, &producer).await;

    bus.publish(&event(&producer, 1)).instrument(tracing::info_span!("request")).await.expect("publishes");

    let request = spans.named("request");
    let consume = spans.named(&consumed(&producer));
    assert_eq!(consume.span_context.trace_id(), request.span_context.trace_id());
    assert_eq!(consume.parent_span_id, request.span_context.span_id());
    assert_eq!(recorder.seen(), vec![Some(request.span_context.trace_id().to_string())], "the handler runs in it");
}

#[tokio::test]
async fn an_outboxed_event_carries_the_trace_of_the_request_that_wrote_it() {
    let (subscriber, spans) = subscriber();
    let _default = tracing::subscriber::set_default(subscriber);
    let test = fresh_db().await;
    let producer = unique_producer();
    let bus = Arc::new(MemoryBus::new());
    let recorder = subscribe(bus.as_ref(), &producer).await;

    // The request appends in its transaction; the relay publishes later, outside any span.
    append(&test.db, &[event(&producer, 1)]).instrument(tracing::info_span!("request")).await;
    let relay = Relay::new(test.db.clone(), bus.clone(), "test");
    assert_eq!(relay.publish_pending().await.expect("publishes"), 1);

    let request = trace_id(&spans, "request");
    assert_eq!(trace_id(&spans, &consumed(&producer)), request);
    assert_eq!(spans.named(&consumed(&producer)).parent_span_id, spans.named("request").span_context.span_id());
    assert_eq!(recorder.seen(), vec![Some(request.to_string())]);
}

#[tokio::test]
async fn an_event_without_a_trace_context_is_handled_in_a_new_trace() {
    let (subscriber, spans) = subscriber();
    let _default = tracing::subscriber::set_default(subscriber);
    let producer = unique_producer();
    let bus = MemoryBus::new();
    let recorder = subscribe(&bus, &producer).await;

    bus.publish(&event(&producer, 1)).await.expect("publishes");

    let consume = spans.named(&consumed(&producer));
    assert_eq!(consume.parent_span_id, SpanId::INVALID, "a root span");
    assert_ne!(consume.span_context.trace_id(), TraceId::INVALID);
    assert_eq!(recorder.seen(), vec![Some(consume.span_context.trace_id().to_string())]);
}

#[tokio::test]
async fn a_graphql_request_continues_the_callers_trace() {
    use tower::ServiceExt as _;

    struct Query;
    #[async_graphql::Object]
    impl Query {
        async fn trace_id(&self) -> Option<String> {
            telemetry::current_trace_id()
        }
    }

    let (subscriber, spans) = subscriber();
    let _default = tracing::subscriber::set_default(subscriber);
    let schema = async_graphql::Schema::new(Query, async_graphql::EmptyMutation, async_graphql::EmptySubscription);
    let app = platform::http::graphql_routes(schema, Default::default());
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .body(axum::body::Body::from(r#"{"query":"{ traceId }"}"#))
        .expect("a request");

    let response = app.oneshot(request).await.expect("answers");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a body");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");

    assert_eq!(body["data"]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736", "resolvers run in the caller's trace");
    let span = spans.named("POST /graphql");
    assert_eq!(span.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7", "the caller's span is the parent");
}

#[tokio::test]
async fn over_rabbitmq_the_trace_travels_in_the_message_headers() {
    let Some(url) = std::env::var("AMQP_URL").ok().filter(|u| u.starts_with("amqp")) else {
        eprintln!("skipped: set AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f to run the RabbitMQ tests");
        return;
    };
    let (subscriber, spans) = subscriber();
    let _default = tracing::subscriber::set_default(subscriber);
    let producer = unique_producer();
    let bus = RabbitBus::new(&url, 8).with_namespace(&format!("{producer}-"));
    let recorder = subscribe(&bus, &producer).await;

    bus.publish(&event(&producer, 1)).instrument(tracing::info_span!("request")).await.expect("publishes");
    let recorder_for_wait = recorder.clone();
    eventually("the consumer handled the event", move || {
        let recorder = recorder_for_wait.clone();
        async move { !recorder.seen().is_empty() }
    })
    .await;

    let request = spans.named("request");
    assert_eq!(recorder.seen(), vec![Some(request.span_context.trace_id().to_string())]);
    eventually("the consumer span closed", || {
        let closed = spans.finished().iter().any(|s| s.name == consumed(&producer));
        async move { closed }
    })
    .await;
    let consume = spans.named(&consumed(&producer));
    assert_eq!(consume.parent_span_id, request.span_context.span_id());
}
