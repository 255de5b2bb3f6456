//! The caller's address: the TCP peer, or — when the peer is a trusted proxy — the first
//! untrusted hop of `X-Forwarded-For`, read from the right (the left part is whatever the
//! client chose to send). A header from an untrusted peer is never believed.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

pub(crate) fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    Some(resolve(peer, req.headers(), trusted))
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|n| n.contains(&ip))
}

fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // `1.2.3.4:5678` and `[2001:db8::1]:5678` forms.
    raw.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

pub(crate) fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut current = peer;
    for raw in hops.iter().rev() {
        match parse_hop(raw) {
            Some(ip) if is_trusted(ip, trusted) => current = ip,
            Some(ip) => return ip,
            // A malformed entry cannot be attributed; the last hop we could trust is the answer.
            None => return current,
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let t = nets(&["127.0.0.0/8"]);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(resolve(peer, &headers(&["10.1.1.1"]), &t), peer);
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let t = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        // spoofed, real client, inner proxy
        let h = headers(&["198.51.100.7, 203.0.113.5", "10.0.0.2"]);
        assert_eq!(
            resolve(peer, &h, &t),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve(peer, &headers(&[]), &t), peer);
        assert_eq!(
            resolve(peer, &headers(&["10.0.0.3"]), &t),
            "10.0.0.3".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve(peer, &headers(&["203.0.113.5, garbage"]), &t), peer);
        assert_eq!(
            resolve(peer, &headers(&["[2001:db8::1]:443"]), &t),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            resolve(
                "::ffff:127.0.0.1".parse::<IpAddr>().unwrap().to_canonical(),
                &headers(&["192.0.2.1"]),
                &t
            ),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
