//! GraphQL over HTTP: POST (JSON) and GET (queries only), `application/graphql-response+json`
//! or `application/json` answers with the spec's status codes, `/health`, a body limit.

use std::sync::Arc;

use axum::Router as HttpRouter;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use tower_http::limit::RequestBodyLimitLayer;

use crate::execute::Forwarded;
use crate::{GraphqlRequest, Router};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

pub fn routes(router: Arc<Router>) -> HttpRouter {
    let limit = router.config().body_limit_bytes;
    let cors = cors_layer(&router.config().cors);
    let routes = HttpRouter::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .layer(RequestBodyLimitLayer::new(limit))
        .with_state(router);
    match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    }
}

/// The CORS layer for the configured allow-list; `None` (no CORS headers) when it is empty.
fn cors_layer(config: &crate::config::Cors) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if config.allow_origins.is_empty() {
        return None;
    }
    let origins = if config.allow_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.allow_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let headers = [
        header::CONTENT_TYPE,
        header::AUTHORIZATION,
        header::ACCEPT,
        HeaderName::from_static("apollo-require-preflight"),
        HeaderName::from_static("x-apollo-operation-name"),
        HeaderName::from_static("x-api-key"),
    ];
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(headers)
            .allow_credentials(config.allow_credentials)
            .max_age(config.max_age),
    )
}

/// Which media type the client accepts for the answer.
fn wants_graphql_response(headers: &HeaderMap) -> Result<bool, ()> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return Ok(false) };
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        return Ok(true);
    }
    if types.iter().any(|t| *t == "application/json" || *t == "*/*" || *t == "application/*") {
        return Ok(false);
    }
    Err(())
}

fn reply(status: StatusCode, graphql_response: bool, body: &Value) -> Response {
    let content_type = if graphql_response { GRAPHQL_RESPONSE } else { "application/json" };
    // Straight into bytes (`Display` would go through `fmt::Write`, character by character).
    let bytes =
        serde_json::to_vec(body).unwrap_or_else(|_| br#"{"errors":[{"message":"unserialisable response"}]}"#.to_vec());
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn request_error(status: StatusCode, graphql_response: bool, message: &str) -> Response {
    reply(status, graphql_response, &json!({ "errors": [{ "message": message }] }))
}

fn forwarded(router: &Router, headers: &HeaderMap) -> Forwarded {
    let mut out = Forwarded::default();
    for name in &router.config().forward_headers {
        let name_and_value = (reqwest::header::HeaderName::from_bytes(name.as_bytes()), headers.get(name.as_str()));
        if let (Ok(n), Some(v)) = name_and_value
            && let Ok(v) = reqwest::header::HeaderValue::from_bytes(v.as_bytes())
        {
            out.headers.push((n, v));
        }
    }
    out
}

async fn run(router: &Router, headers: &HeaderMap, request: GraphqlRequest, graphql_response: bool) -> Response {
    let want_plan = headers.get("x-query-plan").is_some_and(|v| v == "true");
    let result = router.execute(request, &forwarded(router, headers), want_plan).await;
    let status = if result.request_error && graphql_response { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    reply(status, graphql_response, &result.body)
}

/// Why a request is refused before execution: status, code (if any) and message.
struct Refusal {
    status: StatusCode,
    code: Option<&'static str>,
    message: String,
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: None, message }
    }
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

impl From<crate::apq::ApqError> for Refusal {
    fn from(error: crate::apq::ApqError) -> Self {
        // "Not found" is the protocol's request to send the query: not a failure of the client.
        let status = if error == crate::apq::ApqError::NotFound { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        Self { status, code: Some(error.code()), message: error.to_string() }
    }
}

impl Refusal {
    fn body(&self) -> Value {
        match self.code {
            Some(code) => json!({ "errors": [{ "message": self.message, "extensions": { "code": code } }] }),
            None => json!({ "errors": [{ "message": self.message }] }),
        }
    }

    fn respond(self, graphql_response: bool) -> Response {
        reply(self.status, graphql_response, &self.body())
    }
}

async fn parse_body(router: &Router, value: Value) -> Result<GraphqlRequest, Refusal> {
    let Value::Object(mut object) = value else { return Err("the body must be a JSON object".into()) };
    let query = match object.remove("query") {
        Some(Value::String(q)) => Some(q),
        None | Some(Value::Null) => None,
        Some(_) => return Err("`query` must be a string".into()),
    };
    let operation_name = match object.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    };
    let variables = match object.remove("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(v)) => v,
        Some(_) => return Err("`variables` must be an object".into()),
    };
    if !matches!(object.get("extensions"), None | Some(Value::Null | Value::Object(_))) {
        return Err("`extensions` must be an object".into());
    }
    let query = router.apq().resolve(query, object.get("extensions")).await?;
    Ok(GraphqlRequest { query, operation_name, variables })
}

async fn graphql_post(State(router): State<Arc<Router>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(graphql_response) = wants_graphql_response(&headers) else {
        return request_error(
            StatusCode::NOT_ACCEPTABLE,
            false,
            "accept application/graphql-response+json or application/json",
        );
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/json" && media != GRAPHQL_RESPONSE {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            graphql_response,
            "send the request as application/json",
        );
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                graphql_response,
                &format!("the body is not valid JSON: {e}"),
            );
        }
    };
    if let Value::Array(items) = value {
        return run_batch(&router, &headers, items, graphql_response).await;
    }
    match parse_body(&router, value).await {
        Ok(request) => run(&router, &headers, request, graphql_response).await,
        Err(refusal) => refusal.respond(graphql_response),
    }
}

fn coded_error(status: StatusCode, graphql_response: bool, code: &str, message: &str) -> Response {
    reply(status, graphql_response, &json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))
}

/// A JSON array of requests, when batching is enabled: each runs on its own (concurrently), and
/// the answer is the array of their results in order; one malformed entry fails only itself.
async fn run_batch(router: &Router, headers: &HeaderMap, items: Vec<Value>, graphql_response: bool) -> Response {
    let batching = &router.config().batching;
    if !batching.enabled {
        let message = "batched requests are not enabled on this router";
        return coded_error(StatusCode::BAD_REQUEST, graphql_response, "BATCHING_DISABLED", message);
    }
    if items.is_empty() || items.len() > batching.max_size {
        let message = format!("a batch holds 1 to {} requests; this one has {}", batching.max_size, items.len());
        return coded_error(StatusCode::BAD_REQUEST, graphql_response, "BATCH_TOO_LARGE", &message);
    }
    let forwarded = forwarded(router, headers);
    let runs = items.into_iter().map(|item| {
        let forwarded = &forwarded;
        async move {
            match parse_body(router, item).await {
                Ok(request) => router.execute(request, forwarded, false).await.body,
                Err(refusal) => Refusal { code: Some(refusal.code.unwrap_or("BAD_REQUEST")), ..refusal }.body(),
            }
        }
    });
    let results = futures_util::future::join_all(runs).await;
    reply(StatusCode::OK, graphql_response, &Value::Array(results))
}

async fn graphql_get(
    State(router): State<Arc<Router>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let Ok(graphql_response) = wants_graphql_response(&headers) else {
        return request_error(
            StatusCode::NOT_ACCEPTABLE,
            false,
            "accept application/graphql-response+json or application/json",
        );
    };
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let variables = match param("variables") {
        None => Map::new(),
        Some(raw) => match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(v)) => v,
            Ok(Value::Null) => Map::new(),
            _ => return request_error(StatusCode::BAD_REQUEST, graphql_response, "`variables` must be a JSON object"),
        },
    };
    let extensions = match param("extensions") {
        None => None,
        Some(raw) => match serde_json::from_str::<Value>(&raw) {
            Ok(extensions @ Value::Object(_)) => Some(extensions),
            Ok(Value::Null) => None,
            _ => return request_error(StatusCode::BAD_REQUEST, graphql_response, "`extensions` must be a JSON object"),
        },
    };
    let query = match router.apq().resolve(param("query"), extensions.as_ref()).await {
        Ok(query) => query,
        Err(error) => return Refusal::from(error).respond(graphql_response),
    };
    if is_mutation(&router, &query, param("operationName").as_deref()) {
        let mut response =
            request_error(StatusCode::METHOD_NOT_ALLOWED, graphql_response, "mutations must be sent with POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let request = GraphqlRequest { query, operation_name: param("operationName"), variables };
    run(&router, &headers, request, graphql_response).await
}

fn is_mutation(_router: &Router, query: &str, operation_name: Option<&str>) -> bool {
    use apollo_compiler::ast::{Definition, OperationType};
    // The syntax alone decides: GET never runs anything but a query, valid or not.
    let Ok(document) = apollo_compiler::ast::Document::parse(query, "get.graphql") else { return false };
    let operations: Vec<_> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::OperationDefinition(op) => Some(op),
            _ => None,
        })
        .collect();
    let selected = match operation_name {
        Some(name) => operations.iter().find(|op| op.name.as_ref().is_some_and(|n| n == name)),
        None if operations.len() == 1 => operations.first(),
        None => None,
    };
    selected.is_some_and(|op| op.operation_type != OperationType::Query)
}
