//! The client's address, passed on to subgraphs. Behind the router every request comes from the
//! router's address, so a subgraph that throttles per address (identity's failed sign-ins) would
//! throttle everyone at once. The router resolves the client (the socket's peer, or the nearest
//! untrusted `x-forwarded-for` hop behind `rate_limit.trusted_proxies`, see
//! [`crate::edge::ratelimit::client_ip`]) and sends it as `x-forwarded-for: <client>` and
//! `forwarded: for=<client>` (RFC 7239), replacing whatever the client sent under those names:
//! hops before the resolved client were written by the client and prove nothing. Subgraphs
//! believe these headers only from the router's addresses (`TRUSTED_PROXIES`).

use std::net::IpAddr;

use reqwest::header::{HeaderName, HeaderValue};

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Whether `name` is one of the headers the router writes itself (never copied from the client).
pub fn is_set_by_router(name: &str) -> bool {
    name.eq_ignore_ascii_case(X_FORWARDED_FOR.as_str()) || name.eq_ignore_ascii_case(FORWARDED.as_str())
}

/// The headers that carry `client` to a subgraph.
pub fn client_headers(client: IpAddr) -> [(HeaderName, HeaderValue); 2] {
    let client = client.to_canonical();
    let xff = HeaderValue::from_str(&client.to_string()).expect("an IP address is a valid header value");
    // RFC 7239: an IPv6 address is bracketed and quoted.
    let forwarded = match client {
        IpAddr::V4(v4) => format!("for={v4}"),
        IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
    };
    let forwarded = HeaderValue::from_str(&forwarded).expect("an IP address is a valid header value");
    [(X_FORWARDED_FOR, xff), (FORWARDED, forwarded)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_goes_out_in_both_header_forms() {
        let [(n1, v1), (n2, v2)] = client_headers("203.0.113.7".parse().expect("ip"));
        assert_eq!((n1.as_str(), v1.to_str().expect("text")), ("x-forwarded-for", "203.0.113.7"));
        assert_eq!((n2.as_str(), v2.to_str().expect("text")), ("forwarded", "for=203.0.113.7"));
        let [(_, v1), (_, v2)] = client_headers("2001:db8::1".parse().expect("ip"));
        assert_eq!(v1, "2001:db8::1");
        assert_eq!(v2, "for=\"[2001:db8::1]\"");
    }

    #[test]
    fn an_ipv4_mapped_address_goes_out_as_ipv4() {
        let [(_, v), _] = client_headers("::ffff:198.51.100.2".parse().expect("ip"));
        assert_eq!(v, "198.51.100.2");
    }

    #[test]
    fn the_router_owns_the_forwarding_headers() {
        assert!(is_set_by_router("X-Forwarded-For") && is_set_by_router("forwarded"));
        assert!(!is_set_by_router("authorization"));
    }
}
