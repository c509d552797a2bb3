//! `notificationAdded` over a real WebSocket (graphql-transport-ws): the caller's new in-app
//! notifications arrive live, and only theirs (past the first frame too); without a token the
//! subscription is refused.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kernel::events::payment::PaymentSucceeded;
use notification::domain::Channel;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::events::{eur, paid};
use crate::helpers::*;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const SUBSCRIBE: &str = "subscription { notificationAdded { id type channel title status recipient { id } } }";

async fn connect(stack: &Stack, token: Option<&str>) -> Socket {
    let mut request = format!("ws://{}/graphql", stack.addr).into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("upgrades");
    let payload = token.map_or(json!({}), |t| json!({ "authorization": format!("Bearer {t}") }));
    send(&mut socket, json!({ "type": "connection_init", "payload": payload })).await;
    assert_eq!(next_json(&mut socket).await.expect("ack")["type"], "connection_ack");
    send(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIBE } })).await;
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.expect("sent");
}

async fn next_json(socket: &mut Socket) -> Option<Value> {
    while let Some(message) = socket.next().await {
        match message.ok()? {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
    None
}

/// The next `notificationAdded` on `socket` (bounded: 10 s).
async fn next_notification(socket: &mut Socket) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(10), next_json(socket)).await.expect("a frame in time");
    let message = message.expect("a frame");
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["notificationAdded"].clone()
}

#[tokio::test]
async fn new_in_app_notifications_arrive_live_to_their_recipient_only() {
    let stack = spawn().await;
    let (me, other) = (stack.user("STUDENT", "Liv").await, stack.user("STUDENT", "Nia").await);
    let mut mine = connect(&stack, Some(&me.token)).await;
    let mut theirs = connect(&stack, Some(&other.token)).await;
    // The subscriptions (and, on RabbitMQ, the replica's queue) bind asynchronously: publish
    // until both have received one.
    let (mut first, mut their_first) = (None, None);
    for _ in 0..50 {
        stack.deliver(&paid(&other)).await;
        stack.deliver(&paid(&me)).await;
        if first.is_none() {
            first = tokio::time::timeout(Duration::from_millis(200), next_json(&mut mine)).await.ok().flatten();
        }
        if their_first.is_none() {
            their_first = tokio::time::timeout(Duration::from_millis(200), next_json(&mut theirs)).await.ok().flatten();
        }
        if first.is_some() && their_first.is_some() {
            break;
        }
    }
    let message = first.expect("a live notification");
    their_first.expect("a live notification for the other user");
    assert_eq!(message["type"], "next", "{message}");
    let node = &message["payload"]["data"]["notificationAdded"];
    assert_eq!(
        (node["type"].as_str(), node["channel"].as_str()),
        (Some("PAYMENT_RECEIVED"), Some("IN_APP")),
        "{message}"
    );
    assert_eq!((node["status"].as_str(), node["recipient"]["id"].as_str()), (Some("SENT"), Some(me.id.as_str())));
    let id = node["id"].as_str().expect("id");
    let stored = stack.history(&me).await;
    assert!(
        stored.iter().any(|n| n.id.to_string() == id && n.channel == Channel::InApp),
        "a stored notification of mine"
    );

    // Past the first frame: another user's notification, pushed live (their socket got it),
    // then the caller's. The caller's next new frame is their own; none is the other's.
    stack.deliver(&PaymentSucceeded { amount: eur(7777), ..paid(&other) }).await;
    loop {
        let node = next_notification(&mut theirs).await;
        assert_eq!(node["recipient"]["id"].as_str(), Some(other.id.as_str()), "{node}");
        if node["title"] == "Payment of 77.77 EUR received" {
            break;
        }
    }
    stack.deliver(&PaymentSucceeded { amount: eur(1234), ..paid(&me) }).await;
    let next = loop {
        let node = next_notification(&mut mine).await;
        assert_eq!(node["recipient"]["id"].as_str(), Some(me.id.as_str()), "only the caller's: {node}");
        // Frames of the first round's later deliveries may still be on their way.
        if node["title"] != "Payment of 40.00 EUR received" {
            break node;
        }
    };
    assert_eq!(next["title"], "Payment of 12.34 EUR received", "{next}");
}

#[tokio::test]
async fn subscribing_without_a_token_is_refused() {
    let stack = spawn().await;
    let mut socket = connect(&stack, None).await;
    let message = tokio::time::timeout(Duration::from_secs(5), next_json(&mut socket)).await.expect("an answer");
    let message = message.expect("a message");
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{message}");
}
