//! `notificationAdded` over a real WebSocket (graphql-transport-ws): the caller's new in-app
//! notifications arrive live; without a token the subscription is refused.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use notification::domain::Channel;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::events::paid;
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

#[tokio::test]
async fn new_in_app_notifications_arrive_live_to_their_recipient_only() {
    let stack = spawn().await;
    let (me, other) = (stack.user("STUDENT", "Liv").await, stack.user("STUDENT", "Nia").await);
    let mut socket = connect(&stack, Some(&me.token)).await;
    // The subscription (and, on RabbitMQ, the replica's queue) binds asynchronously: publish
    // until one arrives, then check it is one of ours.
    let mut received = None;
    for _ in 0..50 {
        stack.deliver(&paid(&other)).await;
        stack.deliver(&paid(&me)).await;
        if let Ok(message) = tokio::time::timeout(Duration::from_millis(200), next_json(&mut socket)).await {
            received = message;
            break;
        }
    }
    let message = received.expect("a live notification");
    assert_eq!(message["type"], "next", "{message}");
    let node = &message["payload"]["data"]["notificationAdded"];
    assert_eq!(
        (node["type"].as_str(), node["channel"].as_str()),
        (Some("PAYMENT_RECEIVED"), Some("IN_APP")),
        "{message}"
    );
    assert_eq!((node["status"].as_str(), node["recipient"]["id"].as_str()), (Some("SENT"), Some(me.id.as_str())));
    let id = node["id"].as_str().expect("id");
    let mine = stack.history(&me).await;
    assert!(
        mine.iter().any(|n| n.id.to_string() == id && n.channel == Channel::InApp),
        "a stored notification of mine"
    );
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
