//! Outgoing requests to URLs users give (media to download, webhook endpoints next): they must
//! not reach inside our network (SSRF). The address policy is enforced where connections are
//! made: a client from `guarded_client` connects only to the addresses its resolver returns, and
//! the resolver drops non-public ones, so a name cannot pass a check and then resolve elsewhere
//! (no time-of-check/time-of-use gap). IP literals never reach a resolver, so the initial URL
//! (`check_url`) and every redirect hop (`check_redirect`, in the client's redirect policy) are
//! checked for them explicitly.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// What a guarded client may do.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Lets URLs reach loopback and private networks: for tests and trusted deployments only
    /// (`POSTPROXY_ALLOW_PRIVATE_URLS`).
    pub allow_private: bool,
    pub max_redirects: usize,
    pub connect_timeout: Duration,
    pub user_agent: &'static str,
}

/// A client under `policy`: the guarded resolver, redirects checked hop by hop, no proxy (a
/// proxy would resolve names itself, out of the resolver's reach), no referer. `pins` fix names
/// to addresses ahead of the resolver; tests use one to stand in for a public host.
pub fn guarded_client(policy: &Policy, pins: &[(&str, SocketAddr)]) -> reqwest::Result<reqwest::Client> {
    crate::crypto::install_crypto_provider();
    let (allow_private, max_redirects) = (policy.allow_private, policy.max_redirects);
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        match check_redirect(attempt.url(), attempt.previous().len(), max_redirects, allow_private) {
            Ok(()) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    });
    let mut builder = reqwest::Client::builder()
        .dns_resolver(GuardedResolver { allow_private })
        .redirect(redirects)
        .no_proxy()
        .referer(false)
        .connect_timeout(policy.connect_timeout)
        .user_agent(policy.user_agent);
    for (name, addr) in pins {
        builder = builder.resolve(name, *addr);
    }
    builder.build()
}

/// Our refusal inside a reqwest error (it travels in the source chain), if that is what it is.
pub fn refusal_of(e: &reqwest::Error) -> Option<Refusal> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        source = s.source();
    }
    None
}

/// Whether `ip` is a globally reachable unicast address, the only kind a user's URL may reach.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network", including 0.0.0.0
        || a == 10
        || a == 127
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
        || (a == 100 && (b & 0xC0) == 64) // CGNAT 100.64/10
        || (a == 169 && b == 254)
        || (a == 172 && (b & 0xF0) == 16)
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b & 0xFE) == 18) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113); // TEST-NET-3
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // Forms that carry an IPv4 address reach that address: judge it instead.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if s[..6] == [0; 6] {
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64: the well-known prefix 64:ff9b::/96 translates to the embedded address; the
        // local-use prefix 64:ff9b:1::/48 is operator-internal.
        return s[2..6] == [0; 4] && is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4 2002:AABB:CCDD::/48 reaches AA.BB.CC.DD.
        return is_public_v4(embedded(s[1], s[2]));
    }
    let special = (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x3fff && (s[1] & 0xf000) == 0) // documentation 3fff::/20
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32 (hides an IPv4 address)
        || (s[0] == 0x2001 && s[1] == 2 && s[2] == 0) // benchmarking 2001:2::/48
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // ORCHID 2001:10::/28
        || (s[0] == 0x0100 && s[1..4] == [0; 3]); // discard-only 100::/64
    // Global unicast is allocated from 2000::/3 only; anything else is reserved.
    !special && (s[0] & 0xe000) == 0x2000
}

/// Why a URL or one of its hops is refused; travels inside reqwest's error chain as its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Scheme(String),
    NoHost,
    Private {
        addr: IpAddr,
        via: Option<String>,
    },
    TooManyRedirects {
        max: usize,
    },
    /// `temporary`: the resolver failed (try again), rather than answering that the name
    /// does not exist.
    Unresolvable {
        host: String,
        temporary: bool,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Scheme(s) => write!(f, "scheme {s} is not fetched"),
            Refusal::NoHost => f.write_str("no host"),
            Refusal::Private { addr, .. } => write!(f, "private address {addr}"),
            Refusal::TooManyRedirects { max } => write!(f, "more than {max} redirects"),
            Refusal::Unresolvable { host, .. } => write!(f, "{host} has no address"),
        }
    }
}

impl StdError for Refusal {}

/// Checks a URL, initial or a redirect target, before any connection: http(s) only, a host, and
/// an IP-literal host must be public. Names are left to the resolver, which sees the addresses.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme(url.scheme().to_string()));
    }
    let ip = match url.host() {
        None => return Err(Refusal::NoHost),
        Some(Host::Domain("")) => return Err(Refusal::NoHost),
        // The url crate already turns every IPv4 spelling (decimal, hex, octal) into Ipv4;
        // parsing again guards against any form it leaves as a name that a connector might not.
        Some(Host::Domain(d)) => match d.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(()),
        },
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
    };
    if allow_private || is_public_ip(ip) {
        Ok(())
    } else {
        Err(Refusal::Private { addr: ip, via: None })
    }
}

/// The check for one redirect hop: `previous` is how many URLs came before it (reqwest counts
/// the initial one), so the hop is redirect number `previous`.
pub fn check_redirect(next: &Url, previous: usize, max_redirects: usize, allow_private: bool) -> Result<(), Refusal> {
    if previous > max_redirects {
        return Err(Refusal::TooManyRedirects { max: max_redirects });
    }
    check_url(next, allow_private).map_err(|r| match r {
        Refusal::Private { addr, .. } => Refusal::Private {
            addr,
            via: Some(format!("a redirect to {}", shown_url(next))),
        },
        r => r,
    })
}

/// Resolves with the system resolver and keeps only public addresses, so reqwest cannot connect
/// anywhere else.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let mut temporary = false;
            // RFC 6761: `.invalid` names never resolve; no need to ask.
            let reserved = host.ends_with(".invalid") || host == "invalid";
            let found: Vec<SocketAddr> = if reserved {
                Vec::new()
            } else {
                match tokio::net::lookup_host((host.as_str(), 0)).await {
                    Ok(addrs) => addrs.collect(),
                    Err(e) => {
                        // getaddrinfo's EAI_AGAIN: the resolver could not answer now. Anything
                        // else (EAI_NONAME, EAI_NODATA) means the name has no address.
                        temporary = e.to_string().contains("Temporary failure");
                        Vec::new()
                    }
                }
            };
            if allow_private && !found.is_empty() {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let (public, private): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| is_public_ip(a.ip()));
            if !public.is_empty() {
                return Ok(Box::new(public.into_iter()) as Addrs);
            }
            let refusal = match private.first() {
                Some(a) => Refusal::Private {
                    addr: a.ip(),
                    via: Some(host),
                },
                None => Refusal::Unresolvable { host, temporary },
            };
            Err(Box::new(refusal) as Box<dyn StdError + Send + Sync>)
        })
    }
}

/// The URL as shown in messages: no credentials, query or fragment (they may carry tokens), and
/// a long path cut short.
pub fn shown_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    let path = url.path();
    if path.chars().count() > 120 {
        shown.extend(path.chars().take(120));
        shown.push('…');
    } else {
        shown.push_str(path);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn public_and_non_public_addresses() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public_ip(ip(a)), "{a} is public");
        }
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "100::1",
            "4000::1",
        ] {
            assert!(!is_public_ip(ip(a)), "{a} is not public");
        }
    }

    #[test]
    fn url_checks() {
        let check = |u: &str| check_url(&Url::parse(u).expect(u), false);
        assert_eq!(check("https://example.com/a.png"), Ok(()));
        assert_eq!(check("http://8.8.8.8/a.png"), Ok(()));
        assert_eq!(check("http://user:pw@example.com/a"), Ok(()));
        assert_eq!(check("http://[2606:4700::1]/a"), Ok(()));
        assert_eq!(check("ftp://example.com/a"), Err(Refusal::Scheme("ftp".into())));
        assert_eq!(check("file:///etc/passwd"), Err(Refusal::Scheme("file".into())));
        assert_eq!(check("gopher://x/"), Err(Refusal::Scheme("gopher".into())));
        assert_eq!(check("data:image/png;base64,AAAA"), Err(Refusal::Scheme("data".into())));
        for private in [
            "http://127.0.0.1/",
            "http://127.0.0.1./",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://0/",
            "http://0.0.0.0:8080/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fe80::1%25eth0]/",
            "http://[fd00::1]/",
            "https://192.168.0.1:8443/",
        ] {
            let Ok(url) = Url::parse(private) else {
                continue; // A spelling the url crate refuses never gets fetched either.
            };
            assert!(
                matches!(check_url(&url, false), Err(Refusal::Private { .. })),
                "{private} must be refused"
            );
            assert_eq!(check_url(&url, true), Ok(()), "{private} allowed when private is");
        }
    }

    #[test]
    fn redirect_checks() {
        let url = |u: &str| Url::parse(u).expect(u);
        let next = url("https://cdn.example.com/a.png");
        assert_eq!(check_redirect(&next, 1, 5, false), Ok(()));
        assert_eq!(check_redirect(&next, 5, 5, false), Ok(()));
        assert_eq!(
            check_redirect(&next, 6, 5, false),
            Err(Refusal::TooManyRedirects { max: 5 })
        );
        assert_eq!(
            check_redirect(&next, 1, 0, false),
            Err(Refusal::TooManyRedirects { max: 0 })
        );
        assert_eq!(
            check_redirect(&url("http://169.254.169.254/latest?token=x"), 1, 5, false),
            Err(Refusal::Private {
                addr: ip("169.254.169.254"),
                via: Some("a redirect to http://169.254.169.254/latest".into()),
            })
        );
        assert!(matches!(
            check_redirect(&url("http://[::1]:8080/"), 2, 5, false),
            Err(Refusal::Private { .. })
        ));
        assert_eq!(
            check_redirect(&url("file:///etc/passwd"), 1, 5, false),
            Err(Refusal::Scheme("file".into()))
        );
        assert_eq!(check_redirect(&url("http://127.0.0.1/"), 1, 5, true), Ok(()));
    }

    #[tokio::test]
    async fn resolver_drops_private_addresses() {
        let name = |s: &str| s.parse::<Name>().expect("name");
        let strict = GuardedResolver { allow_private: false };
        let Err(e) = strict.resolve(name("localhost")).await else {
            panic!("localhost must not resolve");
        };
        assert!(
            matches!(e.downcast_ref::<Refusal>(), Some(Refusal::Private { addr, .. }) if addr.is_loopback()),
            "{e}"
        );
        let Err(e) = strict.resolve(name("no-such-host.invalid")).await else {
            panic!(".invalid must not resolve");
        };
        assert!(matches!(
            e.downcast_ref::<Refusal>(),
            Some(Refusal::Unresolvable { .. })
        ));

        let lax = GuardedResolver { allow_private: true };
        let addrs: Vec<SocketAddr> = lax.resolve(name("localhost")).await.expect("resolves").collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}

/// A guarded client with its policy, for calls to hosts a user names rather than the operator
/// (a Bluesky account's PDS from its DID document, a link's page for a link card).
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl Outbound {
    pub fn new(client: reqwest::Client, allow_private: bool) -> Outbound {
        Outbound { client, allow_private }
    }

    /// A request to `url`: refused before anything is sent when the URL is not http(s) or names
    /// a private address itself (names are left to the guarded resolver).
    pub fn request(&self, method: reqwest::Method, url: &str) -> Result<reqwest::RequestBuilder, Refusal> {
        let parsed = Url::parse(url).map_err(|_| Refusal::NoHost)?;
        check_url(&parsed, self.allow_private)?;
        Ok(self.client.request(method, parsed).timeout(Duration::from_secs(30)))
    }
}
