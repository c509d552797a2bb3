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
use crate::telemetry::Outcome;
use crate::{GraphqlRequest, Router};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

pub fn routes(router: Arc<Router>) -> HttpRouter {
    let limit = router.config().body_limit_bytes;
    let cors = cors_layer(&router.config().cors);
    let header_limits = router.config().header_limits;
    let routes = HttpRouter::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/metrics", get(metrics))
        .layer(RequestBodyLimitLayer::new(limit))
        .with_state(router);
    let routes = match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    // Outermost: oversized headers are refused before anything else reads them.
    routes.layer(axum::middleware::from_fn_with_state(header_limits, crate::header_limits::enforce))
}

async fn metrics(State(router): State<Arc<Router>>) -> Response {
    let mut response = router.metrics().render().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
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

pub(crate) fn forwarded(router: &Router, headers: &HeaderMap, caller: &Caller) -> Forwarded {
    let mut out = Forwarded { claims: caller.claims.clone(), ..Forwarded::default() };
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

async fn run(
    router: &Router,
    headers: &HeaderMap,
    caller: &Caller,
    request: GraphqlRequest,
    graphql_response: bool,
) -> Handled {
    let want_plan = headers.get("x-query-plan").is_some_and(|v| v == "true");
    let operation = request.operation_name.clone();
    let result = router.execute(request, &forwarded(router, headers, caller), want_plan).await;
    let status = if result.request_error && graphql_response { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let errors = result.body.get("errors").is_some_and(|e| e.as_array().is_some_and(|e| !e.is_empty()));
    let outcome = match (result.request_error, errors, result.body.get("data").is_some_and(|d| !d.is_null())) {
        (true, _, _) => Outcome::RequestError,
        (false, false, _) => Outcome::Ok,
        (false, true, true) => Outcome::Partial,
        (false, true, false) => Outcome::Error,
    };
    Handled { response: reply(status, graphql_response, &result.body), operation, outcome }
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

/// Who is calling, as the edge established it before the request is parsed.
#[derive(Default, Clone)]
pub(crate) struct Caller {
    pub(crate) partner: Option<Arc<crate::trusted::Client>>,
    pub(crate) claims: Option<Arc<crate::auth::Claims>>,
    /// The rate-limit bucket (also the access log's client).
    pub(crate) bucket: String,
}

/// The edge's checks, in order: CSRF, the partner's API key, the token, the rate limit or the
/// partner's quota. A refusal is answered before anything is parsed. WebSocket upgrades skip
/// the CSRF check (`csrf: false`): their token travels in `connection_init`, never in ambient
/// browser credentials.
async fn admit(
    router: &Router,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    graphql_response: bool,
    csrf: bool,
) -> Result<Caller, Response> {
    use crate::ratelimit::{ClientKey, Decision, Rule};
    let refuse = |status: StatusCode, code: &'static str, body: &Value| {
        router.metrics().refused(code);
        reply(status, graphql_response, body)
    };
    if csrf && let Err(refused) = router.config().csrf.check(headers) {
        return Err(refuse(refused.status, refused.code, &refused.body()));
    }
    let partner = router.partners().identify(headers).map_err(|e| {
        let refusal = Refusal::from(e);
        refuse(refusal.status, refusal.code.unwrap_or("BAD_REQUEST"), &refusal.body())
    })?;
    let claims = match router.authenticator() {
        Some(authenticator) => authenticator
            .authenticate(headers)
            .await
            .map_err(|failure| refuse(failure.status(), failure.code(), &failure.body()))?
            .map(Arc::new),
        None => None,
    };
    let key = match (&partner, claims.as_ref().and_then(|c| c.subject.as_ref())) {
        (Some(partner), _) => ClientKey::ApiKey(partner.name.clone()),
        (None, Some(subject)) => ClientKey::User(subject.clone()),
        (None, None) => {
            let peer = peer.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            ClientKey::Ip(crate::ratelimit::client_ip(peer, headers, &router.config().rate_limit.trusted_proxies))
        }
    };
    let bucket = key.bucket();
    if let Some(limiter) = router.limiter() {
        // A partner's quota replaces the per-client rule.
        let quota = partner
            .as_ref()
            .and_then(|p| p.quota)
            .and_then(|q| Rule::new(u32::try_from(q.requests).unwrap_or(u32::MAX), q.per).ok());
        let per_client = &router.config().rate_limit;
        let rule = quota.or_else(|| per_client.enabled.then_some(per_client.per_client));
        if let Some(rule) = rule
            && let Decision::Limited { retry_after } = limiter.check(&bucket, &rule).await
        {
            router.metrics().refused(crate::ratelimit::CODE);
            return Err(crate::ratelimit::limited_response(retry_after, graphql_response));
        }
    }
    Ok(Caller { partner, claims, bucket })
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

/// Why a request is refused before execution: status, code (if any) and message.
pub(crate) struct Refusal {
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

impl From<crate::trusted::TrustedError> for Refusal {
    fn from(error: crate::trusted::TrustedError) -> Self {
        Self { status: error.status(), code: Some(error.code()), message: error.to_string() }
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
    pub(crate) fn body(&self) -> Value {
        match self.code {
            Some(code) => json!({ "errors": [{ "message": self.message, "extensions": { "code": code } }] }),
            None => json!({ "errors": [{ "message": self.message }] }),
        }
    }

    fn respond(self, graphql_response: bool) -> Response {
        reply(self.status, graphql_response, &self.body())
    }
}

pub(crate) async fn parse_body(router: &Router, caller: &Caller, value: Value) -> Result<GraphqlRequest, Refusal> {
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
    let query = resolve_query(router, caller, query, document_id, object.get("extensions")).await?;
    Ok(GraphqlRequest { query, operation_name, variables })
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
) -> Result<String, Refusal> {
    use crate::trusted::{Source, TrustedError};
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
    body: Bytes,
) -> Response {
    if accepts_event_stream(&headers) {
        return event_stream(router, headers, extensions, EventSource::Post(body)).await;
    }
    let (router, headers) = (&router, &headers);
    guarded(router, "POST /graphql", headers, &extensions, |caller, graphql_response| async move {
        post(router, headers, &caller, body, graphql_response).await
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
    handle: F,
) -> Response
where
    F: FnOnce(Caller, bool) -> Fut,
    Fut: std::future::Future<Output = Handled>,
{
    observed(router, method, headers, async {
        let Ok(graphql_response) = wants_graphql_response(headers) else {
            let message = "accept application/graphql-response+json or application/json";
            return (Handled::refused(request_error(StatusCode::NOT_ACCEPTABLE, false, message)), String::new());
        };
        let caller = match admit(router, headers, peer(extensions), graphql_response, true).await {
            Ok(caller) => caller,
            Err(response) => return (Handled::refused(response), String::new()),
        };
        let bucket = caller.bucket.clone();
        (handle(caller, graphql_response).await, bucket)
    })
    .await
}

async fn post(router: &Router, headers: &HeaderMap, caller: &Caller, body: Bytes, graphql_response: bool) -> Handled {
    let refused = |status, message: &str| Handled::refused(request_error(status, graphql_response, message));
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/json" && media != GRAPHQL_RESPONSE {
        return refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the request as application/json");
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refused(StatusCode::BAD_REQUEST, &format!("the body is not valid JSON: {e}")),
    };
    if let Value::Array(items) = value {
        return run_batch(router, headers, caller, items, graphql_response).await;
    }
    match parse_body(router, caller, value).await {
        Ok(request) => run(router, headers, caller, request, graphql_response).await,
        Err(refusal) => Handled::refused(refusal.respond(graphql_response)),
    }
}

fn coded_error(status: StatusCode, graphql_response: bool, code: &str, message: &str) -> Response {
    reply(status, graphql_response, &json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))
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
    if !batching.enabled {
        let message = "batched requests are not enabled on this router";
        router.metrics().refused("BATCHING_DISABLED");
        return Handled::refused(coded_error(StatusCode::BAD_REQUEST, graphql_response, "BATCHING_DISABLED", message));
    }
    if items.is_empty() || items.len() > batching.max_size {
        let message = format!("a batch holds 1 to {} requests; this one has {}", batching.max_size, items.len());
        router.metrics().refused("BATCH_TOO_LARGE");
        return Handled::refused(coded_error(StatusCode::BAD_REQUEST, graphql_response, "BATCH_TOO_LARGE", &message));
    }
    let forwarded = forwarded(router, headers, caller);
    let runs = items.into_iter().map(|item| {
        let forwarded = &forwarded;
        async move {
            match parse_body(router, caller, item).await {
                Ok(request) => router.execute(request, forwarded, false).await.body,
                Err(refusal) => Refusal { code: Some(refusal.code.unwrap_or("BAD_REQUEST")), ..refusal }.body(),
            }
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let response = reply(StatusCode::OK, graphql_response, &Value::Array(results));
    Handled { response, operation: Some("__batch".into()), outcome: Outcome::Ok }
}

async fn graphql_get(State(router): State<Arc<Router>>, request: axum::extract::Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    if is_websocket_upgrade(&parts.headers) {
        return websocket(router, &mut parts).await;
    }
    let params = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
        Ok(Query(params)) => params,
        Err(rejection) => return request_error(StatusCode::BAD_REQUEST, false, &rejection.body_text()),
    };
    let (headers, extensions) = (parts.headers, parts.extensions);
    if accepts_event_stream(&headers) {
        return event_stream(router, headers, extensions, EventSource::Get(params)).await;
    }
    let (router, headers, params) = (&router, &headers, &params);
    guarded(router, "GET /graphql", headers, &extensions, |caller, graphql_response| async move {
        get_request(router, headers, &caller, params, graphql_response).await
    })
    .await
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// Whether the client asks for GraphQL over SSE (`Accept: text/event-stream`).
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/event-stream"))
}

/// A WebSocket upgrade on `/graphql`: `graphql-transport-ws` only; the partner key, a token in
/// the upgrade's headers and the rate limit are checked before upgrading (a token may also come
/// in `connection_init`).
async fn websocket(router: Arc<Router>, parts: &mut axum::http::request::Parts) -> Response {
    use crate::subscription::upstream::PROTOCOL;
    use axum::extract::FromRequestParts as _;
    if !router.subscriptions().settings.enabled {
        return coded_error(StatusCode::NOT_FOUND, false, "SUBSCRIPTIONS_DISABLED", "subscriptions are disabled");
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
        return coded_error(StatusCode::BAD_REQUEST, false, "UNSUPPORTED_SUBPROTOCOL", &message);
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
    coded_error(StatusCode::SERVICE_UNAVAILABLE, false, "TOO_MANY_CONNECTIONS", message)
}

/// Where an SSE request's operation comes from.
enum EventSource {
    Post(Bytes),
    Get(Vec<(String, String)>),
}

/// GraphQL over SSE ("distinct connections" mode): one operation per request; each result is an
/// `event: next`, the end an `event: complete`. Refusals before execution are plain JSON errors
/// with their status.
async fn event_stream(
    router: Arc<Router>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    source: EventSource,
) -> Response {
    use crate::subscription::Subscribed;
    use axum::response::sse::{Event, KeepAlive, Sse};
    if !router.subscriptions().settings.enabled {
        return coded_error(StatusCode::NOT_FOUND, false, "SUBSCRIPTIONS_DISABLED", "subscriptions are disabled");
    }
    let caller = match admit(&router, &headers, peer(&extensions), false, true).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let request = match source {
        EventSource::Post(body) => {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if content_type.split(';').next().unwrap_or("").trim() != "application/json" {
                return request_error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    false,
                    "send the request as application/json",
                );
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(value) => parse_body(&router, &caller, value).await,
                Err(e) => Err(Refusal::from(format!("the body is not valid JSON: {e}"))),
            }
        }
        EventSource::Get(params) => match parse_get(&router, &caller, &params).await {
            Ok(request)
                if is_mutation(&router, &request.query, request.operation_name.as_deref())
                    && !is_subscription(&request.query, request.operation_name.as_deref()) =>
            {
                let mut response =
                    request_error(StatusCode::METHOD_NOT_ALLOWED, false, "mutations must be sent with POST");
                response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
                return response;
            }
            other => other,
        },
    };
    let request = match request {
        Ok(request) => request,
        Err(refusal) => return refusal.respond(false),
    };
    let Some(slot) = router.open_connection() else { return too_many_connections(&router) };
    let keepalive = router.subscriptions().settings.keepalive;
    let forwarded = forwarded(&router, &headers, &caller);
    let results = match router.subscribe(request, forwarded).await {
        Subscribed::Single(response) if response.request_error => {
            return reply(StatusCode::BAD_REQUEST, false, &response.body);
        }
        Subscribed::Single(response) => Results::Once(Some(response.body.to_string().into())),
        Subscribed::Stream(stream) => Results::Stream(stream),
    };
    let events = futures_util::stream::unfold(Some((results, slot)), |state| async move {
        let (mut results, slot) = state?;
        let next = match &mut results {
            Results::Once(body) => body.take(),
            Results::Stream(stream) => stream.next().await,
        };
        let event = match next {
            Some(body) => (Event::default().event("next").data(&*body), Some((results, slot))),
            None => (Event::default().event("complete").data(""), None),
        };
        Some((Ok::<_, std::convert::Infallible>(event.0), event.1))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(keepalive)).into_response()
}

/// The results an SSE response streams.
enum Results {
    Once(Option<Arc<str>>),
    Stream(crate::subscription::ResponseStream),
}

fn is_subscription(query: &str, operation_name: Option<&str>) -> bool {
    operation_type(query, operation_name) == Some(apollo_compiler::ast::OperationType::Subscription)
}

async fn get_request(
    router: &Router,
    headers: &HeaderMap,
    caller: &Caller,
    params: &[(String, String)],
    graphql_response: bool,
) -> Handled {
    let request = match parse_get(router, caller, params).await {
        Ok(request) => request,
        Err(refusal) => return Handled::refused(refusal.respond(graphql_response)),
    };
    if is_mutation(router, &request.query, request.operation_name.as_deref()) {
        let mut response =
            request_error(StatusCode::METHOD_NOT_ALLOWED, graphql_response, "mutations must be sent with POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Handled::refused(response);
    }
    run(router, headers, caller, request, graphql_response).await
}

/// The operation of a GET request (`query` or `documentId`, `operationName`, `variables`,
/// `extensions` in the query string).
async fn parse_get(router: &Router, caller: &Caller, params: &[(String, String)]) -> Result<GraphqlRequest, Refusal> {
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
    let query = resolve_query(router, caller, param("query"), param("documentId"), extensions.as_ref()).await?;
    Ok(GraphqlRequest { query, operation_name: param("operationName"), variables })
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

fn is_mutation(_router: &Router, query: &str, operation_name: Option<&str>) -> bool {
    use apollo_compiler::ast::OperationType;
    // The syntax alone decides: GET never runs anything but a query, valid or not.
    operation_type(query, operation_name).is_some_and(|kind| kind != OperationType::Query)
}
