//! A two-subgraph supergraph (products, reviews) and mock subgraphs that record what they get.
#![allow(dead_code)]

pub mod ws;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Version};
use axum::routing::post;
use serde_json::{Value, json};

pub const JOIN: &str = r#"
directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
"#;

/// Products owns `Product.name/price`; reviews adds `reviews` and `score @requires(price)`.
pub fn supergraph(base: &str) -> String {
    format!(
        r#"
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) {{ query: Query }}
{JOIN}
enum join__Graph {{
  PRODUCTS @join__graph(name: "products", url: "{base}/products")
  REVIEWS @join__graph(name: "reviews", url: "{base}/reviews")
}}
type Query @join__type(graph: PRODUCTS) @join__type(graph: REVIEWS) {{
  products: [Product!]! @join__field(graph: PRODUCTS)
  secret: String @join__field(graph: PRODUCTS) @inaccessible
}}
type Product @join__type(graph: PRODUCTS, key: "id") @join__type(graph: REVIEWS, key: "id") {{
  id: ID!
  name: String! @join__field(graph: PRODUCTS)
  price: Int @join__field(graph: PRODUCTS) @join__field(graph: REVIEWS, external: true)
  reviews: [Review!]! @join__field(graph: REVIEWS)
  score: Int @join__field(graph: REVIEWS, requires: "price")
}}
type Review @join__type(graph: REVIEWS) {{
  body: String!
  stars: Int!
}}
"#
    )
}

/// What the mock subgraphs received.
#[derive(Default)]
pub struct Recorded {
    pub requests: Mutex<Vec<(String, Value)>>,
    /// The HTTP version and headers of each request, in arrival order.
    pub transport: Mutex<Vec<(String, Version, HeaderMap)>>,
}

impl Recorded {
    fn note(&self, subgraph: &str, version: Version, headers: HeaderMap) {
        self.transport.lock().expect("not poisoned").push((subgraph.into(), version, headers));
    }

    pub fn transport(&self, subgraph: &str) -> Vec<(Version, HeaderMap)> {
        self.transport
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(s, _, _)| s == subgraph)
            .map(|(_, v, h)| (*v, h.clone()))
            .collect()
    }

    pub fn count(&self, subgraph: &str) -> usize {
        self.requests.lock().expect("not poisoned").iter().filter(|(s, _)| s == subgraph).count()
    }

    pub fn bodies(&self, subgraph: &str) -> Vec<Value> {
        self.requests
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(s, _)| s == subgraph)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

async fn products(
    State(recorded): State<Arc<Recorded>>,
    version: Version,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    recorded.note("products", version, headers);
    let aliased = body["query"].as_str().is_some_and(|q| q.contains("key: id"));
    recorded.requests.lock().expect("not poisoned").push(("products".into(), body));
    // p1 appears twice: the reviews subgraph must get its representation once.
    let mut products = json!([
        { "__typename": "Product", "id": "p1", "name": "Chair", "price": 100 },
        { "__typename": "Product", "id": "p2", "name": "Table", "price": 250 },
        { "__typename": "Product", "id": "p1", "name": "Chair", "price": 100 },
    ]);
    if aliased {
        for product in products.as_array_mut().into_iter().flatten() {
            product["key"] = product["id"].clone();
        }
    }
    Json(json!({ "data": { "products": products } }))
}

async fn reviews(
    State(recorded): State<Arc<Recorded>>,
    version: Version,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    recorded.note("reviews", version, headers);
    recorded.requests.lock().expect("not poisoned").push(("reviews".into(), body.clone()));
    let representations = body["variables"]["representations"].as_array().cloned().unwrap_or_default();
    let entities: Vec<Value> = representations
        .iter()
        .map(|r| match r["id"].as_str() {
            // p2's reviews include one whose non-null `stars` is missing, with an error.
            Some("p2") => json!({ "__typename": "Product", "reviews": [{ "body": "Wobbly", "stars": null }], "score": r["price"].as_i64().map(|p| p / 10) }),
            _ => json!({ "__typename": "Product", "reviews": [{ "body": "Comfy", "stars": 5 }], "score": r["price"].as_i64().map(|p| p / 10) }),
        })
        .collect();
    let errors = if representations.iter().any(|r| r["id"] == "p2") {
        json!([{ "message": "stars unavailable", "path": ["_entities", 1, "reviews", 0, "stars"], "extensions": { "code": "STARS_DOWN" } }])
    } else {
        json!([])
    };
    Json(json!({ "data": { "_entities": entities }, "errors": errors }))
}

/// Starts the mock subgraphs; returns their base URL.
pub async fn mock_subgraphs(recorded: Arc<Recorded>) -> String {
    let app =
        axum::Router::new().route("/products", post(products)).route("/reviews", post(reviews)).with_state(recorded);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A listener on a free port of 127.0.0.1, and its address.
pub async fn listen() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("has an address");
    (listener, addr)
}
