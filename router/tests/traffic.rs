//! The way to a subgraph: retries, the circuit breaker, in-flight sharing and the response cache,
//! against a mock subgraph whose failures and answers the test controls.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use router::config::SubgraphSettings;
use router::config::subgraphs::{BreakerSettings, RetrySettings};
use router::execute::Forwarded;
use router::{GraphqlRequest, Router, RouterConfig, Supergraph};
use serde_json::{Value, json};

/// A subgraph that fails its first `fail_first` requests with 503, may hold answers until a gate
/// opens, and may mark answers private.
#[derive(Default)]
struct Mock {
    hits: AtomicUsize,
    fail_first: AtomicUsize,
    gate: Option<tokio::sync::watch::Receiver<bool>>,
    cache_control: Option<&'static str>,
    with_error: bool,
    /// Refuse every request with this status and a plain-text body (a body or header limit).
    refuse_with: Option<StatusCode>,
    /// The `x-forwarded-for` of the last request.
    forwarded_for: std::sync::Mutex<Option<String>>,
}

async fn answer(State(mock): State<Arc<Mock>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let n = mock.hits.fetch_add(1, Ordering::SeqCst);
    let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_owned);
    *mock.forwarded_for.lock().expect("not poisoned") = xff;
    if let Some(status) = mock.refuse_with {
        return (status, "length limit exceeded").into_response();
    }
    if let Some(gate) = &mock.gate {
        let mut gate = gate.clone();
        let _ = gate.wait_for(|open| *open).await;
    }
    if n < mock.fail_first.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "errors": [{ "message": "overloaded" }] })))
            .into_response();
    }
    let query = body["query"].as_str().unwrap_or_default();
    let data = if query.starts_with("mutation") {
        json!({ "data": { "rate": true } })
    } else if mock.with_error {
        json!({ "data": { "tutors": null }, "errors": [{ "message": "boom" }] })
    } else {
        json!({ "data": { "tutors": [{ "id": "t1" }] } })
    };
    let mut response = Json(data).into_response();
    if let Some(cc) = mock.cache_control {
        response.headers_mut().insert("cache-control", HeaderValue::from_static(cc));
    }
    response
}

fn supergraph(url: &str) -> String {
    format!(
        r#"
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) {{ query: Query mutation: Mutation }}
{join}
enum join__Graph {{ TUTORING @join__graph(name: "tutoring", url: "{url}") }}
type Query @join__type(graph: TUTORING) {{ tutors: [Tutor!] }}
type Mutation @join__type(graph: TUTORING) {{ rate: Boolean }}
type Tutor @join__type(graph: TUTORING) {{ id: ID! }}
"#,
        join = support::JOIN
    )
}

async fn start(mock: Mock, settings: SubgraphSettings) -> (Arc<Router>, Arc<Mock>) {
    let mock = Arc::new(mock);
    let app = axum::Router::new().route("/graphql", axum::routing::post(answer)).with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sg = Supergraph::parse(&supergraph(&format!("http://{addr}/graphql"))).expect("valid supergraph");
    let config = RouterConfig { subgraph_defaults: settings, ..Default::default() };
    (Arc::new(Router::new(sg, config)), mock)
}

fn quick_retries() -> SubgraphSettings {
    SubgraphSettings { retry: RetrySettings { retries: 2, backoff: Duration::from_millis(1) }, ..Default::default() }
}

async fn run(router: &Router, query: &str, token: Option<&str>) -> Value {
    let mut forwarded = Forwarded::default();
    if let Some(token) = token {
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
        forwarded.headers.push((reqwest::header::AUTHORIZATION, value));
    }
    let request = GraphqlRequest { query: query.into(), ..Default::default() };
    router.execute(request, &forwarded, false).await.body
}

#[tokio::test]
async fn queries_are_retried_on_gateway_errors_and_mutations_never() {
    let (router, mock) = start(Mock::default(), quick_retries()).await;
    mock.fail_first.store(2, Ordering::SeqCst);
    let body = run(&router, "{ tutors { id } }", None).await;
    assert_eq!(body, json!({ "data": { "tutors": [{ "id": "t1" }] } }), "third attempt answers");
    assert_eq!(mock.hits.load(Ordering::SeqCst), 3);

    mock.hits.store(0, Ordering::SeqCst);
    mock.fail_first.store(1, Ordering::SeqCst);
    let body = run(&router, "mutation { rate }", None).await;
    assert_eq!(body["data"]["rate"], Value::Null);
    assert_eq!(body["errors"][0]["extensions"]["code"], "SUBGRAPH_REQUEST_FAILED");
    assert_eq!(mock.hits.load(Ordering::SeqCst), 1, "a mutation is sent once");
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_requests_stop_reaching_the_subgraph() {
    let settings = SubgraphSettings {
        retry: RetrySettings { retries: 0, backoff: Duration::from_millis(1) },
        breaker: BreakerSettings { failures: 3, open_for: Duration::from_secs(3600) },
        ..Default::default()
    };
    let (router, mock) = start(Mock::default(), settings).await;
    mock.fail_first.store(usize::MAX, Ordering::SeqCst);
    for _ in 0..3 {
        let body = run(&router, "{ tutors { id } }", None).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "SUBGRAPH_REQUEST_FAILED");
    }
    let body = run(&router, "{ tutors { id } }", None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "SUBGRAPH_CIRCUIT_OPEN");
    assert_eq!(body["data"]["tutors"], Value::Null);
    assert_eq!(mock.hits.load(Ordering::SeqCst), 3, "the open circuit sends nothing");
}

#[tokio::test]
async fn identical_queries_in_flight_share_one_request_but_not_across_tokens() {
    let (open, gate) = tokio::sync::watch::channel(false);
    let (router, mock) = start(Mock { gate: Some(gate), ..Default::default() }, SubgraphSettings::default()).await;
    let mut calls = Vec::new();
    for token in ["alice", "alice", "alice", "alice", "bob"] {
        let router = router.clone();
        calls.push(tokio::spawn(async move { run(&router, "{ tutors { id } }", Some(token)).await }));
    }
    // Wait (by condition, not by time) until every call has reached the lane.
    let lane = router.executor().lane(router.supergraph(), "tutoring").expect("lane").clone();
    while lane.in_flight() != (2, 5) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    open.send(true).expect("gate");
    for call in calls {
        assert_eq!(call.await.expect("joins"), json!({ "data": { "tutors": [{ "id": "t1" }] } }));
    }
    assert_eq!(mock.hits.load(Ordering::SeqCst), 2, "one request per distinct token");
    assert_eq!(lane.in_flight(), (0, 0));
}

fn cached() -> SubgraphSettings {
    SubgraphSettings { cache_ttl: Some(Duration::from_secs(60)), ..Default::default() }
}

#[tokio::test]
async fn public_answers_are_cached_per_forwarded_headers_for_their_ttl() {
    let (router, mock) = start(Mock::default(), cached()).await;
    for _ in 0..3 {
        assert_eq!(run(&router, "{ tutors { id } }", None).await["data"]["tutors"][0]["id"], "t1");
    }
    assert_eq!(mock.hits.load(Ordering::SeqCst), 1, "answered from the cache");
    run(&router, "{ tutors { id } }", Some("alice")).await;
    assert_eq!(mock.hits.load(Ordering::SeqCst), 2, "another token is another entry");
    run(&router, "mutation { rate }", None).await;
    run(&router, "mutation { rate }", None).await;
    assert_eq!(mock.hits.load(Ordering::SeqCst), 4, "mutations are never cached");
    assert_eq!(router.executor().cache().stats(), (2, 2));
}

#[tokio::test]
async fn private_answers_and_answers_with_errors_are_not_cached() {
    let (router, mock) =
        start(Mock { cache_control: Some("private, max-age=60"), ..Default::default() }, cached()).await;
    run(&router, "{ tutors { id } }", None).await;
    run(&router, "{ tutors { id } }", None).await;
    assert_eq!(mock.hits.load(Ordering::SeqCst), 2);

    let (router, mock) = start(Mock { with_error: true, ..Default::default() }, cached()).await;
    run(&router, "{ tutors { id } }", None).await;
    run(&router, "{ tutors { id } }", None).await;
    assert_eq!(mock.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refusals_of_the_request_never_open_the_circuit() {
    let settings = SubgraphSettings {
        retry: RetrySettings { retries: 0, backoff: Duration::from_millis(1) },
        breaker: BreakerSettings { failures: 3, open_for: Duration::from_secs(3600) },
        ..Default::default()
    };
    let mock = Mock { refuse_with: Some(StatusCode::PAYLOAD_TOO_LARGE), ..Mock::default() };
    let (router, mock) = start(mock, settings).await;
    for _ in 0..10 {
        let body = run(&router, "{ tutors { id } }", None).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "REQUEST_TOO_LARGE", "{body}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("413")), "shown even masked: {body}");
    }
    assert_eq!(mock.hits.load(Ordering::SeqCst), 10, "every request reached the subgraph: the circuit stayed closed");
}

#[tokio::test]
async fn a_request_over_the_subgraphs_body_limit_is_refused_before_sending() {
    let settings = SubgraphSettings { max_request_bytes: 64, ..Default::default() };
    let (router, mock) = start(Mock::default(), settings).await;
    let body = run(&router, "{ tutors { id } }", None).await;
    assert_eq!(body["data"]["tutors"], json!([{ "id": "t1" }]), "a small request goes");
    // Aliases: distinct response keys (repeated `id`s would be merged into one).
    let aliases: String = (0..40).map(|n| format!("a{n}: id ")).collect();
    let long = format!("{{ tutors {{ {aliases} }} }}");
    let body = run(&router, &long, None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "REQUEST_TOO_LARGE", "{body}");
    assert_eq!(mock.hits.load(Ordering::SeqCst), 1, "the large one was never sent");
}

#[tokio::test]
async fn the_client_address_goes_to_the_subgraph_outside_the_sharing_key() {
    let (router, mock) = start(Mock::default(), SubgraphSettings::default()).await;
    let forwarded = Forwarded { client: Some("203.0.113.7".parse().expect("ip")), ..Forwarded::default() };
    let request = GraphqlRequest { query: "{ tutors { id } }".into(), ..Default::default() };
    let body = router.execute(request, &forwarded, false).await.body;
    assert_eq!(body["data"]["tutors"], json!([{ "id": "t1" }]));
    assert_eq!(mock.forwarded_for.lock().expect("not poisoned").as_deref(), Some("203.0.113.7"));
}
