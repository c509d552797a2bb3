//! Who is calling, for the choice of bucket: a partner's API key, a signed-in user, or else the
//! client's IP address.
//!
//! The address is the socket's peer, unless that peer is a proxy listed in `trusted_proxies`:
//! then `x-forwarded-for` is read from the right (each proxy appends the address it saw), past
//! trusted proxies, to the first address not trusted: the nearest hop no trusted proxy vouches
//! for. Entries further left were written by the client itself and prove nothing. Without
//! trusted proxies the header is ignored, since anyone can send it.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;

use crate::config::primitives::Cidr;

/// The identity a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A partner calling with an API key (by the partner's name, never the key itself).
    ApiKey(String),
    /// A signed-in user, by the JWT's subject.
    User(String),
    /// Anyone else, by address.
    Ip(IpAddr),
}

impl ClientKey {
    /// The bucket's name: `key:<partner>`, `user:<subject>`, `ip:<address>`. An IPv6 client is
    /// bucketed by its /64, the block one subscriber usually owns whole (otherwise every request
    /// could come from a fresh address).
    pub fn bucket(&self) -> String {
        match self {
            Self::ApiKey(partner) => format!("key:{partner}"),
            Self::User(subject) => format!("user:{subject}"),
            Self::Ip(ip) => match ip.to_canonical() {
                IpAddr::V4(v4) => format!("ip:{v4}"),
                IpAddr::V6(v6) => {
                    let network = Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64));
                    format!("ip:{network}/64")
                }
            },
        }
    }
}

/// The client's address: `peer` (the socket's), or the first untrusted `x-forwarded-for` hop
/// from the right when `peer` is a trusted proxy (see the module's documentation).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[Cidr]) -> IpAddr {
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|cidr| cidr.contains(ip));
    let mut client = peer.to_canonical();
    if !trusted(client) {
        return client;
    }
    // Several headers read as one list, in order.
    let values: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    for hop in values.iter().flat_map(|v| v.split(',')).rev() {
        // Garbage was written by someone untrusted: the proxy that passed it on is the client.
        let Ok(ip) = parse_hop(hop) else { return client };
        client = ip.to_canonical();
        if !trusted(client) {
            return client;
        }
    }
    // Every hop is a trusted proxy: the left-most one is as far as we can see.
    client
}

/// An `x-forwarded-for` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Result<IpAddr, ()> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Ok(ip);
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Ok(socket.ip());
    }
    Err(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("a header value"));
        }
        headers
    }

    #[test]
    fn buckets_are_named_by_kind() {
        assert_eq!(ClientKey::ApiKey("partner-a".into()).bucket(), "key:partner-a");
        assert_eq!(ClientKey::User("123".into()).bucket(), "user:123");
        assert_eq!(ClientKey::Ip(ip("1.2.3.4")).bucket(), "ip:1.2.3.4");
        assert_eq!(ClientKey::Ip(ip("::ffff:1.2.3.4")).bucket(), "ip:1.2.3.4", "IPv4-mapped");
        assert_eq!(ClientKey::Ip(ip("2001:db8:1:2:aaaa::1")).bucket(), "ip:2001:db8:1:2::/64");
    }

    #[test]
    fn the_header_is_ignored_without_trusted_proxies() {
        let headers = forwarded(&["6.6.6.6"]);
        assert_eq!(client_ip(ip("1.2.3.4"), &headers, &[]), ip("1.2.3.4"));
        let proxies = [Cidr::parse("10.0.0.0/8").expect("valid")];
        assert_eq!(client_ip(ip("1.2.3.4"), &headers, &proxies), ip("1.2.3.4"), "the peer is no proxy of ours");
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let proxies = Cidr::parse_list(["10.0.0.0/8", "192.168.0.0/16"]).expect("valid");
        let peer = ip("10.0.0.2");
        // The client forged the left-most entry; the proxy appended what it saw.
        let headers = forwarded(&["6.6.6.6, 203.0.113.9, 192.168.1.1"]);
        assert_eq!(client_ip(peer, &headers, &proxies), ip("203.0.113.9"));
        let split = forwarded(&["6.6.6.6", "203.0.113.9:5000, 192.168.1.1"]);
        assert_eq!(client_ip(peer, &split, &proxies), ip("203.0.113.9"), "several headers, a port");
        assert_eq!(client_ip(peer, &forwarded(&["10.1.1.1, 10.2.2.2"]), &proxies), ip("10.1.1.1"), "all trusted");
        assert_eq!(client_ip(peer, &forwarded(&["nonsense, 192.168.1.1"]), &proxies), ip("192.168.1.1"));
        assert_eq!(client_ip(peer, &HeaderMap::new(), &proxies), peer, "no header: the proxy itself");
    }
}
