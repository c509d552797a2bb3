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

/// A block of addresses, `10.0.0.0/8` or `fd00::/8`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address[/prefix]`; host bits after the prefix are ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let invalid = || format!("`{text}` is not an address or a block such as 10.0.0.0/8 or fd00::/8");
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(invalid)?,
            None => bits,
        };
        Ok(Self { network, prefix })
    }

    /// Parses a list, skipping empty entries (`a, b,` from an environment variable).
    pub fn parse_list<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Vec<Self>, String> {
        texts.into_iter().filter(|t| !t.trim().is_empty()).map(Self::parse).collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
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
    fn blocks_are_parsed_and_matched() {
        let block = Cidr::parse("10.0.0.0/8").expect("valid");
        assert!(block.contains(ip("10.200.3.4")) && !block.contains(ip("11.0.0.1")));
        assert!(block.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped addresses are IPv4");
        assert!(!block.contains(ip("::1")));
        let one = Cidr::parse(" 192.168.1.7 ").expect("valid");
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        assert_eq!(one.to_string(), "192.168.1.7/32");
        let v6 = Cidr::parse("fd00::/8").expect("valid");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").expect("everything").contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").expect("everything").contains(ip("2001:db8::1")));
        for bad in ["10.0.0.0/33", "::/129", "proxy.local", "10.0.0.0/", "10.0.0/8", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Cidr::parse_list("10.0.0.0/8, ,::1".split(',')).expect("valid").len(), 2);
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
