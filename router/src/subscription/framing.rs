//! Subscriptions over plain HTTP: the two framings of a stream of results.
//!
//! - GraphQL over SSE ("distinct connections" mode, `text/event-stream`): each result is an
//!   `event: next`, the end an `event: complete`; comments keep the connection alive.
//! - Apollo's multipart HTTP subscriptions (`multipart/mixed;subscriptionSpec=1.0`, what Apollo
//!   Client uses for a subscription without a WebSocket link): each result is a part
//!   `{"payload": <result>}`, an empty `{}` part is a heartbeat, `--graphql--` ends the stream.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ConnectionSlot, ResponseStream};

/// The content type of a multipart subscription answer.
pub const MULTIPART_CONTENT_TYPE: &str = "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\"";
const PART_HEAD: &str = "\r\n--graphql\r\ncontent-type: application/json\r\n\r\n";
const END: &str = "\r\n--graphql--\r\n";

/// The results a stream carries: one (a query or mutation sent over a stream) or many.
pub enum Results {
    Once(Option<Arc<str>>),
    Stream(ResponseStream),
}

impl Results {
    async fn next(&mut self) -> Option<Arc<str>> {
        match self {
            Self::Once(body) => body.take(),
            Self::Stream(stream) => stream.next().await,
        }
    }
}

/// The results as SSE; `slot` (the connection's place under `max_connections`) is held until
/// the stream ends or the client goes away.
pub fn event_stream(results: Results, slot: ConnectionSlot, keepalive: Duration) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let events = futures_util::stream::unfold(Some((results, slot)), |state| async move {
        let (mut results, slot) = state?;
        let event = match results.next().await {
            Some(body) => (Event::default().event("next").data(&*body), Some((results, slot))),
            None => (Event::default().event("complete").data(""), None),
        };
        Some((Ok::<_, std::convert::Infallible>(event.0), event.1))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(keepalive)).into_response()
}

/// The results as multipart parts, with a heartbeat part after `heartbeat` without a result.
pub fn multipart(results: Results, slot: ConnectionSlot, heartbeat: Duration) -> Response {
    let parts = futures_util::stream::unfold(Some((results, slot)), move |state| async move {
        let (mut results, slot) = state?;
        // `next` is cancel-safe: a result that arrives after the heartbeat is kept for the next call.
        let part = match tokio::time::timeout(heartbeat, results.next()).await {
            Err(_) => (part("{}"), Some((results, slot))),
            Ok(Some(body)) => (part(&format!("{{\"payload\":{body}}}")), Some((results, slot))),
            Ok(None) => (Bytes::from_static(END.as_bytes()), None),
        };
        Some((Ok::<_, std::convert::Infallible>(part.0), part.1))
    });
    let mut response = Body::from_stream(parts).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(MULTIPART_CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn part(json: &str) -> Bytes {
    let mut out = String::with_capacity(PART_HEAD.len() + json.len());
    out.push_str(PART_HEAD);
    out.push_str(json);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_a_boundary_a_json_header_and_the_body() {
        let bytes = part(r#"{"payload":{"data":{"a":1}}}"#);
        assert_eq!(
            std::str::from_utf8(&bytes).expect("utf-8"),
            "\r\n--graphql\r\ncontent-type: application/json\r\n\r\n{\"payload\":{\"data\":{\"a\":1}}}"
        );
    }
}
