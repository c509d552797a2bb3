//! The router's edge: what a request meets before GraphQL execution, one module each, in the
//! order a request meets them:
//! 1. [`header_limits`]: the size and number of headers, and of the forwarded ones;
//! 2. the body limit (`crate::http`, 413 `REQUEST_TOO_LARGE`);
//! 3. [`accept`]: content negotiation (JSON, SSE or multipart);
//! 4. [`csrf`]: CSRF prevention;
//! 5. [`trusted`]: a partner's API key (and, after admission, the trusted documents);
//! 6. [`auth`]: the token;
//! 7. [`ratelimit`]: the rate limit or the partner's quota;
//! 8. [`trusted`] / [`apq`]: the persisted document or automatic persisted query.
//!
//! [`cors`] wraps them all for browsers; [`forwarded`] passes the client's address on to the
//! subgraphs. Every refusal is one [`refusal::Refused`], answered by [`refusal::respond`].

pub mod accept;
pub mod apq;
pub mod auth;
pub mod cors;
pub mod csrf;
pub mod forwarded;
pub mod header_limits;
pub mod ratelimit;
pub mod refusal;
pub mod trusted;

pub use refusal::{Refused, respond};

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::Router;
use crate::execute::Forwarded;

/// Who is calling, as the edge established it before the request is parsed.
#[derive(Default, Clone)]
pub(crate) struct Caller {
    pub(crate) partner: Option<Arc<trusted::Client>>,
    pub(crate) claims: Option<Arc<auth::Claims>>,
    /// The rate-limit bucket (also the access log's client).
    pub(crate) bucket: String,
    /// The client's address (the peer, or the nearest untrusted hop behind trusted proxies).
    pub(crate) client: Option<IpAddr>,
}

impl Caller {
    /// Whether the request carries no identity at all (no token, no API key, no `authorization`).
    pub(crate) fn is_anonymous(&self, headers: &HeaderMap) -> bool {
        self.claims.is_none() && self.partner.is_none() && !headers.contains_key(axum::http::header::AUTHORIZATION)
    }
}

/// The edge's checks past the limits and negotiation, in order: CSRF, the partner's API key,
/// the token, the rate limit or the partner's quota. A refusal is answered before anything is
/// parsed. WebSocket upgrades skip the CSRF check (`csrf: false`): their token travels in
/// `connection_init`, never in ambient browser credentials.
pub(crate) async fn admit(
    router: &Router,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    graphql_response: bool,
    csrf: bool,
) -> Result<Caller, Response> {
    use crate::config::rate_limit::Rule;
    use crate::edge::ratelimit::{ClientKey, Decision};
    let refuse = |status: StatusCode, code: &'static str, body: &Value| {
        router.metrics().refused(code);
        respond(status, graphql_response, body)
    };
    if csrf && let Err(refused) = router.config().csrf.check(headers) {
        return Err(refuse(refused.status, refused.code, &refused.body()));
    }
    let partner = router.partners().identify(headers).map_err(|e| {
        let refused = Refused::from(e);
        refuse(refused.status, refused.code, &refused.body())
    })?;
    let claims = match router.authenticator() {
        Some(authenticator) => authenticator
            .authenticate(headers)
            .await
            .map_err(|failure| {
                let refused = Refused::from(failure);
                refuse(refused.status, refused.code, &refused.body())
            })?
            .map(Arc::new),
        None => None,
    };
    let client =
        peer.map(|peer| crate::edge::ratelimit::client_ip(peer, headers, &router.config().rate_limit.trusted_proxies));
    let key = match (&partner, claims.as_ref().and_then(|c| c.subject.as_ref())) {
        (Some(partner), _) => ClientKey::ApiKey(partner.name.clone()),
        (None, Some(subject)) => ClientKey::User(subject.clone()),
        (None, None) => ClientKey::Ip(client.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))),
    };
    let bucket = key.bucket();
    if let Some(limiter) = router.limiter() {
        // A partner's quota replaces the per-client rule.
        let quota = partner
            .as_ref()
            .and_then(|p| p.quota)
            .and_then(|q| Rule::new(u32::try_from(q.requests).unwrap_or(u32::MAX), q.per).ok());
        let per_client = &router.config().rate_limit;
        let rule = quota.or_else(|| per_client.enabled.then_some(per_client.per_client));
        if let Some(rule) = rule
            && let Decision::Limited { retry_after } = limiter.check(&bucket, &rule).await
        {
            router.metrics().refused(crate::edge::ratelimit::CODE);
            return Err(ratelimit::limited(retry_after).into_response(graphql_response));
        }
    }
    Ok(Caller { partner, claims, bucket, client })
}

/// What goes to the subgraphs with every fetch of this request: the configured headers (never
/// the forwarding headers the router writes itself), the token's claims, the client's address.
pub(crate) fn forwarded(router: &Router, headers: &HeaderMap, caller: &Caller) -> Forwarded {
    let mut out = Forwarded { claims: caller.claims.clone(), client: caller.client, ..Forwarded::default() };
    for name in router.config().forward_headers.iter().filter(|n| !forwarded::is_set_by_router(n)) {
        let name_and_value = (reqwest::header::HeaderName::from_bytes(name.as_bytes()), headers.get(name.as_str()));
        if let (Ok(n), Some(v)) = name_and_value
            && let Ok(v) = reqwest::header::HeaderValue::from_bytes(v.as_bytes())
        {
            out.headers.push((n, v));
        }
    }
    out
}
