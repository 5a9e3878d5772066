//! The client's address behind reverse proxies and load balancers.
//!
//! `X-Forwarded-For` is read only when the socket peer is one of `KEYWARD_TRUSTED_PROXIES` (CIDR list,
//! default none): anyone else could write any address there and spend someone else's budget, or escape
//! their own. The header is read right to left, skipping hops that are themselves trusted proxies; the
//! first untrusted hop is the client. A malformed entry stops the walk at the last address known good, so
//! a forged or broken header never yields an address the proxies did not see.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma- or space-separated list of CIDR blocks (`10.0.0.0/8, ::1/128`); a bare address
    /// means that one address.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split([',', ' ', '\t', '\n'])
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is not an address or a CIDR block such as 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address: the socket peer, or, when the peer is trusted, the last hop in
    /// `X-Forwarded-For` that is not a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.to_str().ok())
            .collect::<Option<Vec<_>>>();
        let Some(hops) = hops else { return client };
        // Several header lines are one list, in order.
        let mut all: Vec<&str> = hops.iter().flat_map(|line| line.split(',')).map(str::trim).collect();
        while let Some(hop) = all.pop() {
            let Ok(address) = hop.parse::<IpAddr>() else { return client };
            client = address.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_address(ip("203.0.113.9"), &headers(&["198.51.100.1"])), ip("203.0.113.9"));
        let lb = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(lb.client_address(ip("203.0.113.9"), &headers(&["198.51.100.1"])), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_hops_are_skipped_right_to_left() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        // client, a forged entry the client wrote first, then the proxies' own hops.
        let forwarded = headers(&["1.2.3.4, 198.51.100.1", "192.0.2.7"]);
        assert_eq!(proxies.client_address(ip("10.1.2.3"), &forwarded), ip("198.51.100.1"));
        // Everything trusted: the leftmost address is the client.
        assert_eq!(proxies.client_address(ip("10.1.2.3"), &headers(&["10.9.9.9"])), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(proxies.client_address(ip("10.1.2.3"), &HeaderMap::new()), ip("10.1.2.3"));
        // IPv4-mapped IPv6 peers count as their IPv4 address.
        assert_eq!(
            proxies.client_address(ip("::ffff:10.1.2.3"), &headers(&["198.51.100.1"])),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_malformed_header_never_yields_an_unseen_address() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        for bad in ["not-an-ip", "198.51.100.1, garbage", "", "198.51.100.1:443"] {
            let address = proxies.client_address(ip("10.1.2.3"), &headers(&[bad]));
            assert_eq!(address, ip("10.1.2.3"), "{bad:?}");
        }
        // A broken entry left of a good one stops the walk at the good one.
        assert_eq!(
            proxies.client_address(ip("10.1.2.3"), &headers(&["garbage, 198.51.100.1"])),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_list_parses_blocks_and_bare_addresses_and_names_a_bad_item() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        let list = TrustedProxies::parse("10.0.0.0/8,::1 172.16.0.0/12").unwrap();
        assert_eq!(list.0.len(), 3);
        let error = TrustedProxies::parse("10.0.0.0/8, 300.1.1.1").unwrap_err();
        assert!(error.contains("300.1.1.1"), "{error}");
    }
}
