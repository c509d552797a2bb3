//! End to end across EduStream subgraphs: the router, with the committed supergraph, in front
//! of the real identity and tutoring services sharing an in-process bus.

use std::sync::Arc;
use std::time::Duration;

use platform::bus::MemoryBus;
use platform::{Env, Shutdown};
use router::{Router, RouterConfig, Supergraph};
use serde_json::{Value, json};

struct Graph {
    router: String,
    client: reqwest::Client,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Drop for Graph {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn listen() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    (listener, addr)
}

async fn start() -> Graph {
    let dir = tempfile::tempdir().expect("temp dir");
    let shutdown = Shutdown::new();
    let bus = Arc::new(MemoryBus::new());
    let identity_env = Env::from_pairs([
        ("DATABASE_URL", platform::db::testing::fresh_database_url(dir.path()).await.as_str()),
        ("AMQP_URL", "memory:"),
    ])
    .with("DATA_DIR", dir.path().display().to_string())
    .with("JWT_SIGNING_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    let identity =
        identity::build(&identity::IdentityConfig::from_env(&identity_env).expect("config"), bus.clone(), &shutdown)
            .await
            .expect("identity builds");
    let verifier = identity.verifier.clone();
    let (listener, identity_addr) = listen().await;
    tokio::spawn(identity.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let tutoring_dir = dir.path().join("tutoring");
    std::fs::create_dir_all(&tutoring_dir).expect("dir");
    let tutoring_env = Env::from_pairs([
        ("DATABASE_URL", platform::db::testing::fresh_database_url(&tutoring_dir).await.as_str()),
        ("AMQP_URL", "memory:"),
    ]);
    let tutoring =
        tutoring::build(&tutoring::TutoringConfig::from_env(&tutoring_env).expect("config"), bus, verifier, &shutdown)
            .await
            .expect("tutoring builds");
    let (listener, tutoring_addr) = listen().await;
    tokio::spawn(tutoring.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../supergraph.graphql")).expect("reads");
    let mut config = RouterConfig::default();
    config.subgraph_urls.insert("identity".into(), format!("http://{identity_addr}/graphql"));
    config.subgraph_urls.insert("tutoring".into(), format!("http://{tutoring_addr}/graphql"));
    let router = Arc::new(Router::new(Supergraph::parse(&committed).expect("valid supergraph"), config));
    let (listener, router_addr) = listen().await;
    let stop = shutdown.clone();
    tokio::spawn(router::serve(router, listener, async move { stop.wait().await }));
    Graph { router: format!("http://{router_addr}/graphql"), client: reqwest::Client::new(), shutdown, _dir: dir }
}

impl Graph {
    async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self.client.post(&self.router).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("sent").json().await.expect("JSON")
    }
}

#[tokio::test]
async fn one_query_spans_identity_and_tutoring_in_both_directions() {
    let graph = start().await;
    let register = "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }";
    let body = graph
        .gql(
            register,
            json!({ "i": { "email": "grace@example.org", "password": "correct horse battery", "firstName": "Grace",
                           "lastName": "Hopper", "role": "TUTOR" } }),
            None,
        )
        .await;
    let token = body["data"]["register"]["accessToken"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();

    // A mutation of tutoring, through the router, with the forwarded bearer token.
    let create = "mutation { createTutorProfile(input: { bio: \"COBOL and compilers\", timeZone: \"America/New_York\", subjects: [{ name: \"Compilers\", level: EXPERT }] }) { id } }";
    let body = graph.gql(create, json!({}), Some(&token)).await;
    let tutor_id = body["data"]["createTutorProfile"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let pricing = "mutation { updatePricing(input: { currency: \"USD\", options: [{ kind: HOURLY, amountMinor: 9000 }] }) { id } }";
    let body = graph.gql(pricing, json!({}), Some(&token)).await;
    assert!(body["data"]["updatePricing"].is_object(), "{body}");

    // identity root → tutoring (User.tutorProfile).
    let body = graph
        .gql(
            "{ me { email profile { firstName } tutorProfile { id subjects { name } pricing { lowestHourly { amountMinor currency } } rating { count } } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        body["data"]["me"],
        json!({ "email": "grace@example.org", "profile": { "firstName": "Grace" }, "tutorProfile": {
            "id": tutor_id, "subjects": [{ "name": "compilers" }],
            "pricing": { "lowestHourly": { "amountMinor": 9000, "currency": "USD" } }, "rating": { "count": 0 } } }),
        "{body}"
    );

    // tutoring root → identity (Tutor.user's profile), anonymous: public fields only.
    let body = graph
        .gql(
            "{ tutors(filter: { subject: \"compilers\" }) { edges { node { id user { profile { firstName lastName } } } } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        body["data"]["tutors"]["edges"],
        json!([{ "node": { "id": tutor_id, "user": { "profile": { "firstName": "Grace", "lastName": "Hopper" } } } }]),
        "{body}"
    );

    // Errors keep their codes through the router.
    let body = graph.gql(create, json!({}), Some(&token)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
}
