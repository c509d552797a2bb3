//! The client side of `graphql-transport-ws` (the protocol of the `graphql-ws` library).
//!
//! `connection_init` (within `init_timeout`; its payload may carry the token as
//! `authorization` / `Authorization` or under `headers`) → `connection_ack`; `subscribe` →
//! `next`* → `complete` (or `error` when the operation is refused); `complete` from the client
//! stops one operation; `ping` → `pong`. Queries and mutations run once. Protocol violations
//! close the socket with the protocol's codes:
//!
//! | code | when |
//! |------|------|
//! | 4400 | a message that is not JSON, has no known `type`, a `subscribe` without `id`, a binary frame |
//! | 4401 | `subscribe` before `connection_ack` |
//! | 4403 | the token in `connection_init` was refused (the reason follows the code) |
//! | 4408 | no `connection_init` within `init_timeout` |
//! | 4409 | `subscribe` with the `id` of a running operation |
//! | 4429 | a second `connection_init` |
//!
//! With authentication configured, a connection lives no longer than its token: at the token's
//! `exp` (plus the configured leeway) the router closes it with 4403 `Forbidden: token expired` (clients reconnect with a
//! fresh token, as `graphql-ws` does with a `connectionParams` function).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Subscribed;
use crate::Router;
use crate::edge::Caller;

/// What operation tasks hand to the connection.
enum Out {
    Send(Value),
    /// A message already serialised (results shared by many subscribers are serialised once).
    Text(String),
    Done(String),
}

/// One client connection, from the upgrade on.
pub(crate) struct Connection {
    pub(crate) router: Arc<Router>,
    /// The upgrade request's headers (the token may also come in `connection_init`).
    pub(crate) headers: HeaderMap,
    pub(crate) caller: Caller,
    pub(crate) slot: super::ConnectionSlot,
}

/// Why the connection ends from our side.
struct Close(u16, String);

impl Connection {
    pub(crate) async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (out, mut outgoing) = mpsc::channel::<Out>(64);
        let mut operations: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        let settings = self.router.subscriptions().settings.clone();
        let init_deadline = tokio::time::sleep(settings.init_timeout);
        tokio::pin!(init_deadline);
        let mut keepalive =
            tokio::time::interval_at(tokio::time::Instant::now() + settings.keepalive, settings.keepalive);
        let expiry = tokio::time::sleep(std::time::Duration::MAX / 4);
        tokio::pin!(expiry);
        let mut initialised = false;
        let mut acknowledged: Option<crate::execute::Forwarded> = None;
        let closing: Option<Close> = loop {
            tokio::select! {
                _ = &mut init_deadline, if !initialised => {
                    break Some(Close(4408, "Connection initialisation timeout".into()));
                }
                _ = &mut expiry => {
                    self.router.metrics().refused("TOKEN_EXPIRED");
                    break Some(Close(4403, "Forbidden: token expired".into()));
                }
                _ = keepalive.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
                Some(message) = outgoing.recv() => match message {
                    Out::Send(value) => {
                        if sink.send(Message::Text(value.to_string().into())).await.is_err() {
                            break None;
                        }
                    }
                    Out::Text(text) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break None;
                        }
                    }
                    Out::Done(id) => {
                        operations.remove(&id);
                    }
                },
                received = stream.next() => {
                    let text = match received {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Binary(_))) => {
                            break Some(Close(4400, "Binary frames are not part of the protocol".into()));
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    };
                    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text.as_str()) else {
                        break Some(Close(4400, "Invalid message received: not a JSON object".into()));
                    };
                    match message.get("type").and_then(Value::as_str) {
                        Some("connection_init") => {
                            if initialised {
                                break Some(Close(4429, "Too many initialisation requests".into()));
                            }
                            initialised = true;
                            match self.initialise(message.get("payload")).await {
                                Ok(forwarded) => acknowledged = Some(forwarded),
                                Err(close) => break Some(close),
                            }
                            // The same leeway as when the token was checked.
                            let leeway = self.router.config().authentication.as_ref().map(|a| a.leeway).unwrap_or_default();
                            let now = std::time::SystemTime::now();
                            if let Some(left) = self.caller.claims.as_deref().and_then(|c| lifetime_left(c, now)) {
                                expiry.as_mut().reset(tokio::time::Instant::now() + left + leeway);
                            }
                            if sink.send(Message::Text(json!({ "type": "connection_ack" }).to_string().into())).await.is_err() {
                                break None;
                            }
                        }
                        Some("ping") => {
                            if sink.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await.is_err() {
                                break None;
                            }
                        }
                        Some("pong") => {}
                        Some("subscribe") => {
                            let Some(forwarded) = &acknowledged else {
                                break Some(Close(4401, "Unauthorized".into()));
                            };
                            let Some(id) = message.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
                                break Some(Close(4400, "Invalid message received: subscribe needs an id".into()));
                            };
                            if operations.get(id).is_some_and(|task| !task.is_finished()) {
                                break Some(Close(4409, format!("Subscriber for {id} already exists")));
                            }
                            operations.retain(|_, task| !task.is_finished());
                            if operations.len() >= settings.max_per_connection {
                                let message = format!(
                                    "at most {} operations may run at once on one connection",
                                    settings.max_per_connection
                                );
                                let errors = json!([{ "message": message, "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" } }]);
                                self.router.metrics().refused("TOO_MANY_SUBSCRIPTIONS");
                                let _ = out.send(Out::Send(json!({ "id": id, "type": "error", "payload": errors }))).await;
                                continue;
                            }
                            let payload = message.get("payload").cloned().unwrap_or(Value::Null);
                            let task = self.start(id.to_owned(), payload, forwarded.clone(), out.clone());
                            operations.insert(id.to_owned(), task);
                        }
                        Some("complete") => {
                            if let Some(task) = message.get("id").and_then(Value::as_str).and_then(|id| operations.remove(id)) {
                                task.abort();
                            }
                        }
                        _ => break Some(Close(4400, "Invalid message received: unknown type".into())),
                    }
                }
            }
        };
        for (_, task) in operations.drain() {
            task.abort();
        }
        if let Some(Close(code, reason)) = closing {
            tracing::debug!(code, %reason, "closing a subscription connection");
            let frame = CloseFrame { code, reason: reason.into() };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
        drop(self.slot);
    }

    /// Checks the token `connection_init` carries, if any; the forwarded headers of the
    /// connection's operations.
    async fn initialise(&mut self, payload: Option<&Value>) -> Result<crate::execute::Forwarded, Close> {
        let mut headers = self.headers.clone();
        let mut carried = |name: &str, value: &Value| {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        };
        match payload {
            None | Some(Value::Null) => {}
            Some(Value::Object(fields)) => {
                for (name, value) in fields {
                    match (name.as_str(), value) {
                        ("headers", Value::Object(inner)) => inner.iter().for_each(|(n, v)| carried(n, v)),
                        _ => carried(name, value),
                    }
                }
            }
            Some(_) => return Err(Close(4400, "Invalid message received: the payload must be an object".into())),
        }
        if let Some(authenticator) = self.router.authenticator() {
            match authenticator.authenticate(&headers).await {
                Ok(claims) => self.caller.claims = claims.map(Arc::new).or(self.caller.claims.take()),
                Err(failure) => {
                    self.router.metrics().refused(failure.code());
                    return Err(Close(4403, format!("Forbidden: {}", failure.code())));
                }
            }
        }
        Ok(crate::edge::forwarded(&self.router, &headers, &self.caller))
    }

    /// Runs one operation; its messages go to the connection through `out`.
    fn start(
        &self,
        id: String,
        payload: Value,
        forwarded: crate::execute::Forwarded,
        out: mpsc::Sender<Out>,
    ) -> tokio::task::JoinHandle<()> {
        let router = self.router.clone();
        let caller = self.caller.clone();
        tokio::spawn(async move {
            let send = |kind: &str, payload: Option<Value>| {
                let mut message = json!({ "id": id, "type": kind });
                if let Some(payload) = payload {
                    message["payload"] = payload;
                }
                out.send(Out::Send(message))
            };
            let request = match crate::http::parse_body(&router, &caller, payload).await {
                Ok(request) => request,
                Err(refusal) => {
                    let _ = send("error", Some(refusal.body()["errors"].clone())).await;
                    let _ = out.send(Out::Done(id.clone())).await;
                    return;
                }
            };
            match router.subscribe(request, forwarded).await {
                Subscribed::Single(response) if response.request_error => {
                    let _ = send("error", Some(response.body["errors"].clone())).await;
                    let _ = out.send(Out::Done(id.clone())).await;
                    return;
                }
                Subscribed::Single(response) => {
                    if send("next", Some(response.body)).await.is_err() {
                        return;
                    }
                }
                Subscribed::Stream(mut stream) => {
                    // `{"id":…,"type":"next","payload":<the shared, already serialised result>}`
                    let id_json = Value::String(id.clone()).to_string();
                    while let Some(body) = stream.next().await {
                        let message = format!(r#"{{"id":{id_json},"type":"next","payload":{body}}}"#);
                        if out.send(Out::Text(message)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = send("complete", None).await;
            let _ = out.send(Out::Done(id.clone())).await;
        })
    }
}

/// How long a verified token stays valid from `now` (`None` without an `exp` claim).
fn lifetime_left(claims: &crate::edge::auth::Claims, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let exp = claims.raw.get("exp").and_then(Value::as_u64)?;
    let expires = std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp);
    Some(expires.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_lives_as_long_as_its_token() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        let claims = |raw: Value| crate::edge::auth::Claims::from_raw(raw.as_object().expect("an object").clone());
        assert_eq!(lifetime_left(&claims(json!({ "exp": 1_900 })), now), Some(std::time::Duration::from_secs(900)));
        assert_eq!(lifetime_left(&claims(json!({ "exp": 10 })), now), Some(std::time::Duration::ZERO));
        assert_eq!(lifetime_left(&claims(json!({ "sub": "u" })), now), None);
    }
}
