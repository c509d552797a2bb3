//! Subscriptions through the router, against two small subgraphs: `chat` owns the subscription
//! (its events reference users) and `users` resolves the users. Clients speak
//! `graphql-transport-ws` or GraphQL over SSE; the router subscribes to `chat` over WebSocket and
//! completes every event with the users' names from `users`.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::futures_util::Stream;
use async_graphql::{Context, Data, ErrorExtensions as _, ID, Object, Schema, SimpleObject, Subscription};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use futures_util::SinkExt as _;
use router::compose::{SubgraphSdl, compose};
use router::{Router, RouterConfig, Supergraph};
use serde_json::{Value, json};
use support::ws::Client;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as WsMessage;

// ---------------------------------------------------------------- the `chat` subgraph

#[derive(SimpleObject, Clone)]
#[graphql(name = "User", unresolvable = "id")]
struct UserRef {
    id: ID,
}

#[derive(SimpleObject, Clone)]
struct Post {
    room: String,
    text: String,
    author: UserRef,
    /// The `authorization` the subscription was opened with (forwarding is visible).
    seen_token: Option<String>,
}

/// What the test publishes into `chat`.
#[derive(Clone)]
struct Published {
    room: String,
    text: String,
    author: String,
}

/// The chat subgraph's shared state: published posts, and the token of each connection.
#[derive(Clone)]
struct Hub {
    posts: broadcast::Sender<Published>,
    /// How many subscriptions were opened on the subgraph (counts sharing).
    opened: Arc<Mutex<usize>>,
}

struct Token(Option<String>);

struct ChatQuery;

#[Object(name = "Query")]
impl ChatQuery {
    async fn rooms(&self) -> Vec<String> {
        vec!["general".into()]
    }
}

struct ChatSubscription;

#[Subscription(name = "Subscription")]
impl ChatSubscription {
    async fn posts(&self, ctx: &Context<'_>, room: String) -> async_graphql::Result<impl Stream<Item = Post>> {
        let hub = ctx.data::<Hub>()?.clone();
        let token = ctx.data_opt::<Token>().and_then(|t| t.0.clone());
        if room == "forbidden" {
            return Err(
                async_graphql::Error::new("not a member of this room").extend_with(|_, e| e.set("code", "FORBIDDEN"))
            );
        }
        *hub.opened.lock().expect("lock") += 1;
        let receiver = hub.posts.subscribe();
        Ok(futures_util::stream::unfold(receiver, move |mut receiver| {
            let (room, token) = (room.clone(), token.clone());
            async move {
                loop {
                    match receiver.recv().await {
                        Ok(post) if post.room == room => {
                            let post = Post {
                                room: post.room,
                                text: post.text,
                                author: UserRef { id: ID(post.author) },
                                seen_token: token,
                            };
                            return Some((post, receiver));
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        }))
    }
}

type ChatSchema = Schema<ChatQuery, async_graphql::EmptyMutation, ChatSubscription>;

// ---------------------------------------------------------------- the `users` subgraph

#[derive(SimpleObject)]
struct User {
    id: ID,
    name: String,
}

struct UsersQuery;

#[Object(name = "Query")]
impl UsersQuery {
    async fn user(&self, id: ID) -> User {
        User { name: format!("name of {}", id.0), id }
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> User {
        ctx.data_unchecked::<Lookups>().0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        User { name: format!("name of {}", id.0), id }
    }
}

/// How many users the `users` subgraph resolved as entities.
#[derive(Clone, Default)]
struct Lookups(Arc<std::sync::atomic::AtomicUsize>);

type UsersSchema = Schema<UsersQuery, async_graphql::EmptyMutation, async_graphql::EmptySubscription>;

async fn users_post<Q, M, S>(State(schema): State<Schema<Q, M, S>>, request: GraphQLRequest) -> GraphQLResponse
where
    Q: async_graphql::ObjectType + 'static,
    M: async_graphql::ObjectType + 'static,
    S: async_graphql::SubscriptionType + 'static,
{
    schema.execute(request.into_inner()).await.into()
}

/// Stops a running `chat`: no new connections, and open WebSockets drop without `complete` (as
/// when the process dies).
type Kill = broadcast::Sender<()>;

async fn chat_post(State((schema, _)): State<(ChatSchema, Kill)>, request: GraphQLRequest) -> GraphQLResponse {
    schema.execute(request.into_inner()).await.into()
}

async fn chat_ws(
    State((schema, kill)): State<(ChatSchema, Kill)>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let mut killed = kill.subscribe();
    upgrade.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| async move {
        let serve = GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(|payload| async move {
                let token = payload.get("authorization").and_then(Value::as_str).map(str::to_owned);
                let mut data = Data::default();
                data.insert(Token(token));
                Ok(data)
            })
            .serve();
        tokio::select! {
            _ = serve => {}
            _ = killed.recv() => {}
        }
    })
}

/// Serves `chat` on `listener` until the returned sender fires.
fn serve_chat(schema: ChatSchema, listener: tokio::net::TcpListener) -> Kill {
    let (kill, _) = broadcast::channel(1);
    let app = axum::Router::new()
        .route("/graphql", axum::routing::post(chat_post).get(chat_ws))
        .with_state((schema, kill.clone()));
    let mut killed = kill.subscribe();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { drop(killed.recv().await) })
            .await
            .expect("serves");
    });
    kill
}

// ---------------------------------------------------------------- the graph

struct Graph {
    router: SocketAddr,
    hub: Hub,
    chat_schema: ChatSchema,
    chat_addr: SocketAddr,
    kill_chat: Kill,
    router_handle: Arc<Router>,
    /// What the router serves through (hot reload swaps routers in it).
    live: Arc<router::reload::Live>,
    supergraph: String,
    lookups: Lookups,
}

async fn start(configure: impl FnOnce(&mut RouterConfig)) -> Graph {
    let hub = Hub { posts: broadcast::channel(64).0, opened: Arc::default() };
    let chat_schema: ChatSchema = Schema::build(ChatQuery, async_graphql::EmptyMutation, ChatSubscription)
        .data(hub.clone())
        .enable_federation()
        .enable_subscription_in_federation()
        .finish();
    let lookups = Lookups::default();
    let users_schema: UsersSchema =
        Schema::build(UsersQuery, async_graphql::EmptyMutation, async_graphql::EmptySubscription)
            .data(lookups.clone())
            .enable_federation()
            .finish();
    let federation = || async_graphql::SDLExportOptions::new().federation();
    let (chat_listener, chat_addr) = support::listen().await;
    let (users_listener, users_addr) = support::listen().await;
    let supergraph = compose(&[
        SubgraphSdl {
            name: "chat".into(),
            url: format!("http://{chat_addr}/graphql"),
            sdl: chat_schema.sdl_with_options(federation()),
        },
        SubgraphSdl {
            name: "users".into(),
            url: format!("http://{users_addr}/graphql"),
            sdl: users_schema.sdl_with_options(federation()),
        },
    ])
    .expect("composes");
    let kill_chat = serve_chat(chat_schema.clone(), chat_listener);
    let users_app = axum::Router::new()
        .route("/graphql", axum::routing::post(users_post::<UsersQuery, _, _>))
        .with_state(users_schema);
    tokio::spawn(async move { axum::serve(users_listener, users_app).await.expect("serves") });

    let mut config = RouterConfig::default();
    config.subscriptions.reconnect_backoff = Duration::from_millis(20);
    configure(&mut config);
    let router = Arc::new(Router::new(Supergraph::parse(&supergraph).expect("valid supergraph"), config));
    let (listener, addr) = support::listen().await;
    let live = router::reload::Live::new(router.clone());
    let app = live.app().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    Graph { router: addr, hub, chat_schema, chat_addr, kill_chat, router_handle: router, live, supergraph, lookups }
}

impl Graph {
    fn publish(&self, room: &str, text: &str, author: &str) {
        let post = Published { room: room.into(), text: text.into(), author: author.into() };
        let _ = self.hub.posts.send(post);
    }

    /// Waits (bounded) until `n` subscriptions listen to `chat`'s posts.
    async fn until_listening(&self, n: usize) {
        for _ in 0..400 {
            if self.hub.posts.receiver_count() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} listeners on chat, found {}", self.hub.posts.receiver_count());
    }

    async fn connect(&self) -> Client {
        Client::connect(self.router, &["graphql-transport-ws"]).await.expect("connects")
    }
}

const POSTS: &str = "subscription($room: String!) { posts(room: $room) { text author { id name } seenToken } }";

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn events_arrive_with_fields_from_another_subgraph_and_the_token_is_forwarded() {
    let graph = start(|_| {}).await;
    let mut client = graph.connect().await;
    client.init(json!({ "authorization": "Bearer token-of-ann" })).await;
    client.subscribe("1", POSTS, json!({ "room": "general" })).await;
    graph.until_listening(1).await;
    graph.publish("general", "hello", "u-1");
    graph.publish("elsewhere", "not for us", "u-9");
    graph.publish("general", "again", "u-2");
    let first = client.receive().await;
    assert_eq!(first["type"], "next");
    assert_eq!(first["id"], "1");
    assert_eq!(
        first["payload"],
        json!({ "data": { "posts": { "text": "hello", "author": { "id": "u-1", "name": "name of u-1" },
                                     "seenToken": "Bearer token-of-ann" } } })
    );
    let second = client.receive().await;
    assert_eq!(second["payload"]["data"]["posts"]["author"]["name"], "name of u-2");

    // The client completes: the router completes the upstream subscription.
    client.send(json!({ "id": "1", "type": "complete" })).await;
    graph.until_listening(0).await;
    assert_eq!(graph.router_handle.subscriptions().upstreams.open_count(), 0);
}

#[tokio::test]
async fn identical_subscriptions_share_one_upstream_and_different_tokens_do_not() {
    // Without in-flight de-duplication towards `users`: every entity lookup the router makes
    // reaches it, so the count below shows the plan ran once per event and token.
    let graph = start(|config| {
        let no_dedup = router::config::SubgraphSettings { dedup: false, ..Default::default() };
        config.subgraphs.insert("users".into(), no_dedup);
    })
    .await;
    let mut ann = graph.connect().await;
    ann.init(json!({ "authorization": "Bearer ann" })).await;
    let mut ann_again = graph.connect().await;
    ann_again.init(json!({ "authorization": "Bearer ann" })).await;
    let mut bob = graph.connect().await;
    bob.init(json!({ "authorization": "Bearer bob" })).await;
    for client in [&mut ann, &mut ann_again, &mut bob] {
        client.subscribe("s", POSTS, json!({ "room": "general" })).await;
    }
    // Ann's two subscriptions share one upstream; Bob's token opens his own.
    graph.until_listening(2).await;
    assert_eq!(*graph.hub.opened.lock().expect("lock"), 2);
    graph.publish("general", "to all", "u-1");
    for (client, token) in [(&mut ann, "Bearer ann"), (&mut ann_again, "Bearer ann"), (&mut bob, "Bearer bob")] {
        let next = client.receive().await;
        assert_eq!(next["payload"]["data"]["posts"]["text"], "to all");
        assert_eq!(next["payload"]["data"]["posts"]["seenToken"], token, "nobody gets another's answer");
    }
    // Ann's two identical subscriptions share one execution of the rest of the plan: two
    // lookups of the author for three deliveries.
    assert_eq!(graph.lookups.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    // One of Ann's clients leaves: the shared upstream stays for the other.
    drop(ann_again);
    graph.publish("general", "still here", "u-1");
    assert_eq!(ann.receive().await["payload"]["data"]["posts"]["text"], "still here");
    assert_eq!(graph.hub.posts.receiver_count(), 2);
    drop(ann);
    drop(bob);
    graph.until_listening(0).await;
}

#[tokio::test]
async fn sse_streams_events_and_ends_the_upstream_when_the_client_leaves() {
    let graph = start(|_| {}).await;
    let response = reqwest::Client::new()
        .post(format!("http://{}/graphql", graph.router))
        .header("accept", "text/event-stream")
        .header("authorization", "Bearer sse-user")
        .json(&json!({ "query": POSTS, "variables": { "room": "general" } }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("text").starts_with("text/event-stream"));
    graph.until_listening(1).await;
    graph.publish("general", "over sse", "u-3");
    let mut body = response;
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.chunk()).await.expect("in time");
        text.push_str(std::str::from_utf8(&chunk.expect("a chunk").expect("bytes")).expect("UTF-8"));
    }
    let event = text.split("\n\n").next().expect("an event");
    assert!(event.starts_with("event: next\n"), "{event}");
    let data: Value = serde_json::from_str(event.trim_start_matches("event: next\ndata: ")).expect("JSON data");
    assert_eq!(data["data"]["posts"]["author"]["name"], "name of u-3");
    assert_eq!(data["data"]["posts"]["seenToken"], "Bearer sse-user");
    drop(body);
    graph.until_listening(0).await;
}

#[tokio::test]
async fn multipart_http_streams_events_as_apollo_client_asks_and_queries_stay_json() {
    let graph = start(|_| {}).await;
    // Apollo Client's `Accept` for a subscription over HTTP.
    let accept = "multipart/mixed;boundary=\"graphql\";subscriptionSpec=1.0,application/json";
    let response = reqwest::Client::new()
        .post(format!("http://{}/graphql", graph.router))
        .header("accept", accept)
        .header("authorization", "Bearer multipart-user")
        .json(&json!({ "query": POSTS, "variables": { "room": "general" } }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("text").to_owned();
    assert!(content_type.starts_with("multipart/mixed") && content_type.contains("subscriptionSpec"), "{content_type}");
    graph.until_listening(1).await;
    graph.publish("general", "over multipart", "u-4");
    let mut body = response;
    let mut text = String::new();
    while !text.contains("\"payload\"") || !text.ends_with('}') {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.chunk()).await.expect("in time");
        text.push_str(std::str::from_utf8(&chunk.expect("a chunk").expect("bytes")).expect("UTF-8"));
    }
    let part = text.rsplit("\r\n\r\n").next().expect("a part's body");
    assert!(text.contains("--graphql\r\ncontent-type: application/json\r\n"), "{text}");
    let data: Value = serde_json::from_str(part).expect("JSON part");
    assert_eq!(data["payload"]["data"]["posts"]["author"]["name"], "name of u-4");
    assert_eq!(data["payload"]["data"]["posts"]["seenToken"], "Bearer multipart-user");
    drop(body);
    graph.until_listening(0).await;

    // The same `Accept` on a query: one JSON answer.
    let response = reqwest::Client::new()
        .post(format!("http://{}/graphql", graph.router))
        .header("accept", accept)
        .json(&json!({ "query": "{ rooms }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({ "data": { "rooms": ["general"] } }));
}

#[tokio::test]
async fn queries_run_once_over_both_transports() {
    let graph = start(|_| {}).await;
    let mut client = graph.connect().await;
    client.init(json!({})).await;
    client.subscribe("q", "{ rooms user(id: \"u-5\") { name } }", json!({})).await;
    let next = client.receive().await;
    assert_eq!(next["payload"], json!({ "data": { "rooms": ["general"], "user": { "name": "name of u-5" } } }));
    assert_eq!(client.receive().await, json!({ "id": "q", "type": "complete" }));

    let text = reqwest::Client::new()
        .get(format!("http://{}/graphql?query={{rooms}}", graph.router))
        .header("accept", "text/event-stream")
        // GET is guarded against CSRF like any GET: a non-simple header proves it is no form.
        .header("apollo-require-preflight", "true")
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("a body");
    assert!(text.starts_with("event: next\ndata: {\"data\":{\"rooms\":[\"general\"]}}\n\n"), "{text}");
    assert!(text.contains("event: complete\n"), "{text}");
}

#[tokio::test]
async fn refused_operations_get_an_error_message_and_the_connection_stays() {
    let graph = start(|_| {}).await;
    let mut client = graph.connect().await;
    client.init(json!({})).await;
    client.subscribe("bad", "subscription { nope }", json!({})).await;
    let error = client.receive().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "bad");
    assert_eq!(error["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{error}");
    // The subgraph refuses: the client gets its error, then complete.
    client.subscribe("f", POSTS, json!({ "room": "forbidden" })).await;
    let refused = client.receive().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    assert_eq!(client.receive().await, json!({ "id": "f", "type": "complete" }));
    // Still usable.
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.receive().await["type"], "pong");
}

#[tokio::test]
async fn protocol_violations_close_with_the_protocols_codes() {
    let graph = start(|config| config.subscriptions.init_timeout = Duration::from_millis(200)).await;

    let mut early = graph.connect().await;
    early.subscribe("1", POSTS, json!({ "room": "general" })).await;
    assert_eq!(early.closed().await.0, 4401, "subscribe before connection_ack");

    let mut twice = graph.connect().await;
    twice.init(json!({})).await;
    twice.send(json!({ "type": "connection_init" })).await;
    assert_eq!(twice.closed().await.0, 4429, "a second connection_init");

    let mut duplicate = graph.connect().await;
    duplicate.init(json!({})).await;
    duplicate.subscribe("same", POSTS, json!({ "room": "general" })).await;
    duplicate.subscribe("same", POSTS, json!({ "room": "general" })).await;
    let (code, reason) = duplicate.closed().await;
    assert_eq!((code, reason.as_str()), (4409, "Subscriber for same already exists"));

    let mut garbage = graph.connect().await;
    garbage.socket.send(WsMessage::text("not json")).await.expect("sent");
    assert_eq!(garbage.closed().await.0, 4400, "a message that is not JSON");

    let mut unknown = graph.connect().await;
    unknown.send(json!({ "type": "hello" })).await;
    assert_eq!(unknown.closed().await.0, 4400, "an unknown type");

    let mut silent = graph.connect().await;
    assert_eq!(silent.closed().await.0, 4408, "no connection_init in time");

    // Without the subprotocol the upgrade is refused.
    let refused = Client::connect(graph.router, &[]).await.err().expect("refused");
    assert!(refused.to_string().contains("400"), "{refused}");
}

#[tokio::test]
async fn connections_and_subscriptions_per_connection_are_limited() {
    let graph = start(|config| {
        config.subscriptions.max_connections = 2;
        config.subscriptions.max_per_connection = 1;
    })
    .await;
    let mut first = graph.connect().await;
    first.init(json!({})).await;
    first.subscribe("1", POSTS, json!({ "room": "general" })).await;
    first.subscribe("2", POSTS, json!({ "room": "general" })).await;
    let refused = first.receive().await;
    assert_eq!(refused["id"], "2");
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS");

    let _second = graph.connect().await;
    let third = Client::connect(graph.router, &["graphql-transport-ws"]).await.err().expect("refused");
    assert!(third.to_string().contains("503"), "{third}");
    drop(first);
    // The slot comes back once the first connection is gone.
    let mut again = None;
    for _ in 0..200 {
        if let Ok(client) = Client::connect(graph.router, &["graphql-transport-ws"]).await {
            again = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(again.is_some(), "a closed connection frees its slot");
}

#[tokio::test]
async fn a_restarted_subgraph_is_resubscribed_and_a_lost_one_ends_with_a_clean_error() {
    let graph = start(|config| config.subscriptions.reconnect_attempts = 3).await;
    let mut client = graph.connect().await;
    client.init(json!({})).await;
    client.subscribe("1", POSTS, json!({ "room": "general" })).await;
    graph.until_listening(1).await;

    // The subgraph goes away and comes back on the same address: the router subscribes again.
    let _ = graph.kill_chat.send(());
    graph.until_listening(0).await;
    let listener = loop {
        match tokio::net::TcpListener::bind(graph.chat_addr).await {
            Ok(listener) => break listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let kill = serve_chat(graph.chat_schema.clone(), listener);
    graph.until_listening(1).await;
    graph.publish("general", "after the restart", "u-1");
    let next = client.receive().await;
    assert_eq!(next["payload"]["data"]["posts"]["text"], "after the restart", "{next}");

    // Gone for good: after its attempts the router ends the subscription with an error.
    let _ = kill.send(());
    let failed = client.receive().await;
    assert_eq!(failed["type"], "next", "{failed}");
    assert_eq!(failed["payload"]["errors"][0]["extensions"]["code"], "SUBSCRIPTION_UPSTREAM_LOST", "{failed}");
    assert_eq!(client.receive().await, json!({ "id": "1", "type": "complete" }));
}

#[tokio::test]
async fn a_subscription_keeps_the_router_it_started_on_across_a_reload() {
    let graph = start(|_| {}).await;
    let mut client = graph.connect().await;
    client.init(json!({})).await;
    client.subscribe("1", POSTS, json!({ "room": "general" })).await;
    graph.until_listening(1).await;

    // The new router refuses subscriptions: new connections see it, the open one does not.
    let mut config = RouterConfig::default();
    config.subscriptions.enabled = false;
    graph.live.replace(Arc::new(Router::new(Supergraph::parse(&graph.supergraph).expect("valid"), config)));
    let refused = Client::connect(graph.router, &["graphql-transport-ws"]).await.err().expect("refused");
    assert!(refused.to_string().contains("404"), "{refused}");

    graph.publish("general", "after the reload", "u-7");
    let next = client.receive().await;
    assert_eq!(next["payload"]["data"]["posts"]["author"]["name"], "name of u-7", "{next}");
}

#[tokio::test]
async fn a_refused_token_in_connection_init_closes_with_4403_and_no_token_is_anonymous() {
    let graph = start(|config| {
        config.authentication = Some(router::config::authentication::AuthSettings::new(vec![
            router::config::authentication::JwksSettings {
                // Never fetched: a malformed token is refused before any key is looked up.
                url: "http://127.0.0.1:9/.well-known/jwks.json".into(),
                issuer: "edustream-identity".into(),
                audiences: vec!["edustream".into()],
                algorithms: vec![jsonwebtoken::Algorithm::EdDSA],
            },
        ]));
    })
    .await;
    let mut forged = graph.connect().await;
    forged.send(json!({ "type": "connection_init", "payload": { "authorization": "Bearer not-a-jwt" } })).await;
    let (code, reason) = forged.closed().await;
    assert_eq!((code, reason.as_str()), (4403, "Forbidden: UNAUTHENTICATED"));

    let mut anonymous = graph.connect().await;
    anonymous.init(json!({})).await;
    anonymous.subscribe("1", POSTS, json!({ "room": "general" })).await;
    graph.until_listening(1).await;
    let metrics =
        reqwest::get(format!("http://{}/metrics", graph.router)).await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("router_refusals_total{code=\"UNAUTHENTICATED\"} 1"), "{metrics}");
    assert!(metrics.contains("router_live{kind=\"upstreams\"} 1"), "{metrics}");
}
