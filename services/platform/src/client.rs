//! Who is calling, by network address: the client behind the proxies the deployment trusts.
//!
//! Behind an ingress controller every request arrives from the controller's address, so a
//! limit keyed on the TCP peer is one bucket for everybody. The controller says whom it
//! forwards for in `Forwarded` (RFC 7239) or `X-Forwarded-For`; anyone can send those
//! headers, so they are read only when the peer is a configured trusted proxy
//! (`grpc.trusted_proxies`, CIDR blocks), and only as far as the chain stays within trusted
//! proxies: the client is the right-most address that is not one of them. Without trusted
//! proxies, the peer is the client.
//!
//! Limits key on [`ClientKey`]: an IPv4 address, or the /64 network of an IPv6 address (one
//! phone or one household gets a whole /64, and can pick any address in it).

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The client of a request: the peer, or whom trusted proxies forwarded for.
pub fn address(peer: IpAddr, headers: &http::HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let chain = forwarded_for(headers);
    // Right to left: the nearest hop first; the first one we do not run is the client.
    let mut client = peer;
    for hop in chain.iter().rev() {
        client = *hop;
        if !is_trusted(*hop, trusted) {
            break;
        }
    }
    client
}

/// What a limit counts: one IPv4 address, or one IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let network = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(network)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

fn is_trusted(address: IpAddr, trusted: &[IpNet]) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&address))
}

/// The forwarded-for chain, left (the original client) to right (the nearest proxy): from
/// `Forwarded` when present, else from `X-Forwarded-For`. A header that does not parse is
/// ignored entirely (the peer is then the client), so a garbled entry cannot shift the chain.
fn forwarded_for(headers: &http::HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<&str> = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return parse_forwarded(&forwarded).unwrap_or_default();
    }
    let xff: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    parse_x_forwarded_for(&xff).unwrap_or_default()
}

fn parse_x_forwarded_for(values: &[&str]) -> Option<Vec<IpAddr>> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|hop| hop.trim().parse().ok())
        .collect()
}

/// `for=` of each element of RFC 7239 `Forwarded` headers: `for=192.0.2.60`,
/// `for="[2001:db8::1]:4711"`. An obfuscated or unknown node (`for=unknown`, `for=_hidden`)
/// makes the chain unusable.
fn parse_forwarded(values: &[&str]) -> Option<Vec<IpAddr>> {
    let mut chain = Vec::new();
    for element in values.iter().flat_map(|v| v.split(',')) {
        let node = element.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("for")
                .then(|| value.trim())
        })?;
        chain.push(parse_node(node.trim_matches('"'))?);
    }
    Some(chain)
}

fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    // IPv4 with an optional port.
    node.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("cidr")).collect()
    }

    const INGRESS: &str = "10.42.0.7";

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = nets(&["10.42.0.0/16"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        // From the ingress: the client it names.
        assert_eq!(address(ip(INGRESS), &h, &trusted), ip("203.0.113.9"));
        // From anyone else: the header is the caller's own claim, and ignored.
        assert_eq!(
            address(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        // With no trusted proxies configured, never.
        assert_eq!(address(ip(INGRESS), &h, &[]), ip(INGRESS));
    }

    #[test]
    fn a_spoofed_left_part_of_the_chain_does_not_count() {
        let trusted = nets(&["10.42.0.0/16"]);
        // The client sent "X-Forwarded-For: 1.2.3.4"; the ingress appended the real address.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(address(ip(INGRESS), &h, &trusted), ip("203.0.113.9"));
        // Two trusted hops (a load balancer, then the ingress).
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.42.1.1")]);
        assert_eq!(address(ip(INGRESS), &h, &trusted), ip("203.0.113.9"));
        // Garbage in the chain: the peer, not whatever parses.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, nonsense")]);
        assert_eq!(address(ip(INGRESS), &h, &trusted), ip(INGRESS));
    }

    #[test]
    fn rfc_7239_forwarded_wins_over_x_forwarded_for() {
        let trusted = nets(&["10.42.0.0/16"]);
        let h = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\"",
            ),
            ("x-forwarded-for", "198.51.100.77"),
        ]);
        assert_eq!(address(ip(INGRESS), &h, &trusted), ip("2001:db8:cafe::17"));
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(address(ip(INGRESS), &hidden, &trusted), ip(INGRESS));
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let a = ClientKey::of(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = ClientKey::of(ip("2001:db8:1:3::1"));
        assert_eq!(a, b, "one /64");
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        // An IPv4 address mapped into IPv6 is the IPv4 address.
        assert_eq!(
            ClientKey::of(ip("::ffff:203.0.113.9")),
            ClientKey::of(ip("203.0.113.9"))
        );
    }
}
