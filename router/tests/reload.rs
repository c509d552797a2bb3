//! Hot reload: a new supergraph is served without dropping the requests in flight, and a broken
//! one leaves the previous router serving.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use router::reload::{Live, watch};
use router::{Router, RouterConfig, Supergraph};
use serde_json::{Value, json};

/// A subgraph answering `{ a }` and `{ b }`, holding answers while the gate is closed.
async fn subgraph(State(gate): State<tokio::sync::watch::Receiver<bool>>, Json(body): Json<Value>) -> Json<Value> {
    let mut gate = gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    let query = body["query"].as_str().unwrap_or_default();
    let mut data = serde_json::Map::new();
    for field in ["a", "b"] {
        if query.contains(field) {
            data.insert(field.into(), json!(format!("{field}!")));
        }
    }
    Json(json!({ "data": data }))
}

fn sdl(url: &str, field: &str) -> String {
    format!(
        r#"
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) {{ query: Query }}
{join}
enum join__Graph {{ ONE @join__graph(name: "one", url: "{url}") }}
type Query @join__type(graph: ONE) {{ {field}: String }}
"#,
        join = support::JOIN
    )
}

async fn post(client: &reqwest::Client, url: &str, query: &str) -> Value {
    let response = client.post(url).json(&json!({ "query": query })).send().await.expect("router answers");
    response.json().await.expect("json")
}

#[tokio::test]
async fn a_changed_supergraph_is_served_without_dropping_requests_in_flight() {
    let (open, gate) = tokio::sync::watch::channel(false);
    let app = axum::Router::new().route("/graphql", axum::routing::post(subgraph)).with_state(gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let subgraph_url = format!("http://{}/graphql", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("supergraph.graphql");
    std::fs::write(&file, sdl(&subgraph_url, "a")).expect("write");
    let load = {
        let file = file.clone();
        move || {
            let file = file.clone();
            async move {
                let text = std::fs::read_to_string(&file)?;
                Ok(Router::new(Supergraph::parse(&text)?, RouterConfig::default()))
            }
        }
    };
    let live = Live::new(Arc::new(load().await.expect("first supergraph")));
    let (trigger, triggered) = tokio::sync::mpsc::channel(1);
    tokio::spawn(watch(live.clone(), vec![file.clone()], Duration::from_millis(20), triggered, load));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}/graphql", listener.local_addr().expect("address"));
    tokio::spawn({
        let app = live.app();
        async move { axum::serve(listener, app).await }
    });
    let client = reqwest::Client::new();

    // A request starts on the first supergraph and waits at the subgraph.
    let in_flight = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { post(&client, &url, "{ a }").await }
    });
    while live.router().executor().lane(live.router().supergraph(), "one").expect("lane").in_flight().0 == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The file changes (a different length, so the change is seen even within one mtime tick).
    std::fs::write(&file, sdl(&subgraph_url, "b")).expect("write");
    while live.generation() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    open.send(true).expect("gate");
    assert_eq!(in_flight.await.expect("joins"), json!({ "data": { "a": "a!" } }), "finished on the old router");
    assert_eq!(post(&client, &url, "{ b }").await, json!({ "data": { "b": "b!" } }));
    assert_eq!(post(&client, &url, "{ a }").await["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");

    // A broken file: the reload fails and the last good router keeps serving.
    std::fs::write(&file, "type Query {").expect("write");
    // With room for one signal, the third send completes only once the watcher took the second,
    // that is after the first reload attempt has finished.
    for _ in 0..3 {
        trigger.send(()).await.expect("trigger");
    }
    assert_eq!(live.generation(), 1);
    assert_eq!(post(&client, &url, "{ b }").await, json!({ "data": { "b": "b!" } }));
}
