//! A `graphql-transport-ws` client for the router's tests, with bounded waits.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Client {
    pub socket: Socket,
}

impl Client {
    pub async fn connect(addr: SocketAddr, protocols: &[&str]) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{addr}/graphql").into_client_request()?;
        if !protocols.is_empty() {
            request.headers_mut().insert("sec-websocket-protocol", protocols.join(", ").parse().expect("valid"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self { socket })
    }

    pub async fn send(&mut self, message: Value) {
        self.socket.send(WsMessage::text(message.to_string())).await.expect("sent");
    }

    pub async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload })).await;
        let ack = self.receive().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next protocol message (bounded wait).
    pub async fn receive(&mut self) -> Value {
        match self.next_frame().await {
            Frame::Text(value) => value,
            Frame::Closed(code, reason) => panic!("closed with {code}: {reason}"),
        }
    }

    /// The close code and reason the router ends the connection with (bounded wait).
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.next_frame().await {
                Frame::Closed(code, reason) => return (code, reason),
                Frame::Text(message) => assert_ne!(message["type"], "connection_ack", "unexpected {message}"),
            }
        }
    }

    pub async fn next_frame(&mut self) -> Frame {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await.expect("in time");
            match frame {
                Some(Ok(WsMessage::Text(text))) => return Frame::Text(serde_json::from_str(&text).expect("JSON")),
                Some(Ok(WsMessage::Close(frame))) => {
                    let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or_default();
                    return Frame::Closed(code, reason);
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Frame::Closed(0, error.to_string()),
                None => return Frame::Closed(0, "ended".into()),
            }
        }
    }
}

pub enum Frame {
    Text(Value),
    Closed(u16, String),
}
