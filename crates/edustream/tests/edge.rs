//! The router's edge under attack, through the router against EduStream's real identity and
//! tutoring: no client can shut others out (a subgraph's breaker, identity's sign-in throttle),
//! and a client with urql's default `Accept` gets JSON for a query.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use router::{Router, RouterConfig, Supergraph};
use serde_json::{Value, json};

struct Stack {
    graph: testkit::Graph,
    url: String,
}

/// The router in front of identity (with `identity_env`) and tutoring, on the committed
/// supergraph, with the router's default settings.
async fn start(identity_env: &[(&str, &str)]) -> Stack {
    let graph = testkit::Graph::start_with_identity_env(identity_env).await;
    let config = tutoring::TutoringConfig::from_env(&graph.env_for("tutoring").await).expect("config");
    let tutoring = tutoring::build(&config, graph.bus.clone(), graph.verifier.clone(), &graph.shutdown)
        .await
        .expect("tutoring builds");
    let (listener, tutoring_addr) = testkit::listen().await;
    tokio::spawn(tutoring.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));
    let supergraph = Supergraph::parse(include_str!("../../../supergraph.graphql")).expect("valid supergraph");
    let mut config = RouterConfig::default();
    config.subgraph_urls.insert("identity".into(), format!("http://{}/graphql", graph.identity));
    config.subgraph_urls.insert("tutoring".into(), format!("http://{tutoring_addr}/graphql"));
    let router = Arc::new(Router::new(supergraph, config));
    let (listener, addr) = testkit::listen().await;
    let stop = graph.shutdown.clone();
    tokio::spawn(router::serve(router, listener, async move { stop.wait().await }));
    Stack { graph, url: format!("http://{addr}/graphql") }
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address is this machine's).
fn client_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip).build().expect("a client")
}

/// A loopback address of its own for each test run (identity's counters may live in Redis).
fn random_loopback() -> IpAddr {
    let [a, b, c]: [u8; 3] = rand::random();
    IpAddr::V4(Ipv4Addr::new(127, a.max(1), b, c.max(2)))
}

async fn post(client: &reqwest::Client, url: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.header("authorization", token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

fn codes(body: &Value) -> Vec<String> {
    let errors = body["errors"].as_array().into_iter().flatten();
    errors.filter_map(|e| e["extensions"]["code"].as_str()).map(str::to_owned).collect()
}

const SEARCH: &str = "query($s: String) { tutors(filter: { text: $s }) { edges { node { id } } } }";

#[tokio::test]
async fn oversized_requests_never_open_a_subgraphs_circuit_for_other_clients() {
    let stack = start(&[]).await;
    let attacker = client_from(random_loopback());
    // Under the router's body limit: admitted, and so accepted by tutoring (whatever it answers).
    let big = "x".repeat(400_000);
    for _ in 0..12 {
        let (_, body) = post(&attacker, &stack.url, &json!({ "query": SEARCH, "variables": { "s": big } }), None).await;
        let codes = codes(&body);
        assert!(
            !codes.iter().any(|c| c.starts_with("SUBGRAPH_")),
            "an admitted request is one the subgraph accepts: {codes:?}"
        );
    }
    // Over the router's limit: refused at the router, as JSON.
    let huge = "x".repeat(1_500_000);
    let (status, body) =
        post(&attacker, &stack.url, &json!({ "query": SEARCH, "variables": { "s": huge } }), None).await;
    assert_eq!((status, codes(&body)), (413, vec!["REQUEST_TOO_LARGE".to_owned()]));
    // Oversized tokens: refused at the router, identity never sees them.
    let long_token = format!("Bearer {}", "t".repeat(20_000));
    for _ in 0..12 {
        let (status, body) = post(&attacker, &stack.url, &json!({ "query": "{ me { id } }" }), Some(&long_token)).await;
        assert_eq!((status, codes(&body)), (431, vec!["HEADERS_TOO_LARGE".to_owned()]));
    }
    // Everyone else is served by both subgraphs.
    let other = client_from(random_loopback());
    let (_, body) = post(&other, &stack.url, &json!({ "query": SEARCH, "variables": { "s": "maths" } }), None).await;
    assert!(body["errors"].is_null() && body["data"]["tutors"]["edges"].is_array(), "{body}");
    let user = stack.graph.register("STUDENT", "Sue").await;
    let bearer = format!("Bearer {}", user.token);
    let (_, body) = post(&other, &stack.url, &json!({ "query": "{ me { id } }" }), Some(&bearer)).await;
    assert_eq!(body["data"]["me"]["id"], user.id, "{body}");
}

#[tokio::test]
async fn failed_sign_ins_from_one_client_do_not_lock_out_another() {
    // Identity believes the router's x-forwarded-for, and throttles after 5 failures per address.
    let stack = start(&[("LOGIN_MAX_FAILURES_PER_ADDRESS", "5"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let email = format!("victim-{}@example.org", uuid::Uuid::now_v7().simple());
    let register = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }";
    let victim = client_from(random_loopback());
    let input = json!({ "email": email, "password": "correct horse battery", "firstName": "Vic",
                        "lastName": "Tim", "role": "STUDENT" });
    let (_, body) = post(&victim, &stack.url, &json!({ "query": register, "variables": { "i": input } }), None).await;
    assert!(body["data"]["register"]["accessToken"].is_string(), "{body}");

    let login = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
    let attempt = |email: String, password: &'static str| json!({ "query": login, "variables": { "i": { "email": email, "password": password } } });
    let attacker = client_from(random_loopback());
    let mut last = Vec::new();
    for n in 0..8 {
        let unknown = format!("nobody-{n}-{}@example.org", uuid::Uuid::now_v7().simple());
        let (_, body) = post(&attacker, &stack.url, &attempt(unknown, "wrong password here"), None).await;
        last = codes(&body);
    }
    assert_eq!(last, vec!["RATE_LIMITED".to_owned()], "the attacker's own address is throttled");

    let (_, body) = post(&victim, &stack.url, &attempt(email, "correct horse battery"), None).await;
    assert!(body["data"]["login"]["accessToken"].is_string(), "another client still signs in: {body}");
}

#[tokio::test]
async fn urqls_default_accept_gets_json_for_a_query() {
    let stack = start(&[]).await;
    let accept = "application/graphql-response+json, application/graphql+json, application/json, \
                  text/event-stream, multipart/mixed";
    let response = reqwest::Client::new()
        .post(&stack.url)
        .header("accept", accept)
        .json(&json!({ "query": SEARCH, "variables": { "s": "maths" } }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/graphql-response+json");
    let body: Value = response.json().await.expect("JSON, not an event stream");
    assert!(body["data"]["tutors"]["edges"].is_array(), "{body}");
}
