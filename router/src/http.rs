//! GraphQL over HTTP: POST (JSON) and GET (queries only), `application/graphql-response+json`
//! or `application/json` answers with the spec's status codes, subscriptions over SSE and
//! multipart HTTP, WebSocket upgrades, `/health`, `/metrics`. The checks before execution live
//! in [`crate::edge`], in the order a request meets them.

use std::sync::Arc;

use axum::Router as HttpRouter;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::edge::accept::{Accept, StreamKind};
use crate::edge::refusal::{REQUEST_TOO_LARGE, graphql_response as is_graphql_response};
use crate::edge::{Caller, Refused, admit, forwarded, respond};
use crate::subscription::framing::{self, Results};
use crate::telemetry::Outcome;
use crate::{GraphqlRequest, Router};

pub fn routes(router: Arc<Router>) -> HttpRouter {
    let limit = router.config().body_limit_bytes;
    let cors = crate::edge::cors::layer(&router.config().cors);
    let header_limits = crate::edge::header_limits::Enforced {
        limits: router.config().header_limits,
        forward: router.config().forward_headers.clone().into(),
    };
    let routes = HttpRouter::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(router);
    let routes = match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    // Outermost: oversized headers are refused before anything else reads them.
    routes.layer(axum::middleware::from_fn_with_state(header_limits, crate::edge::header_limits::enforce))
}

async fn metrics(State(router): State<Arc<Router>>) -> Response {
    let mut response = router.metrics().render().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}

/// A body the router could not read: over the limit (413 `REQUEST_TOO_LARGE`) or cut short.
fn body_refused(router: &Router, rejection: &BytesRejection, graphql_response: bool) -> Response {
    let refused = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let limit = router.config().body_limit_bytes;
        Refused::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            REQUEST_TOO_LARGE,
            format!("the request body is larger than the {limit} bytes this router accepts"),
        )
    } else {
        Refused::bad_request(format!("the request body could not be read: {}", rejection.body_text()))
    };
    router.metrics().refused(refused.code);
    refused.into_response(graphql_response)
}

/// How an operation's answer goes out: the JSON flavour, and the stream a subscription may use.
#[derive(Clone, Copy)]
struct Negotiated {
    graphql_response: bool,
    stream: Option<StreamKind>,
}

async fn run(
    router: &Arc<Router>,
    headers: &HeaderMap,
    caller: &Caller,
    request: GraphqlRequest,
    negotiated: Negotiated,
) -> Handled {
    let operation = request.operation_name.clone();
    if let Some(kind) = negotiated.stream
        && is_subscription(&request.query, request.operation_name.as_deref())
    {
        let response = start_stream(router, headers, caller, request, kind).await;
        return Handled { response, operation, outcome: Outcome::Ok };
    }
    let graphql_response = negotiated.graphql_response;
    let want_plan = headers.get("x-query-plan").is_some_and(|v| v == "true");
    let result = router.execute_json(request, &forwarded(router, headers, caller), want_plan).await;
    let status = if result.request_error && graphql_response { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let outcome = match (result.request_error, result.has_errors, result.has_data) {
        (true, _, _) => Outcome::RequestError,
        (false, false, _) => Outcome::Ok,
        (false, true, true) => Outcome::Partial,
        (false, true, false) => Outcome::Error,
    };
    Handled { response: crate::edge::refusal::respond_bytes(status, graphql_response, result.body), operation, outcome }
}

/// A request's answer, and what the metrics and the access log say about it.
struct Handled {
    response: Response,
    operation: Option<String>,
    outcome: Outcome,
}

impl Handled {
    fn refused(response: Response) -> Self {
        Self { response, operation: None, outcome: Outcome::RequestError }
    }
}

/// Runs `handle` in the request's span (continuing the client's trace), then records the
/// metrics and the access log line.
async fn observed(
    router: &Router,
    method: &'static str,
    headers: &HeaderMap,
    handle: impl std::future::Future<Output = (Handled, String)>,
) -> Response {
    use tracing::Instrument as _;
    let started = std::time::Instant::now();
    let span = tracing::info_span!("graphql_request", otel.kind = "server", otel.name = method);
    crate::telemetry::continue_trace(&span, headers);
    let (handled, client) = handle.instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let _entered = span.enter();
    router.metrics().request(handled.operation.as_deref(), handled.outcome, elapsed);
    crate::telemetry::access_log(&crate::telemetry::AccessEntry {
        method,
        operation: handled.operation.as_deref(),
        status: handled.response.status().as_u16(),
        outcome: handled.outcome,
        elapsed,
        client: &client,
    });
    handled.response
}

/// The operation of a POST body (or of a WebSocket `subscribe` payload).
pub(crate) async fn parse_body(router: &Router, caller: &Caller, value: Value) -> Result<GraphqlRequest, Refused> {
    Ok(parse_object(router, caller, value).await?.0)
}

/// [`parse_body`], and whether the text came from a persisted query (APQ or trusted document).
async fn parse_object(router: &Router, caller: &Caller, value: Value) -> Result<(GraphqlRequest, bool), Refused> {
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
    let document_id = match object.remove("documentId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err("`documentId` must be a string".into()),
    };
    let persisted = query.is_none();
    let query = resolve_query(router, caller, query, document_id, object.get("extensions")).await?;
    Ok((GraphqlRequest { query, operation_name, variables }, persisted))
}

/// The text to run: a trusted document (by `documentId`, or by the persisted-query hash when it
/// is one), an automatic persisted query, or the query sent. With a safelist or a partner's
/// allow-list in force, only trusted documents the caller may run get through — decided here,
/// before anything is parsed or planned.
async fn resolve_query(
    router: &Router,
    caller: &Caller,
    query: Option<String>,
    document_id: Option<String>,
    extensions: Option<&Value>,
) -> Result<String, Refused> {
    use crate::edge::trusted::{Source, TrustedError};
    let trusted = router.trusted();
    let partner = caller.partner.as_deref();
    let restricted = !trusted.fallback_permitted(partner);
    if let Some(id) = document_id {
        return Ok(trusted.admit(partner, Source::DocumentId(id))?.query.to_string());
    }
    let hash = extensions
        .and_then(|e| e.get("persistedQuery"))
        .and_then(|p| p.get("sha256Hash"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (query, hash) {
        (None, Some(hash)) if trusted.is_enabled() || restricted => {
            match trusted.admit(partner, Source::DocumentId(hash)) {
                Ok(admitted) => Ok(admitted.query.to_string()),
                Err(TrustedError::DocumentNotFound) if !restricted => {
                    Ok(router.apq().resolve(None, extensions).await?)
                }
                Err(error) => Err(error.into()),
            }
        }
        (Some(query), _) if restricted => Ok(trusted.admit(partner, Source::Query(query))?.query.to_string()),
        (query, _) => Ok(router.apq().resolve(query, extensions).await?),
    }
}

/// The client's address, when the server was started with connection info.
fn peer(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip())
}

async fn graphql_post(
    State(router): State<Arc<Router>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let accept = Accept::from_headers(&headers);
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_refused(&router, &rejection, is_graphql_response(accept.json())),
    };
    if let Some(kind) = accept.stream_only() {
        return event_stream(router, headers, extensions, EventSource::Post(body), kind).await;
    }
    let (router, headers) = (&router, &headers);
    guarded(router, "POST /graphql", headers, &extensions, &accept, |caller, negotiated| async move {
        post(router, headers, &caller, body, negotiated).await
    })
    .await
}

/// The common path of GET and POST: the span, the media type the client accepts, the edge's
/// checks ([`admit`]), then `handle`, then metrics and the access log.
async fn guarded<F, Fut>(
    router: &Router,
    method: &'static str,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    accept: &Accept,
    handle: F,
) -> Response
where
    F: FnOnce(Caller, Negotiated) -> Fut,
    Fut: std::future::Future<Output = Handled>,
{
    observed(router, method, headers, async {
        let Some(json) = accept.json() else {
            let message = "accept application/graphql-response+json or application/json";
            let refused = Refused::new(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", message);
            router.metrics().refused(refused.code);
            return (Handled::refused(refused.into_response(false)), String::new());
        };
        let negotiated = Negotiated { graphql_response: is_graphql_response(Some(json)), stream: accept.stream() };
        let caller = match admit(router, headers, peer(extensions), negotiated.graphql_response, true).await {
            Ok(caller) => caller,
            Err(response) => return (Handled::refused(response), String::new()),
        };
        let bucket = caller.bucket.clone();
        (handle(caller, negotiated).await, bucket)
    })
    .await
}

async fn post(
    router: &Arc<Router>,
    headers: &HeaderMap,
    caller: &Caller,
    body: Bytes,
    negotiated: Negotiated,
) -> Handled {
    let graphql_response = negotiated.graphql_response;
    let refused = |refused: Refused| Handled::refused(refused.into_response(graphql_response));
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != crate::edge::accept::JSON && media != crate::edge::accept::GRAPHQL_RESPONSE {
        let message = "send the request as application/json";
        return refused(Refused::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", message));
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refused(Refused::bad_request(format!("the body is not valid JSON: {e}"))),
    };
    if let Value::Array(items) = value {
        return run_batch(router, headers, caller, items, graphql_response).await;
    }
    match parse_body(router, caller, value).await {
        Ok(request) => run(router, headers, caller, request, negotiated).await,
        Err(refusal) => refused(refusal),
    }
}

/// A JSON array of requests, when batching is enabled: each runs on its own (concurrently), and
/// the answer is the array of their results in order; one malformed entry fails only itself.
async fn run_batch(
    router: &Router,
    headers: &HeaderMap,
    caller: &Caller,
    items: Vec<Value>,
    graphql_response: bool,
) -> Handled {
    let batching = &router.config().batching;
    let refuse = |code: &'static str, message: String| {
        router.metrics().refused(code);
        Handled::refused(Refused::new(StatusCode::BAD_REQUEST, code, message).into_response(graphql_response))
    };
    if !batching.enabled {
        return refuse("BATCHING_DISABLED", "batched requests are not enabled on this router".into());
    }
    if items.is_empty() || items.len() > batching.max_size {
        let message = format!("a batch holds 1 to {} requests; this one has {}", batching.max_size, items.len());
        return refuse("BATCH_TOO_LARGE", message);
    }
    let forwarded = forwarded(router, headers, caller);
    let runs = items.into_iter().map(|item| {
        let forwarded = &forwarded;
        async move {
            match parse_body(router, caller, item).await {
                Ok(request) => router.execute(request, forwarded, false).await.body,
                Err(refusal) => refusal.body(),
            }
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let response = respond(StatusCode::OK, graphql_response, &Value::Array(results));
    Handled { response, operation: Some("__batch".into()), outcome: Outcome::Ok }
}

async fn graphql_get(State(router): State<Arc<Router>>, request: axum::extract::Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    if is_websocket_upgrade(&parts.headers) {
        return websocket(router, &mut parts).await;
    }
    let accept = Accept::from_headers(&parts.headers);
    let params = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
        Ok(Query(params)) => params,
        Err(rejection) => {
            let refused = Refused::bad_request(rejection.body_text());
            return refused.into_response(is_graphql_response(accept.json()));
        }
    };
    let (headers, extensions) = (parts.headers, parts.extensions);
    if let Some(kind) = accept.stream_only() {
        return event_stream(router, headers, extensions, EventSource::Get(params), kind).await;
    }
    let (router, headers, params) = (&router, &headers, &params);
    guarded(router, "GET /graphql", headers, &extensions, &accept, |caller, negotiated| async move {
        get_request(router, headers, &caller, params, negotiated).await
    })
    .await
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

fn subscriptions_disabled() -> Response {
    Refused::new(StatusCode::NOT_FOUND, "SUBSCRIPTIONS_DISABLED", "subscriptions are disabled").into_response(false)
}

/// A WebSocket upgrade on `/graphql`: `graphql-transport-ws` only; the partner key, a token in
/// the upgrade's headers and the rate limit are checked before upgrading (a token may also come
/// in `connection_init`).
async fn websocket(router: Arc<Router>, parts: &mut axum::http::request::Parts) -> Response {
    use crate::subscription::upstream::PROTOCOL;
    use axum::extract::FromRequestParts as _;
    if !router.subscriptions().settings.enabled {
        return subscriptions_disabled();
    }
    let offered = parts
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        let message = format!("WebSocket clients must offer the {PROTOCOL} subprotocol");
        return Refused::new(StatusCode::BAD_REQUEST, "UNSUPPORTED_SUBPROTOCOL", message).into_response(false);
    }
    let upgrade = match axum::extract::ws::WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let caller = match admit(&router, &parts.headers, peer(&parts.extensions), false, false).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Some(slot) = router.open_connection() else { return too_many_connections(&router) };
    // Small buffers (tungstenite allocates 128 KiB to read per socket by default: most of a
    // connection's memory); messages no larger than a request body may be.
    let max_message = router.config().body_limit_bytes;
    let connection = crate::subscription::ws::Connection { router, headers: parts.headers.clone(), caller, slot };
    upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| connection.run(socket))
}

fn too_many_connections(router: &Router) -> Response {
    router.metrics().refused("TOO_MANY_CONNECTIONS");
    let message = "the router holds as many subscription connections as it may; retry later";
    Refused::new(StatusCode::SERVICE_UNAVAILABLE, "TOO_MANY_CONNECTIONS", message).into_response(false)
}

/// Where a streamed request's operation comes from.
enum EventSource {
    Post(Bytes),
    Get(Vec<(String, String)>),
}

/// A request from a client that accepts only a stream (SSE or multipart): one operation per
/// request, whatever its kind. Refusals before execution are plain JSON errors with their status.
async fn event_stream(
    router: Arc<Router>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    source: EventSource,
    kind: StreamKind,
) -> Response {
    if !router.subscriptions().settings.enabled {
        return subscriptions_disabled();
    }
    let caller = match admit(&router, &headers, peer(&extensions), false, true).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let request = match source {
        EventSource::Post(body) => {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if content_type.split(';').next().unwrap_or("").trim() != crate::edge::accept::JSON {
                let message = "send the request as application/json";
                return Refused::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", message)
                    .into_response(false);
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(value) => parse_body(&router, &caller, value).await,
                Err(e) => Err(Refused::bad_request(format!("the body is not valid JSON: {e}"))),
            }
        }
        EventSource::Get(params) => match parse_get(&router, &caller, &params).await {
            Ok((request, _))
                if is_mutation(&request.query, request.operation_name.as_deref())
                    && !is_subscription(&request.query, request.operation_name.as_deref()) =>
            {
                return mutation_over_get(false);
            }
            other => other.map(|(request, _)| request),
        },
    };
    match request {
        Ok(request) => start_stream(&router, &headers, &caller, request, kind).await,
        Err(refusal) => refusal.into_response(false),
    }
}

/// Runs `request` as a stream of results in the `kind` framing (one result for a query or a
/// mutation), holding a connection slot under `max_connections` while it lasts.
async fn start_stream(
    router: &Arc<Router>,
    headers: &HeaderMap,
    caller: &Caller,
    request: GraphqlRequest,
    kind: StreamKind,
) -> Response {
    use crate::subscription::Subscribed;
    if !router.subscriptions().settings.enabled {
        return subscriptions_disabled();
    }
    let Some(slot) = router.open_connection() else { return too_many_connections(router) };
    let keepalive = router.subscriptions().settings.keepalive;
    let results = match router.subscribe(request, forwarded(router, headers, caller)).await {
        Subscribed::Single(response) if response.request_error => {
            return respond(StatusCode::BAD_REQUEST, false, &response.body);
        }
        Subscribed::Single(response) => Results::Once(Some(response.body.to_string().into())),
        Subscribed::Stream(stream) => Results::Stream(stream),
    };
    match kind {
        StreamKind::EventStream => framing::event_stream(results, slot, keepalive),
        StreamKind::Multipart => framing::multipart(results, slot, keepalive),
    }
}

fn is_subscription(query: &str, operation_name: Option<&str>) -> bool {
    operation_type(query, operation_name) == Some(apollo_compiler::ast::OperationType::Subscription)
}

fn mutation_over_get(graphql_response: bool) -> Response {
    let refused =
        Refused::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "mutations must be sent with POST");
    let mut response = refused.into_response(graphql_response);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

async fn get_request(
    router: &Arc<Router>,
    headers: &HeaderMap,
    caller: &Caller,
    params: &[(String, String)],
    negotiated: Negotiated,
) -> Handled {
    let (request, persisted) = match parse_get(router, caller, params).await {
        Ok(parsed) => parsed,
        Err(refusal) => return Handled::refused(refusal.into_response(negotiated.graphql_response)),
    };
    if is_mutation(&request.query, request.operation_name.as_deref())
        && !(negotiated.stream.is_some() && is_subscription(&request.query, request.operation_name.as_deref()))
    {
        return Handled::refused(mutation_over_get(negotiated.graphql_response));
    }
    let mut handled = run(router, headers, caller, request, negotiated).await;
    let cacheable = persisted && caller.is_anonymous(headers) && handled.outcome == Outcome::Ok;
    cache_control(router, &mut handled.response, cacheable);
    handled
}

/// `Cache-Control` of a GET answer: `public, max-age` for an anonymous persisted query answered
/// without errors (so a CDN may keep it), `no-store` otherwise — `private` too when the request
/// carried credentials. `Vary` names the headers that change the answer.
fn cache_control(router: &Router, response: &mut Response, cacheable: bool) {
    if response.headers().contains_key(header::CACHE_CONTROL) {
        return;
    }
    let max_age = router.config().cache_control_max_age.as_secs();
    let value = if cacheable && max_age > 0 {
        HeaderValue::from_str(&format!("public, max-age={max_age}")).ok()
    } else {
        Some(HeaderValue::from_static("private, no-store"))
    };
    let headers = response.headers_mut();
    if let Some(value) = value {
        headers.insert(header::CACHE_CONTROL, value);
    }
    let mut vary = vec!["accept".to_owned()];
    vary.extend(router.config().forward_headers.iter().cloned());
    if let Ok(value) = HeaderValue::from_str(&vary.join(", ")) {
        headers.insert(header::VARY, value);
    }
}

/// The operation of a GET request (`query` or `documentId`, `operationName`, `variables`,
/// `extensions` in the query string), and whether it is a persisted query.
async fn parse_get(
    router: &Router,
    caller: &Caller,
    params: &[(String, String)],
) -> Result<(GraphqlRequest, bool), Refused> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let variables = match param("variables") {
        None => Map::new(),
        Some(raw) => match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(v)) => v,
            Ok(Value::Null) => Map::new(),
            _ => return Err("`variables` must be a JSON object".into()),
        },
    };
    let extensions = match param("extensions") {
        None => None,
        Some(raw) => match serde_json::from_str::<Value>(&raw) {
            Ok(extensions @ Value::Object(_)) => Some(extensions),
            Ok(Value::Null) => None,
            _ => return Err("`extensions` must be a JSON object".into()),
        },
    };
    let query = param("query");
    let persisted = query.is_none();
    let query = resolve_query(router, caller, query, param("documentId"), extensions.as_ref()).await?;
    Ok((GraphqlRequest { query, operation_name: param("operationName"), variables }, persisted))
}

fn operation_type(query: &str, operation_name: Option<&str>) -> Option<apollo_compiler::ast::OperationType> {
    use apollo_compiler::ast::Definition;
    let document = apollo_compiler::ast::Document::parse(query, "request.graphql").ok()?;
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
    selected.map(|op| op.operation_type)
}

fn is_mutation(query: &str, operation_name: Option<&str>) -> bool {
    use apollo_compiler::ast::OperationType;
    // The syntax alone decides: GET never runs anything but a query, valid or not.
    operation_type(query, operation_name).is_some_and(|kind| kind != OperationType::Query)
}
