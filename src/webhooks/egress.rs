//! Where webhook deliveries may go: the SSRF policy (OWASP SSRF Prevention Cheat Sheet; the
//! rules of Svix's and GitLab's senders).
//!
//! A URL must be `https` (plain `http` only when the operator allows it) with no credentials
//! or fragment. Its host is resolved once per connection, and the connection is made to an
//! address that passed the check: loopback, private (RFC 1918), link-local (cloud metadata),
//! carrier-grade NAT (RFC 6598), unique-local (RFC 4193), IPv4-mapped and IPv4-embedding IPv6,
//! multicast, documentation, benchmarking and reserved addresses are refused unless an
//! operator-allowed network (`TESSERA_WEBHOOK_ALLOW_NETWORKS`) holds them. DNS may change
//! between creation and delivery, so deliveries check again: [`PolicyResolver`] is the HTTP
//! client's only resolver, and IP-literal hosts are checked before sending.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use ipnet::IpNet;
use url::Url;

/// The operator's egress settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct EgressPolicy {
    /// Networks allowed even though they are not public (e.g. `127.0.0.0/8` in tests).
    pub(crate) allow_networks: Vec<IpNet>,
    /// Whether `http://` endpoints are accepted (development only).
    pub(crate) allow_http: bool,
}

/// Why a URL or address is refused; the message is shown to the admin and recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) String);

/// The longest endpoint URL accepted.
const MAX_URL_LEN: usize = 2048;

impl EgressPolicy {
    /// Whether a delivery may connect to `ip`.
    pub(crate) fn permits(&self, ip: IpAddr) -> bool {
        if self.allow_networks.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        let canonical = ip.to_canonical();
        if canonical != ip {
            // IPv4-mapped: judged as what it maps to, and only through the allow-list.
            return self.allow_networks.iter().any(|n| n.contains(&canonical));
        }
        is_public(ip)
    }

    /// Parses and checks an endpoint URL's form (not yet where it resolves to).
    pub(crate) fn parse_url(&self, raw: &str) -> Result<Url, Refused> {
        if raw.len() > MAX_URL_LEN {
            return Err(Refused(format!("at most {MAX_URL_LEN} characters")));
        }
        let url = Url::parse(raw).map_err(|e| Refused(format!("not a URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(Refused(
                    "must be https (plain http needs TESSERA_WEBHOOK_ALLOW_HTTP=true)".into(),
                ));
            }
            other => return Err(Refused(format!("scheme {other:?} is not https"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused(
                "must not carry credentials; verify deliveries by their signature".into(),
            ));
        }
        if url.fragment().is_some() {
            return Err(Refused("must not have a fragment".into()));
        }
        if url.host().is_none() {
            return Err(Refused("has no host".into()));
        }
        Ok(url)
    }

    /// The addresses of `url`'s host that a delivery may connect to, resolving it now (a
    /// blocking DNS look-up). Refused when none is permitted.
    pub(crate) fn vet(&self, url: &Url) -> Result<Vec<IpAddr>, Refused> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.vet_addresses(&url_host(url), vec![IpAddr::V4(ip)]),
            Some(url::Host::Ipv6(ip)) => self.vet_addresses(&url_host(url), vec![IpAddr::V6(ip)]),
            Some(url::Host::Domain(name)) => self.vet_name(name),
            None => Err(Refused("has no host".into())),
        }
    }

    fn vet_name(&self, name: &str) -> Result<Vec<IpAddr>, Refused> {
        let addrs: Vec<IpAddr> = (name, 0)
            .to_socket_addrs()
            .map_err(|_| Refused(format!("{name} cannot be resolved")))?
            .map(|a| a.ip())
            .collect();
        self.vet_addresses(name, addrs)
    }

    /// The permitted ones of `addrs`, or a refusal. The refusal does not say which addresses a
    /// name has: that would let whoever registers endpoints map the internal DNS (the
    /// operator's log at `info` has them).
    fn vet_addresses(&self, host: &str, addrs: Vec<IpAddr>) -> Result<Vec<IpAddr>, Refused> {
        let permitted: Vec<IpAddr> = addrs.iter().copied().filter(|a| self.permits(*a)).collect();
        if permitted.is_empty() {
            tracing::info!(host, addresses = ?addrs, "webhook destination refused");
            return Err(Refused(format!(
                "{host} is not a permitted destination: not a public address, and not in \
                 TESSERA_WEBHOOK_ALLOW_NETWORKS"
            )));
        }
        Ok(permitted)
    }
}

fn url_host(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_string()
}

/// Whether `ip` is a public unicast address (IANA special-purpose registries, RFC 6890).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0                                   // "this network", 0.0.0.0/8
        || ip.is_loopback()                         // 127.0.0.0/8
        || ip.is_private()                          // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()                       // 169.254/16: cloud metadata
        || (a == 100 && (64..128).contains(&b))     // 100.64/10: carrier-grade NAT
        || (a == 192 && b == 0 && c == 0)           // 192.0.0/24: IETF protocol assignments
        || ip.is_documentation()                    // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || (a == 198 && (b == 18 || b == 19))       // 198.18/15: benchmarking
        || ip.is_multicast()                        // 224/4
        || a >= 240) // 240/4 reserved, and the broadcast address
}

/// Only global unicast (2000::/3) is public; within it, the special-purpose blocks are not.
/// Everything else — loopback, unspecified, link- and site-local, unique-local, multicast, the
/// IPv4-mapped, -compatible and -translated forms, NAT64, discard-only — is outside 2000::/3.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // 2001::/23 IETF protocol assignments (Teredo, ORCHID, …) and 2001:db8::/32 documentation;
    // 2002::/16 6to4 (embeds IPv4); 3fff::/20 documentation.
    let special = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8))
        || s[0] == 0x2002
        || (s[0] == 0x3fff && s[1] < 0x1000);
    (s[0] & 0xe000) == 0x2000 && !special
}

/// The delivery client's DNS resolver: every name resolves only to permitted addresses, and
/// the connection is made to one of them — the address checked is the address used, so a
/// name cannot be re-pointed between the check and the connection (DNS rebinding).
pub(crate) struct PolicyResolver(pub(crate) Arc<EgressPolicy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            type BoxError = Box<dyn std::error::Error + Send + Sync>;
            let vetted = tokio::task::spawn_blocking(move || policy.vet_name(&name))
                .await
                .map_err(|e| -> BoxError { Box::new(Refused(format!("resolver stopped: {e}"))) })?;
            let addrs = vetted.map_err(|e| -> BoxError { Box::new(e) })?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_internal_addresses_unless_allowed() {
        let strict = EgressPolicy::default();
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::",
        ] {
            assert!(!strict.permits(ip(bad)), "{bad} must be refused");
        }
        for good in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(strict.permits(ip(good)), "{good} must be permitted");
        }
        let local = EgressPolicy {
            allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
            allow_http: true,
        };
        assert!(local.permits(ip("127.0.0.1")));
        assert!(local.permits(ip("::ffff:127.0.0.1")));
        assert!(!local.permits(ip("10.0.0.1")));
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        let strict = EgressPolicy::default();
        assert!(strict.parse_url("https://example.com/hook").is_ok());
        for bad in [
            "http://example.com/hook",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "not a url",
        ] {
            assert!(strict.parse_url(bad).is_err(), "{bad}");
        }
        let url = strict.parse_url("https://127.0.0.1:9/").unwrap();
        assert!(
            strict
                .vet(&url)
                .unwrap_err()
                .0
                .contains("not a permitted destination")
        );
        let url = strict.parse_url("https://[::1]/").unwrap();
        assert!(strict.vet(&url).is_err());
    }
}
