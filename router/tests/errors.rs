//! Errors come out exact: a subgraph's safe extensions survive masking, errors inside entity
//! fetches point at the client's path, a failed fetch reports at the field it left null, and
//! every error carries a code.

mod support;

use std::sync::Arc;

use axum::Json;
use router::execute::Forwarded;
use router::{GraphqlRequest, Router, RouterConfig, Supergraph};
use serde_json::{Value, json};

fn supergraph(users: &str, profiles: &str) -> String {
    format!(
        r#"
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) {{ query: Query }}
{join}
enum join__Graph {{
  USERS @join__graph(name: "users", url: "{users}")
  PROFILES @join__graph(name: "profiles", url: "{profiles}")
}}
type Query @join__type(graph: USERS) {{ me: User }}
type User @join__type(graph: USERS, key: "id") @join__type(graph: PROFILES, key: "id") {{
  id: ID!
  email: String @join__field(graph: USERS)
  profile: Profile @join__field(graph: PROFILES)
}}
type Profile @join__type(graph: PROFILES) {{ bio: String }}
"#,
        join = support::JOIN
    )
}

/// Serves `answer` as a subgraph; returns its URL.
async fn subgraph(answer: Value) -> String {
    let app = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/graphql")
}

/// Users answers `me` with a refused `email` (a coded error with extensions, a stack trace).
async fn users() -> String {
    subgraph(json!({
        "data": { "me": { "__typename": "User", "id": "u1", "email": null } },
        "errors": [{
            "message": "only the owner may read the e-mail",
            "path": ["me", "email"],
            "extensions": { "code": "FORBIDDEN", "reason": "OWNER_ONLY", "retryAfter": 5,
                            "stacktrace": ["at users::schema::email"], "exception": { "sql": "SELECT …" } }
        }]
    }))
    .await
}

async fn run(profiles: &str, query: &str) -> Value {
    let sg = Supergraph::parse(&supergraph(&users().await, profiles)).expect("valid supergraph");
    let router = Arc::new(Router::new(sg, RouterConfig::default()));
    let request = GraphqlRequest { query: query.into(), ..Default::default() };
    router.execute(request, &Forwarded::default(), false).await.body
}

fn error_at<'a>(body: &'a Value, path: &Value) -> &'a Value {
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("errors in {body}"));
    errors.iter().find(|e| &e["path"] == path).unwrap_or_else(|| panic!("no error at {path} in {body}"))
}

#[tokio::test]
async fn masking_keeps_the_extensions_a_client_acts_on_and_hides_the_rest() {
    let profiles = subgraph(json!({ "data": { "_entities": [{ "__typename": "User", "profile": null }] } })).await;
    let body = run(&profiles, "{ me { id email } }").await;
    let error = error_at(&body, &json!(["me", "email"]));
    assert_eq!(error["extensions"], json!({ "code": "FORBIDDEN", "reason": "OWNER_ONLY", "retryAfter": 5 }));
    assert!(!error.to_string().contains("stacktrace") && !error.to_string().contains("SELECT"), "{error}");
    assert_eq!(body["data"]["me"], json!({ "id": "u1", "email": null }));
}

#[tokio::test]
async fn an_entity_error_without_an_index_points_at_the_clients_path_with_a_code() {
    let profiles = subgraph(json!({
        "data": { "_entities": [{ "__typename": "User", "profile": null }] },
        "errors": [{ "message": "profile hidden", "path": ["_entities", "profile"] }]
    }))
    .await;
    let body = run(&profiles, "{ me { id profile { bio } } }").await;
    let error = error_at(&body, &json!(["me", "profile"]));
    assert_eq!(error["extensions"], json!({ "code": "SUBGRAPH_ERROR", "serviceName": "profiles" }));
}

#[tokio::test]
async fn a_failed_entity_fetch_reports_at_the_field_it_left_null() {
    let body = run("http://127.0.0.1:1/graphql", "{ me { id profile { bio } } }").await;
    assert_eq!(body["data"]["me"], json!({ "id": "u1", "profile": null }));
    let error = error_at(&body, &json!(["me", "profile"]));
    assert_eq!(error["extensions"]["code"], "SUBGRAPH_REQUEST_FAILED");
}
