//! Real time through the router, end to end: a student and a tutor chat over the router's
//! WebSocket and SSE endpoints with the real identity, messaging and notification services (on
//! RabbitMQ when `AMQP_URL` names a broker): messages, typing, read receipts, edits and deletions
//! arrive live, each completed with the participants' names from identity, and a message left
//! unread becomes a notification pushed to the recipient.

// The router's own WebSocket test client (graphql-transport-ws), shared rather than copied.
// Not every test binary uses every method of it.
#[path = "../../../router/tests/support/ws.rs"]
#[allow(dead_code)]
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use platform::live::Fanout;
use router::compose::{SubgraphSdl, compose};
use router::{Router, RouterConfig, Supergraph};
use serde_json::{Value, json};
use ws::Client;

struct Realtime {
    graph: testkit::Graph,
    router: SocketAddr,
    messaging_fanout: Arc<Fanout>,
    notification_fanout: Arc<Fanout>,
    client: reqwest::Client,
    _mail: tempfile::TempDir,
}

/// The live fan-out of a context: through a namespaced RabbitMQ exchange on the broker pass.
fn fanout(graph: &testkit::Graph, name: &str) -> Arc<Fanout> {
    match testkit::broker_url() {
        Some(url) => Fanout::rabbit(&url, &format!("t{}.{name}.live", uuid::Uuid::now_v7().simple()), &graph.shutdown),
        None => Fanout::in_process(),
    }
}

async fn start() -> Realtime {
    let graph = testkit::Graph::start_on_broker(&[]).await;
    let messaging_fanout = match testkit::broker_url() {
        Some(url) => {
            Fanout::rabbit(&url, &format!("t{}.messaging.live", uuid::Uuid::now_v7().simple()), &graph.shutdown)
        }
        None => Fanout::in_process(),
    };
    let env = graph.env_for("messaging").await.with("MESSAGE_RATE_PER_MINUTE", "10000");
    let config = messaging::MessagingConfig::from_env(&env).expect("config");
    let messaging = messaging::build(
        &config,
        graph.shared.clone(),
        messaging_fanout.clone(),
        graph.verifier.clone(),
        &graph.shutdown,
    )
    .await
    .expect("messaging builds");
    let (listener, messaging_addr) = testkit::listen().await;
    tokio::spawn(messaging.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));

    // Notification: a message still unread is notified at once (no delay), emails go to files.
    let mail = tempfile::tempdir().expect("temp dir");
    let notification_fanout = fanout(&graph, "notification");
    let env = graph
        .env_for("notification")
        .await
        .with("NEW_MESSAGE_NOTIFY_DELAY", "0s")
        .with("NOTIFY_DISPATCH_INTERVAL", "50ms")
        .with("MAIL_DIR", mail.path().display().to_string());
    let config = notification::NotificationConfig::from_env(&env).expect("config");
    let notification = notification::build(
        &config,
        graph.shared.clone(),
        notification_fanout.clone(),
        graph.verifier.clone(),
        &graph.shutdown,
    )
    .await
    .expect("notification builds");
    let (listener, notification_addr) = testkit::listen().await;
    tokio::spawn(notification.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));

    let subgraph = |name: &str, addr: SocketAddr, sdl: String| SubgraphSdl {
        name: name.into(),
        url: format!("http://{addr}/graphql"),
        sdl,
    };
    let supergraph = compose(&[
        subgraph("identity", graph.identity, identity::schema::sdl()),
        subgraph("messaging", messaging_addr, messaging::schema::sdl()),
        subgraph("notification", notification_addr, notification::schema::sdl()),
    ])
    .expect("composes");
    // Tokens are checked at the router (against identity's JWKS) and again by the subgraphs.
    let config = RouterConfig {
        authentication: Some(router::config::authentication::AuthSettings::new(vec![
            router::config::authentication::JwksSettings {
                url: format!("http://{}/.well-known/jwks.json", graph.identity),
                issuer: "edustream-identity".into(),
                audiences: vec!["edustream".into()],
                algorithms: vec![jsonwebtoken::Algorithm::EdDSA],
            },
        ])),
        ..RouterConfig::default()
    };
    let router = Arc::new(Router::new(Supergraph::parse(&supergraph).expect("valid"), config));
    let (listener, router_addr) = testkit::listen().await;
    let stop = graph.shutdown.clone();
    tokio::spawn(router::serve(router, listener, async move { stop.wait().await }));
    Realtime {
        graph,
        router: router_addr,
        messaging_fanout,
        notification_fanout,
        client: reqwest::Client::new(),
        _mail: mail,
    }
}

impl Realtime {
    async fn post(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("http://{}/graphql", self.router))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the router answers");
        response.json().await.expect("JSON")
    }

    async fn ws(&self, token: &str) -> Client {
        let mut client = Client::connect(self.router, &["graphql-transport-ws"]).await.expect("connects");
        client.init(json!({ "authorization": format!("Bearer {token}") })).await;
        client
    }

    /// Waits (bounded) until messaging has `n` live subscribers on the conversation.
    async fn until_listening(&self, conversation: &str, n: usize) {
        until(&self.messaging_fanout, &format!("conversation:{conversation}"), n).await;
    }

    /// Starts the pair's conversation (messaging learns about users from identity's events).
    async fn start_conversation(&self, token: &str, with: &str) -> String {
        let query = "mutation($p: ID!) { startConversation(participantId: $p) { id } }";
        for _ in 0..200 {
            let body = self.post(token, query, json!({ "p": with })).await;
            if let Some(id) = body["data"]["startConversation"]["id"].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the conversation could not be started");
    }
}

/// Waits (bounded) until `fanout` has `n` subscribers on `topic`.
async fn until(fanout: &Fanout, topic: &str, n: usize) {
    for _ in 0..400 {
        if fanout.listeners(topic) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} subscribers on {topic}, found {}", fanout.listeners(topic));
}

/// An SSE response read event by event.
struct EventStream(reqwest::Response, String);

impl EventStream {
    async fn open(router: SocketAddr, token: &str, query: &str, variables: Value) -> Self {
        let response = reqwest::Client::new()
            .post(format!("http://{router}/graphql"))
            .header("accept", "text/event-stream")
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        Self(response, String::new())
    }

    /// The next `event: next`'s data (bounded wait; keep-alive comments skipped).
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.1.find("\n\n") {
                let event: String = self.1.drain(..end + 2).collect();
                if let Some(data) = event.strip_prefix("event: next\ndata: ") {
                    return serde_json::from_str(data.trim_end()).expect("JSON data");
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.0.chunk()).await.expect("in time");
            let chunk = chunk.expect("readable").expect("the stream is open");
            self.1.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

const ADDED: &str =
    "subscription($c: ID!) { messageAdded(conversationId: $c) { id content sender { id profile { firstName } } } }";
const UPDATED: &str = "subscription($c: ID!) { messageUpdated(conversationId: $c) { id content editedAt deletedAt } }";
const TYPING: &str = "subscription($c: ID!) { typing(conversationId: $c) { user { profile { firstName } } } }";
const READ: &str =
    "subscription($c: ID!) { messageRead(conversationId: $c) { messageId reader { profile { firstName } } } }";

#[tokio::test]
async fn a_student_and_a_tutor_chat_live_through_the_router_over_websocket_and_sse() {
    let rt = start().await;
    let ann = rt.graph.register("STUDENT", "Ann").await;
    let tom = rt.graph.register("TUTOR", "Tom").await;
    let conversation = rt.start_conversation(&ann.token, &tom.id).await;
    let vars = json!({ "c": conversation });

    // Tom on one WebSocket: new messages, edits and deletions, typing.
    let mut tom_ws = rt.ws(&tom.token).await;
    tom_ws.subscribe("added", ADDED, vars.clone()).await;
    tom_ws.subscribe("updated", UPDATED, vars.clone()).await;
    tom_ws.subscribe("typing", TYPING, vars.clone()).await;
    // Ann: new messages over SSE, read receipts over a WebSocket.
    let mut ann_sse = EventStream::open(rt.router, &ann.token, ADDED, vars.clone()).await;
    let mut ann_ws = rt.ws(&ann.token).await;
    ann_ws.subscribe("read", READ, vars.clone()).await;
    rt.until_listening(&conversation, 5).await;

    // Typing: Tom sees Ann typing, with her name from identity.
    let typing = rt.post(&ann.token, "mutation($c: ID!) { sendTyping(conversationId: $c) }", vars.clone()).await;
    assert_eq!(typing["data"]["sendTyping"], true, "{typing}");
    let seen = tom_ws.receive().await;
    assert_eq!((seen["id"].as_str(), seen["type"].as_str()), (Some("typing"), Some("next")), "{seen}");
    assert_eq!(seen["payload"]["data"]["typing"]["user"]["profile"]["firstName"], "Ann");

    // A message: to Tom's WebSocket and Ann's own SSE stream, sender's name resolved.
    let send = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, content: $t) { id } }";
    let sent = rt.post(&ann.token, send, json!({ "c": conversation, "t": "  Hello Tom  " })).await;
    let message = sent["data"]["sendMessage"]["id"].as_str().unwrap_or_else(|| panic!("{sent}")).to_owned();
    let added = tom_ws.receive().await;
    assert_eq!(added["id"], "added", "{added}");
    let expected = json!({ "messageAdded": { "id": message, "content": "Hello Tom",
                                             "sender": { "id": ann.id, "profile": { "firstName": "Ann" } } } });
    assert_eq!(added["payload"]["data"], expected);
    assert_eq!(ann_sse.next().await["data"], expected, "Ann's SSE stream gets it too");

    // Tom reads it: Ann's read receipt names Tom.
    let read = rt
        .post(&tom.token, "mutation($m: ID!) { markMessageRead(messageId: $m) { readAt } }", json!({ "m": message }))
        .await;
    assert!(read["data"]["markMessageRead"]["readAt"].is_string(), "{read}");
    let receipt = ann_ws.receive().await;
    assert_eq!(
        receipt["payload"]["data"]["messageRead"],
        json!({ "messageId": message, "reader": { "profile": { "firstName": "Tom" } } })
    );

    // Ann edits, then deletes: Tom's messageUpdated shows both.
    let edit = "mutation($m: ID!, $t: String!) { editMessage(messageId: $m, content: $t) { id } }";
    let edited = rt.post(&ann.token, edit, json!({ "m": message, "t": "Hello Tom!" })).await;
    assert!(edited["data"]["editMessage"]["id"].is_string(), "{edited}");
    let update = tom_ws.receive().await;
    assert_eq!(update["id"], "updated", "{update}");
    assert_eq!(update["payload"]["data"]["messageUpdated"]["content"], "Hello Tom!");
    assert!(update["payload"]["data"]["messageUpdated"]["editedAt"].is_string());
    let deleted =
        rt.post(&ann.token, "mutation($m: ID!) { deleteMessage(messageId: $m) { id } }", json!({ "m": message })).await;
    assert!(deleted["data"]["deleteMessage"]["id"].is_string(), "{deleted}");
    let tombstone = tom_ws.receive().await;
    assert_eq!(tombstone["payload"]["data"]["messageUpdated"]["content"], Value::Null, "{tombstone}");
    assert!(tombstone["payload"]["data"]["messageUpdated"]["deletedAt"].is_string());

    // Tom answers: Ann's SSE stream gets it with Tom's name.
    let reply = rt.post(&tom.token, send, json!({ "c": conversation, "t": "Hi Ann" })).await;
    assert!(reply["data"]["sendMessage"]["id"].is_string(), "{reply}");
    let answer = ann_sse.next().await;
    assert_eq!(answer["data"]["messageAdded"]["content"], "Hi Ann");
    assert_eq!(answer["data"]["messageAdded"]["sender"]["profile"]["firstName"], "Tom");
    // Tom's own message reaches his own messageAdded too (he is a participant).
    assert_eq!(tom_ws.receive().await["payload"]["data"]["messageAdded"]["content"], "Hi Ann");
}

#[tokio::test]
async fn a_participants_private_fields_are_null_without_losing_the_conversation() {
    let rt = start().await;
    let ann = rt.graph.register("STUDENT", "Ann").await;
    let tom = rt.graph.register("TUTOR", "Tom").await;
    rt.start_conversation(&ann.token, &tom.id).await;
    // Started again (idempotent), selecting the participants' e-mail: Tom's is not Ann's to see.
    let query = "mutation($p: ID!) { startConversation(participantId: $p) { id participants { id email } } }";
    let body = rt.post(&ann.token, query, json!({ "p": tom.id })).await;
    let conversation = &body["data"]["startConversation"];
    assert!(conversation["id"].is_string(), "the conversation is not lost: {body}");
    let participants = conversation["participants"].as_array().unwrap_or_else(|| panic!("{body}"));
    let email_of = |id: &str| participants.iter().find(|p| p["id"] == id).map(|p| p["email"].clone());
    assert!(email_of(&ann.id).is_some_and(|e| e.is_string()), "her own: {body}");
    assert_eq!(email_of(&tom.id), Some(Value::Null), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn someone_outside_the_conversation_cannot_listen_in() {
    let rt = start().await;
    let ann = rt.graph.register("STUDENT", "Ann").await;
    let tom = rt.graph.register("TUTOR", "Tom").await;
    let eve = rt.graph.register("STUDENT", "Eve").await;
    let conversation = rt.start_conversation(&ann.token, &tom.id).await;

    let mut eve_ws = rt.ws(&eve.token).await;
    eve_ws.subscribe("spy", ADDED, json!({ "c": conversation })).await;
    let refused = eve_ws.receive().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert_eq!(eve_ws.receive().await, json!({ "id": "spy", "type": "complete" }));
    assert_eq!(rt.messaging_fanout.listeners(&format!("conversation:{conversation}")), 0);

    // Over SSE too; and without a token the router's edge lets the subgraph decide.
    let mut eve_sse = EventStream::open(rt.router, &eve.token, ADDED, json!({ "c": conversation })).await;
    assert_eq!(eve_sse.next().await["errors"][0]["extensions"]["code"], "NOT_FOUND");
}

const NOTIFIED: &str = "subscription { notificationAdded { type channel title body recipient { id } } }";

#[tokio::test]
async fn a_message_left_unread_is_pushed_to_the_recipient_as_a_notification_over_both_transports() {
    let rt = start().await;
    let ann = rt.graph.register("STUDENT", "Ann").await;
    let tom = rt.graph.register("TUTOR", "Tom").await;
    let conversation = rt.start_conversation(&ann.token, &tom.id).await;

    let mut tom_ws = rt.ws(&tom.token).await;
    tom_ws.subscribe("notes", NOTIFIED, json!({})).await;
    let mut ann_sse = EventStream::open(rt.router, &ann.token, NOTIFIED, json!({})).await;
    until(&rt.notification_fanout, &format!("user:{}", tom.id), 1).await;
    until(&rt.notification_fanout, &format!("user:{}", ann.id), 1).await;

    let send = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, content: $t) { id } }";
    let sent = rt.post(&ann.token, send, json!({ "c": conversation, "t": "Can we move Tuesday's lesson?" })).await;
    assert!(sent["data"]["sendMessage"]["id"].is_string(), "{sent}");
    // The welcome may come first (on RabbitMQ it can be consumed after the subscription starts).
    let note = loop {
        let note = tom_ws.receive().await;
        assert_eq!(note["id"], "notes", "{note}");
        if note["payload"]["data"]["notificationAdded"]["type"] != "WELCOME" {
            break note;
        }
    };
    let added = &note["payload"]["data"]["notificationAdded"];
    assert_eq!((added["type"].as_str(), added["channel"].as_str()), (Some("NEW_MESSAGE"), Some("IN_APP")), "{note}");
    assert_eq!(added["recipient"]["id"], tom.id.as_str());
    assert!(added["body"].as_str().is_some_and(|b| b.contains("Can we move")), "{note}");

    let reply = rt.post(&tom.token, send, json!({ "c": conversation, "t": "Sure, Wednesday?" })).await;
    assert!(reply["data"]["sendMessage"]["id"].is_string(), "{reply}");
    let pushed = loop {
        let pushed = ann_sse.next().await;
        if pushed["data"]["notificationAdded"]["type"] != "WELCOME" {
            break pushed;
        }
    };
    assert_eq!(pushed["data"]["notificationAdded"]["type"], "NEW_MESSAGE", "{pushed}");
    assert_eq!(pushed["data"]["notificationAdded"]["recipient"]["id"], ann.id.as_str());

    // Stored as well: Tom's list through the router holds it, unread.
    let list = rt.post(&tom.token, "{ notifications(unreadOnly: true) { edges { node { type } } } }", json!({})).await;
    let types: Vec<&str> = list["data"]["notifications"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["type"].as_str())
        .collect();
    assert!(types.contains(&"NEW_MESSAGE"), "{list}");
}
