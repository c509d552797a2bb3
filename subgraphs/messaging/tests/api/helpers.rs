//! `spawn()`: messaging on a fresh database beside a real identity, on the graph's bus
//! (RabbitMQ when `AMQP_URL` names one, see `testkit::Graph::start_on_broker`); a
//! `graphql-transport-ws` client for the subscriptions; bounded waits instead of sleeps.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use messaging::service::MessagingService;
use platform::Env;
use platform::db::Db;
use platform::live::Fanout;
use serde_json::{Value, json};
pub use testkit::{User, code};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

pub struct Stack {
    pub graph: testkit::Graph,
    pub messaging: SocketAddr,
    pub service: Arc<MessagingService>,
    pub db: Db,
}

impl std::ops::Deref for Stack {
    type Target = testkit::Graph;
    fn deref(&self) -> &testkit::Graph {
        &self.graph
    }
}

/// Sends are limited far above what the tests send, except where a test sets the limit.
pub const GENEROUS: [(&str, &str); 2] = [("MESSAGE_RATE_PER_MINUTE", "100000"), ("MESSAGE_RATE_BURST", "10000")];

pub async fn spawn() -> Stack {
    spawn_with(&GENEROUS).await
}

/// Messaging with extra settings (`env`), its live updates in-process.
pub async fn spawn_with(env: &[(&str, &str)]) -> Stack {
    let graph = testkit::Graph::start_on_broker(&["messaging"]).await;
    let mut messaging_env = graph.env_for("messaging").await;
    for (name, value) in env {
        messaging_env = messaging_env.with(name, *value);
    }
    let replica = replica(&graph, &messaging_env, Fanout::in_process()).await;
    Stack { graph, messaging: replica.addr, service: replica.service, db: replica.db }
}

/// One running messaging service.
pub struct Replica {
    pub addr: SocketAddr,
    pub service: Arc<MessagingService>,
    pub db: Db,
}

/// Builds and serves a messaging service joined to `graph`'s bus; replicas built with the same
/// `env` share its database.
pub async fn replica(graph: &testkit::Graph, env: &Env, fanout: Arc<Fanout>) -> Replica {
    let config = messaging::MessagingConfig::from_env(env).expect("messaging config");
    let app = messaging::build(&config, graph.shared.clone(), fanout, graph.verifier.clone(), &graph.shutdown)
        .await
        .expect("messaging builds");
    let (service, db) = (app.service.clone(), app.db.clone());
    let (listener, addr) = testkit::listen().await;
    tokio::spawn(app.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));
    Replica { addr, service, db }
}

/// Polls (bounded: 10 s) until `check` yields a value.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    for _ in 0..400 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

impl Stack {
    /// An operation against messaging.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graph.post(self.messaging, query, variables, token).await
    }

    /// Registers a user and waits until messaging learned their role from identity.
    pub async fn user(&self, role: &str, name: &str) -> User {
        let user = self.graph.register(role, name).await;
        self.wait_for_role(&user.id, role).await;
        user
    }

    /// Waits until messaging's projection has `user` with `role`.
    pub async fn wait_for_role(&self, user: &str, role: &str) {
        let id: kernel::UserId = user.parse().expect("a user id");
        let store = self.service.store().clone();
        eventually(&format!("messaging to know {user} as {role}"), || {
            let store = store.clone();
            async move { store.known_role(id).await.expect("store").filter(|r| r.as_str() == role) }
        })
        .await;
    }

    /// `token`'s holder starts a conversation with `other`; its id.
    pub async fn conversation(&self, token: &str, other: &User) -> String {
        let body = self.start(token, &other.id).await;
        body["data"]["startConversation"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
    }

    pub async fn start(&self, token: &str, other: &str) -> Value {
        let query = "mutation($p: ID!) { startConversation(participantId: $p) { id status unreadCount \
                     participants { id } startedBy { id } } }";
        self.gql(query, json!({ "p": other }), Some(token)).await
    }

    pub async fn send(&self, token: &str, conversation: &str, content: &str) -> Value {
        let query = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, content: $t) { id content \
                     sender { id } conversationId sentAt editedAt deletedAt } }";
        self.gql(query, json!({ "c": conversation, "t": content }), Some(token)).await
    }

    /// Sends a message; its id.
    pub async fn sent(&self, token: &str, conversation: &str, content: &str) -> String {
        let body = self.send(token, conversation, content).await;
        body["data"]["sendMessage"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
    }

    /// Moves a message's sending time into the past, straight in the database (what 15 minutes
    /// of waiting would do).
    pub async fn backdate(&self, message: &str, minutes: i64) {
        let id: uuid::Uuid = message.parse().expect("a message id");
        let at = chrono::Utc::now() - chrono::Duration::minutes(minutes);
        let sql = "UPDATE messages SET sent_at = $1 WHERE id = $2";
        let done = match &self.db {
            Db::Postgres(pool) => sqlx::query(sql).bind(at).bind(id).execute(pool).await.map(|r| r.rows_affected()),
            Db::Sqlite(pool) => sqlx::query(sql).bind(at).bind(id).execute(pool).await.map(|r| r.rows_affected()),
        };
        assert_eq!(done.expect("backdated"), 1);
    }
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` client: several subscriptions on one socket, each message kept
/// until the subscription it belongs to is read.
pub struct Socket {
    socket: WebSocket,
    pending: VecDeque<Value>,
}

impl Socket {
    /// Connects and initialises with `token` (none: anonymous); waits for the ack.
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> Self {
        let mut request = format!("ws://{addr}/graphql").into_client_request().expect("request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("upgrades");
        let mut socket = Self { socket, pending: VecDeque::new() };
        let payload = token.map_or(json!({}), |t| json!({ "authorization": format!("Bearer {t}") }));
        socket.send(json!({ "type": "connection_init", "payload": payload })).await;
        let ack = socket.read(Duration::from_secs(5)).await.expect("an answer to connection_init");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        socket
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(WsMessage::Text(message.to_string().into())).await.expect("sent");
    }

    /// The next protocol message from the server, within `within`.
    async fn read(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??;
            match message.expect("a WebSocket frame") {
                WsMessage::Text(text) => return Some(serde_json::from_str(&text).expect("JSON")),
                WsMessage::Close(frame) => panic!("the server closed the socket: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let message = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
        self.send(message).await;
    }

    /// The next message (`next`, `error` or `complete`) of subscription `id`, within `within`.
    pub async fn next_of(&mut self, id: &str, within: Duration) -> Option<Value> {
        if let Some(at) = self.pending.iter().position(|m| m["id"] == id) {
            return self.pending.remove(at);
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.read(left).await?;
            if message["id"] == id {
                return Some(message);
            }
            self.pending.push_back(message);
        }
    }

    /// The next data of subscription `id` (bounded: 5 s); fails on anything else.
    pub async fn data(&mut self, id: &str) -> Value {
        let message = self.next_of(id, Duration::from_secs(5)).await.unwrap_or_else(|| panic!("nothing for {id}"));
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        message["payload"]["data"].clone()
    }

    /// The first data of subscription `id` satisfying `accept`, skipping others (bounded: 5 s).
    pub async fn data_matching(&mut self, id: &str, accept: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let data = self.data(id).await;
            if accept(&data) {
                return data;
            }
        }
        panic!("no matching data for {id}");
    }

    /// Repeats `act` until subscription `id` delivers something (the server registers a
    /// subscription asynchronously, and a live update sent before that is not delivered);
    /// bounded: 100 attempts. Returns the first delivered data.
    pub async fn until_live<T, F: std::future::Future<Output = T>>(
        &mut self,
        id: &str,
        mut act: impl FnMut() -> F,
    ) -> Value {
        for _ in 0..100 {
            act().await;
            if let Some(message) = self.next_of(id, Duration::from_millis(100)).await {
                assert_eq!(message["type"], "next", "{message}");
                assert!(message["payload"]["errors"].is_null(), "{message}");
                return message["payload"]["data"].clone();
            }
        }
        panic!("subscription {id} never delivered");
    }

    /// The error code a refused subscription answers with.
    pub async fn refusal(&mut self, id: &str) -> String {
        let message = self.next_of(id, Duration::from_secs(5)).await.unwrap_or_else(|| panic!("nothing for {id}"));
        let errors = match message["type"].as_str() {
            Some("next") => &message["payload"]["errors"],
            Some("error") => &message["payload"],
            _ => panic!("not a refusal: {message}"),
        };
        errors[0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code in {message}")).to_owned()
    }
}
