//! End to end: the router in front of the real identity subgraph, with the committed supergraph.
//! (Only identity exists so far; queries across several EduStream subgraphs come with them.)

use std::sync::Arc;
use std::time::Duration;

use platform::bus::MemoryBus;
use platform::{Env, Shutdown};
use router::execute::Forwarded;
use router::{GraphqlRequest, Router, RouterConfig, Supergraph};
use serde_json::json;

#[tokio::test]
async fn register_then_me_through_the_router_forwards_the_bearer_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = platform::db::testing::fresh_database_url(dir.path()).await;
    let env = Env::from_pairs([("DATABASE_URL", url.as_str()), ("AMQP_URL", "memory:")])
        .with("DATA_DIR", dir.path().display().to_string())
        .with("JWT_SIGNING_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    let config = identity::IdentityConfig::from_env(&env).expect("config");
    let shutdown = Shutdown::new();
    let app = identity::build(&config, Arc::new(MemoryBus::new()), &shutdown).await.expect("identity builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(app.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../supergraph.graphql")).expect("reads");
    let sdl = committed.replace("http://127.0.0.1:8001/graphql", &format!("http://{addr}/graphql"));
    let router =
        Router::new(Supergraph::parse(&sdl).expect("the committed supergraph is valid"), RouterConfig::default());

    let register = GraphqlRequest {
        query: "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id role } } }".into(),
        variables: serde_json::from_value(json!({ "i": {
            "email": "e2e@example.org", "password": "correct horse battery", "firstName": "Ada", "lastName": "L", "role": "TUTOR"
        } }))
        .expect("object"),
        ..Default::default()
    };
    let body = router.execute(register, &Forwarded::default(), false).await.body;
    assert_eq!(body["data"]["register"]["user"]["role"], "TUTOR", "{body}");
    let token = body["data"]["register"]["accessToken"].as_str().expect("token").to_owned();

    let mut forwarded = Forwarded::default();
    forwarded.headers.push((reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header")));
    let me = GraphqlRequest { query: "{ me { email profile { firstName } } }".into(), ..Default::default() };
    let body = router.execute(me, &forwarded, false).await.body;
    assert_eq!(body["data"]["me"], json!({ "email": "e2e@example.org", "profile": { "firstName": "Ada" } }), "{body}");

    let anonymous = GraphqlRequest { query: "{ me { email } }".into(), ..Default::default() };
    let body = router.execute(anonymous, &Forwarded::default(), false).await.body;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "the subgraph's code is kept: {body}");
    shutdown.trigger();
}
