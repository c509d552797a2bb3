//! Content negotiation: the one parser of `Accept` in the router. Order and q-values decide;
//! a type with `q=0` is refused. A query or mutation is answered as JSON whenever the client
//! accepts JSON; only subscriptions (or a client that accepts nothing but a stream) stream.

use axum::http::{HeaderMap, header};

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";
pub const EVENT_STREAM: &str = "text/event-stream";
pub const MULTIPART: &str = "multipart/mixed";

/// The JSON media type of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `application/graphql-response+json` (the spec's; non-2xx statuses on request errors).
    GraphqlResponse,
    /// `application/json` (the legacy type; 200 on request errors).
    Json,
}

/// How a streamed answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// GraphQL over SSE (`text/event-stream`).
    EventStream,
    /// Apollo's multipart HTTP subscriptions (`multipart/mixed;subscriptionSpec=1.0`).
    Multipart,
}

/// One entry of `Accept`: a media type (lower case, no parameters), its q-value, its position
/// and whether it names `subscriptionSpec` (multipart).
#[derive(Debug, Clone, PartialEq)]
struct Range {
    media: String,
    q: f32,
    position: usize,
}

/// A client's `Accept`, parsed once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Accept {
    ranges: Vec<Range>,
    /// No `Accept` at all: the spec says to answer `application/json`.
    absent: bool,
}

impl Accept {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let values: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
        if values.is_empty() {
            return Self { ranges: Vec::new(), absent: true };
        }
        Self::parse(&values.join(","))
    }

    pub fn parse(text: &str) -> Self {
        let ranges = text
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.split(';');
                let media = parts.next()?.trim().to_ascii_lowercase();
                if media.is_empty() {
                    return None;
                }
                let q = parts
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                    .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0));
                Some(Range { media, q, position })
            })
            .collect();
        Self { ranges, absent: false }
    }

    /// How much the client wants `media` (`type/subtype`): the q of the most specific range
    /// that matches it (exact, then `type/*`, then `*/*`), with its position; `None` when no
    /// range matches or the match says `q=0`.
    fn quality(&self, media: &str) -> Option<(f32, usize)> {
        let kind = media.split('/').next().unwrap_or("");
        let specificity = |r: &Range| {
            if r.media == media {
                Some(3)
            } else if r.media.strip_suffix("/*") == Some(kind) {
                Some(2)
            } else if r.media == "*/*" {
                Some(1)
            } else {
                None
            }
        };
        let best = self.ranges.iter().filter_map(|r| specificity(r).map(|s| (s, r))).max_by_key(|(s, _)| *s)?.1;
        (best.q > 0.0).then_some((best.q, best.position))
    }

    /// Whether `media` was named explicitly (not through a wildcard) with `q > 0`.
    fn names(&self, media: &str) -> bool {
        self.ranges.iter().any(|r| r.media == media && r.q > 0.0)
    }

    /// The JSON type to answer with, if the client accepts one: the higher q wins, then the
    /// earlier position; a wildcard alone gets `application/json`.
    pub fn json(&self) -> Option<JsonKind> {
        if self.absent {
            return Some(JsonKind::Json);
        }
        let graphql = self.names(GRAPHQL_RESPONSE).then(|| self.quality(GRAPHQL_RESPONSE)).flatten();
        // Between the two, `application/json` wins only when the client prefers it.
        preferred((self.quality(JSON), JsonKind::Json), (graphql, JsonKind::GraphqlResponse))
    }

    /// The stream framing the client accepts, if any (named explicitly: `*/*` is no request for
    /// a stream). Between both, the higher q, then the earlier position.
    pub fn stream(&self) -> Option<StreamKind> {
        let sse = self.names(EVENT_STREAM).then(|| self.quality(EVENT_STREAM)).flatten();
        let multipart = self.names(MULTIPART).then(|| self.quality(MULTIPART)).flatten();
        preferred((multipart, StreamKind::Multipart), (sse, StreamKind::EventStream))
    }

    /// The stream to use for every operation, queries included: only when the client accepts
    /// a stream and no JSON at all.
    pub fn stream_only(&self) -> Option<StreamKind> {
        self.stream().filter(|_| self.json().is_none())
    }
}

/// Of two acceptable choices (q-value and position), `challenger` when the client prefers it
/// (a higher q, or the same q listed earlier), else `incumbent`; whichever is acceptable alone.
fn preferred<T>(challenger: (Option<(f32, usize)>, T), incumbent: (Option<(f32, usize)>, T)) -> Option<T> {
    match (challenger.0, incumbent.0) {
        (Some(c), Some(i)) if c.0 > i.0 || (c.0 == i.0 && c.1 < i.1) => Some(challenger.1),
        (_, Some(_)) => Some(incumbent.1),
        (Some(_), None) => Some(challenger.1),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urqls_default_accept_gets_json_for_queries_and_a_stream_for_subscriptions() {
        let accept = Accept::parse(
            "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed",
        );
        assert_eq!(accept.json(), Some(JsonKind::GraphqlResponse));
        assert_eq!(accept.stream(), Some(StreamKind::EventStream), "SSE is listed before multipart");
        assert_eq!(accept.stream_only(), None, "queries get JSON");
    }

    #[test]
    fn apollo_clients_subscription_accept_prefers_multipart() {
        let accept = Accept::parse("multipart/mixed;boundary=\"graphql\";subscriptionSpec=1.0,application/json");
        assert_eq!(accept.stream(), Some(StreamKind::Multipart));
        assert_eq!(accept.json(), Some(JsonKind::Json));
    }

    #[test]
    fn only_an_event_stream_streams_everything() {
        assert_eq!(Accept::parse("text/event-stream").stream_only(), Some(StreamKind::EventStream));
        assert_eq!(
            Accept::parse("text/event-stream, application/json;q=0").stream_only(),
            Some(StreamKind::EventStream)
        );
    }

    #[test]
    fn q_values_order_the_json_types() {
        let accept = Accept::parse("application/graphql-response+json;q=0.5, application/json");
        assert_eq!(accept.json(), Some(JsonKind::Json));
        let accept = Accept::parse("application/json;q=0.9, application/graphql-response+json");
        assert_eq!(accept.json(), Some(JsonKind::GraphqlResponse));
        let accept = Accept::parse("application/json, application/graphql-response+json");
        assert_eq!(accept.json(), Some(JsonKind::Json), "equal q: the first listed");
    }

    #[test]
    fn wildcards_accept_json_but_ask_for_no_stream() {
        assert_eq!(Accept::parse("*/*").json(), Some(JsonKind::Json));
        assert_eq!(Accept::parse("application/*").json(), Some(JsonKind::Json));
        assert_eq!(Accept::parse("*/*").stream(), None);
        assert_eq!(Accept::parse("*/*, application/json;q=0").json(), None, "the specific q=0 wins");
    }

    #[test]
    fn a_missing_accept_means_json_and_an_unacceptable_one_means_nothing() {
        assert_eq!(Accept::from_headers(&HeaderMap::new()).json(), Some(JsonKind::Json));
        let accept = Accept::parse("text/html");
        assert_eq!((accept.json(), accept.stream()), (None, None));
    }

    #[test]
    fn malformed_q_values_refuse_the_range() {
        assert_eq!(Accept::parse("application/json;q=abc").json(), None);
    }
}
