//! `serve()`: the HTTP surface every subgraph exposes.
//!
//! - `/graphql`: POST and GET (GraphQL over HTTP; GET only for queries), and WebSocket
//!   (`graphql-transport-ws`) on the same path; a bearer token becomes the [`AuthContext`].
//! - `/health/live`, `/health/ready` (the database and the bus answer), `/metrics`.
//! - a request body limit, and a graceful shutdown that drains in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::parse_query_string;
use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kernel::ErrorCode;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument as _;

use crate::auth::{AuthContext, AuthError, ClientIp, TokenVerifier};
use crate::bus::EventBus;
use crate::db::Db;
use crate::shutdown::Shutdown;

/// What `/health/ready` checks.
#[derive(Clone)]
pub struct Readiness {
    pub db: Db,
    pub bus: Arc<dyn EventBus>,
}

impl Readiness {
    async fn check(&self) -> (bool, bool) {
        let check = async { tokio::join!(self.db.ping(), self.bus.is_ready()) };
        tokio::time::timeout(Duration::from_secs(3), check).await.unwrap_or((false, false))
    }
}

struct GraphqlState<E> {
    executor: E,
    verifier: Option<TokenVerifier>,
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// How `/graphql` authenticates and where client addresses come from.
#[derive(Clone, Default)]
pub struct GraphqlOptions {
    /// `None`: every request is anonymous (no keys configured).
    pub verifier: Option<TokenVerifier>,
    /// The router's addresses (`TRUSTED_PROXIES`): from these, the client address is read from
    /// `X-Forwarded-For`; from anyone else the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// `/graphql` for an executor (an async-graphql `Schema`).
pub fn graphql_routes<E: Executor>(executor: E, options: GraphqlOptions) -> Router {
    let state =
        Arc::new(GraphqlState { executor, verifier: options.verifier, trusted_proxies: options.trusted_proxies });
    Router::new().route("/graphql", get(graphql_get::<E>).post(graphql_post::<E>)).with_state(state)
}

/// `/health/live`, `/health/ready` and `/metrics`.
pub fn operations_routes(readiness: Readiness) -> Router {
    // Install the recorder now, so that metrics recorded before the first scrape are kept.
    crate::telemetry::metrics_handle();
    Router::new()
        .route("/health/live", get(|| async { Json(serde_json::json!({ "status": "live" })) }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(readiness)
}

/// Adds the body limit to a service's full router.
pub fn with_limits(router: Router, body_limit_bytes: usize) -> Router {
    router.layer(RequestBodyLimitLayer::new(body_limit_bytes))
}

async fn ready(State(readiness): State<Readiness>) -> Response {
    let (database, bus) = readiness.check().await;
    let status = if database && bus { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "database": if database { "up" } else { "down" },
        "bus": if bus { "up" } else { "down" },
    });
    (status, Json(body)).into_response()
}

async fn metrics() -> Response {
    let body = crate::telemetry::metrics_handle().render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn graphql_post<E: Executor>(State(state): State<Arc<GraphqlState<E>>>, request: Request) -> Response {
    let span = crate::telemetry::request_span(request.method(), request.headers());
    execute_post(state, request).instrument(span).await
}

async fn execute_post<E: Executor>(state: Arc<GraphqlState<E>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let data = match request_data(&state, &parts).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let request = Request::from_parts(parts, body);
    match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(request, &()).await {
        Ok(gql) => {
            let gql = gql.into_inner().data(data.0).data(data.1);
            GraphQLResponse::from(state.executor.execute(gql).await).into_response()
        }
        Err(rejection) => bad_request(&rejection.0.to_string()),
    }
}

async fn graphql_get<E: Executor>(State(state): State<Arc<GraphqlState<E>>>, request: Request) -> Response {
    let is_upgrade =
        request.headers().get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if is_upgrade {
        return websocket(state, request).await;
    }
    let span = crate::telemetry::request_span(request.method(), request.headers());
    execute_get(state, request).instrument(span).await
}

async fn execute_get<E: Executor>(state: Arc<GraphqlState<E>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let data = match request_data(&state, &parts).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let gql = match parse_query_string(parts.uri.query().unwrap_or_default()) {
        Ok(gql) => gql,
        Err(error) => return bad_request(&error.to_string()),
    };
    // GraphQL over HTTP: GET must not change state.
    if !is_query_operation(&gql.query, gql.operation_name.as_deref()) {
        let body = error_body(ErrorCode::BadUserInput, "only queries may be sent with GET; use POST for mutations");
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], Json(body)).into_response();
    }
    let gql = gql.data(data.0).data(data.1);
    GraphQLResponse::from(state.executor.execute(gql).await).into_response()
}

/// Whether the selected operation is a query (a parse error is left to the executor to report).
fn is_query_operation(query: &str, operation_name: Option<&str>) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(document) = async_graphql::parser::parse_query(query) else { return true };
    let ty = match &document.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops.get(name).map(|op| op.node.ty),
            None => ops.values().next().map(|op| op.node.ty),
        },
    };
    ty.is_none_or(|ty| ty == OperationType::Query)
}

async fn websocket<E: Executor>(state: Arc<GraphqlState<E>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(_) => return bad_request("Sec-WebSocket-Protocol must be graphql-transport-ws"),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let ip = client_ip(&state, &parts.headers, parts.extensions.get::<ConnectInfo<SocketAddr>>());
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let verifier = state.verifier.clone();
            GraphQLWebSocket::new(socket, state.executor.clone(), protocol)
                .on_connection_init(move |payload| connection_init(verifier, ip, payload))
                .serve()
                .await
        })
        .into_response()
}

/// The token of a WebSocket comes in `connection_init`: `{"authorization": "Bearer …"}`.
async fn connection_init(
    verifier: Option<TokenVerifier>,
    ip: ClientIp,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let header = payload.get("authorization").or_else(|| payload.get("Authorization")).and_then(|v| v.as_str());
    let token = header.map(|h| h.strip_prefix("Bearer ").unwrap_or(h).trim().to_owned());
    let auth = authenticate(verifier.as_ref(), token.as_deref())
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
    let mut data = Data::default();
    data.insert(auth);
    data.insert(ip);
    Ok(data)
}

async fn request_data<E>(state: &GraphqlState<E>, parts: &Parts) -> Result<(AuthContext, ClientIp), Response> {
    let ip = client_ip(state, &parts.headers, parts.extensions.get::<ConnectInfo<SocketAddr>>());
    let token = match bearer_token(&parts.headers) {
        Ok(token) => token,
        Err(message) => return Err(unauthorized(message)),
    };
    match authenticate(state.verifier.as_ref(), token).await {
        Ok(auth) => Ok((auth, ip)),
        Err(error) => Err(unauthorized(&error.to_string())),
    }
}

async fn authenticate(verifier: Option<&TokenVerifier>, token: Option<&str>) -> Result<AuthContext, AuthError> {
    let Some(token) = token else { return Ok(AuthContext::default()) };
    let verifier = verifier.ok_or_else(|| AuthError::Invalid("this service accepts no tokens".into()))?;
    let principal = verifier.principal(token).await?;
    Ok(AuthContext { principal: Some(principal) })
}

fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| "the Authorization header is not valid text")?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err("the Authorization header must be `Bearer <access token>`"),
    }
}

fn client_ip<E>(state: &GraphqlState<E>, headers: &HeaderMap, connect: Option<&ConnectInfo<SocketAddr>>) -> ClientIp {
    ClientIp(connect.map(|c| forwarded_client(c.0.ip(), headers, &state.trusted_proxies)))
}

/// The client behind `peer`: when `peer` is a trusted proxy (the router), the nearest address in
/// `X-Forwarded-For` that is not itself trusted, read from the right (each proxy appends what
/// it saw; entries further left were written by the client and prove nothing); else `peer`.
pub fn forwarded_client(peer: std::net::IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> std::net::IpAddr {
    let is_trusted =
        |ip: std::net::IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()) || net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter().rev().find(|hop| !is_trusted(*hop)).unwrap_or(peer)
}

fn error_body(code: ErrorCode, message: &str) -> serde_json::Value {
    serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
}

fn unauthorized(message: &str) -> Response {
    let body = error_body(ErrorCode::Unauthenticated, message);
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(body)).into_response()
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(error_body(ErrorCode::BadUserInput, message))).into_response()
}

/// Serves `router` on `listener` until `shutdown`, then lets in-flight requests finish for up
/// to `grace`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: Shutdown, grace: Duration) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let drained = shutdown.clone();
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { drained.wait().await });
    let server = tokio::spawn(async move { server.await });
    shutdown.wait().await;
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => {
            tracing::warn!(%addr, ?grace, "in-flight requests did not finish within the grace period");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_client_is_believed_only_from_trusted_proxies() {
        let router: std::net::IpAddr = "10.0.0.5".parse().expect("ip");
        let stranger: std::net::IpAddr = "198.51.100.9".parse().expect("ip");
        let trusted = crate::config::parse_proxies("10.0.0.0/24").expect("valid");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.1, 203.0.113.7".parse().expect("value"));
        assert_eq!(
            forwarded_client(router, &headers, &trusted),
            "203.0.113.7".parse::<std::net::IpAddr>().expect("ip")
        );
        assert_eq!(forwarded_client(stranger, &headers, &trusted), stranger, "a stranger's header is ignored");
        assert_eq!(forwarded_client(router, &headers, &[]), router, "nothing trusted by default");
        headers.insert("x-forwarded-for", "203.0.113.1, 10.0.0.9".parse().expect("value"));
        assert_eq!(
            forwarded_client(router, &headers, &trusted),
            "203.0.113.1".parse::<std::net::IpAddr>().expect("ip"),
            "trusted hops are skipped"
        );
        assert_eq!(forwarded_client(router, &HeaderMap::new(), &trusted), router);
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let proxies = crate::config::parse_proxies("127.0.0.1, ::1, 10.0.0.0/8").expect("valid");
        assert_eq!(proxies.len(), 3);
        assert!(crate::config::parse_proxies("router").is_err());
    }

    #[test]
    fn get_carries_only_queries() {
        assert!(is_query_operation("{ me { id } }", None));
        assert!(!is_query_operation("mutation { logout(refreshToken: \"x\") }", None));
        assert!(!is_query_operation("query A { a } mutation B { b }", Some("B")));
        assert!(is_query_operation("query A { a } mutation B { b }", Some("A")));
    }

    #[test]
    fn only_bearer_tokens_are_accepted() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), Ok(None));
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().expect("valid header"));
        assert_eq!(bearer_token(&headers), Ok(Some("abc")));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().expect("valid header"));
        assert!(bearer_token(&headers).is_err());
    }
}
