//! Who is on the other end of a request: the client's address and the scheme it used, worked
//! out once per request (RFC 7239 "Forwarded", and the older `X-Forwarded-For` /
//! `X-Forwarded-Proto`).
//!
//! These headers are believed only when the TCP peer is one of the configured trusted proxies
//! (`CLAVIS_TRUSTED_PROXIES`); from any other peer they are ignored and the peer is the
//! client. Behind trusted proxies the list is read from the right (the hop nearest to Clavis)
//! and the client is the first address that is not itself a trusted proxy: entries further
//! left were written by whoever sent the request and prove nothing (RFC 7239 §8.1). actix's
//! `realip_remote_addr` takes the left-most entry from anyone, so it is never used.
//!
//! When a trusted peer sends both `Forwarded` and `X-Forwarded-For` and they name different
//! clients, one of them was passed through from the client unchanged, and Clavis cannot tell
//! which: the request is then taken to come from the proxy itself, so a spoofed header never
//! buys a fresh address. Likewise, disagreeing schemes count as plain `http`.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};
use forwarded_header_value::{ForwardedStanza, Protocol};
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr};

/// The URI scheme the client used to reach the front door (Clavis itself or its proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// The client of one request, as [`identify`] worked it out; taken by handlers as an
/// extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOrigin {
    /// The client's IP address (IPv4-mapped IPv6 addresses are given as IPv4).
    pub address: IpAddr,
    pub scheme: Scheme,
}

impl ClientOrigin {
    /// Whether the client used HTTPS, or is this machine itself (loopback), where plain HTTP
    /// never crosses a network.
    pub fn is_private_channel(&self) -> bool {
        self.scheme == Scheme::Https || self.address.is_loopback()
    }
}

/// The peers whose forwarding headers are believed (`CLAVIS_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

/// One hop of a forwarding list: the address it names and, from `Forwarded`, its `proto`.
type Hop = (IpAddr, Option<Scheme>);

impl TrustedProxies {
    pub fn new(networks: Vec<ipnet::IpNet>) -> Self {
        Self(networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `peer`, a request's TCP peer, is one of the trusted proxies.
    pub fn trusts_peer(&self, peer: IpAddr) -> bool {
        self.trusts(peer.to_canonical())
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request that arrived from `peer` over `own_scheme` with `headers`.
    pub fn origin(&self, peer: IpAddr, own_scheme: Scheme, headers: &HeaderMap) -> ClientOrigin {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return ClientOrigin {
                address: peer,
                scheme: own_scheme,
            };
        }
        let forwarded = joined(headers, &header::FORWARDED)
            .map(|value| self.client_hop(peer, value.rsplit(',').map(forwarded_hop)));
        let x_forwarded_for = joined(headers, &X_FORWARDED_FOR)
            .map(|value| self.client_hop(peer, value.rsplit(',').map(x_forwarded_for_hop)));
        let x_forwarded_proto = joined(headers, &X_FORWARDED_PROTO).map(|value| {
            value
                .rsplit(',')
                .next()
                .and_then(|proto| proto.trim().parse::<Protocol>().ok())
                .map(scheme_of)
        });
        let address = match (forwarded.map(|hop| hop.0), x_forwarded_for.map(|hop| hop.0)) {
            (Some(a), Some(b)) if a != b => peer,
            (Some(address), _) | (None, Some(address)) => address,
            (None, None) => peer,
        };
        let scheme = match (forwarded.and_then(|hop| hop.1), x_forwarded_proto) {
            (Some(a), Some(b)) if Some(a) != b => Scheme::Http,
            (Some(scheme), _) => scheme,
            (None, Some(scheme)) => scheme.unwrap_or(Scheme::Http),
            (None, None) => own_scheme,
        };
        ClientOrigin { address, scheme }
    }

    /// Walks the hops from the right: the first one not a trusted proxy is the client. An
    /// entry that names no address (`unknown`, an obfuscated name, garbage) ends the walk at
    /// the last trusted hop, which is then the best-known client.
    fn client_hop(&self, peer: IpAddr, hops: impl Iterator<Item = Option<Hop>>) -> Hop {
        let mut nearest = (peer, None);
        for hop in hops {
            let Some((address, scheme)) = hop else { break };
            nearest = (address.to_canonical(), scheme);
            if !self.trusts(nearest.0) {
                break;
            }
        }
        nearest
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Every line of a header joined as one list (RFC 9110 §5.3). Bytes that are not text become
/// U+FFFD, so only the element holding them fails to parse: a client that sends such bytes
/// cannot blank the entries its proxy appended after them and pass for the proxy.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut lines = headers.get_all(name).peekable();
    lines.peek()?;
    let lines: Vec<String> = lines
        .map(|line| String::from_utf8_lossy(line.as_bytes()).into_owned())
        .collect();
    Some(lines.join(","))
}

fn forwarded_hop(element: &str) -> Option<Hop> {
    let stanza = element.parse::<ForwardedStanza>().ok()?;
    Some((
        stanza.forwarded_for_ip()?,
        stanza.forwarded_proto.map(scheme_of),
    ))
}

fn x_forwarded_for_hop(element: &str) -> Option<Hop> {
    Some((element.trim().parse().ok()?, None))
}

fn scheme_of(protocol: Protocol) -> Scheme {
    match protocol {
        Protocol::Http => Scheme::Http,
        Protocol::Https => Scheme::Https,
    }
}

/// Middleware: works out the request's [`ClientOrigin`] once and keeps it in the request's
/// extensions, for the handlers, the throttle, the audit trail and the access log.
pub async fn identify(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let origin = origin_of(req.request());
    req.extensions_mut().insert(origin);
    next.call(req).await
}

fn origin_of(req: &HttpRequest) -> ClientOrigin {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    let own_scheme = if req.app_config().secure() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    match req.app_data::<web::Data<TrustedProxies>>() {
        Some(trusted) => trusted.origin(peer, own_scheme, req.headers()),
        None => TrustedProxies::default().origin(peer, own_scheme, req.headers()),
    }
}

impl ClientOrigin {
    /// The origin [`identify`] stored; worked out here if the middleware did not run.
    pub fn of(req: &HttpRequest) -> Self {
        let stored = req.extensions().get::<ClientOrigin>().copied();
        stored.unwrap_or_else(|| origin_of(req))
    }
}

impl FromRequest for ClientOrigin {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|net| net.parse().unwrap()).collect())
    }

    fn origin(trusted: &TrustedProxies, peer: &str, headers: &[(&str, &str)]) -> ClientOrigin {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        trusted.origin(peer.parse().unwrap(), Scheme::Http, &map)
    }

    fn at(address: &str, scheme: Scheme) -> ClientOrigin {
        ClientOrigin {
            address: address.parse().unwrap(),
            scheme,
        }
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoofed = [
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=198.51.100.8;proto=https"),
        ];
        assert_eq!(
            origin(&trusted, "203.0.113.9", &spoofed),
            at("203.0.113.9", Scheme::Http)
        );
        assert_eq!(
            origin(&TrustedProxies::default(), "10.0.0.1", &spoofed),
            at("10.0.0.1", Scheme::Http)
        );
    }

    #[test]
    fn bytes_that_are_not_text_cannot_hide_the_client_behind_its_proxy() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let mut map = HeaderMap::new();
        map.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff, 198.51.100.9").unwrap(),
        );
        map.append(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
        assert_eq!(
            trusted.origin("10.0.0.2".parse().unwrap(), Scheme::Https, &map),
            at("198.51.100.9", Scheme::Http)
        );
    }

    #[test]
    fn x_forwarded_for_is_read_from_the_right_past_trusted_hops() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = [
            ("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.3"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(
            origin(&trusted, "10.0.0.2", &headers),
            at("198.51.100.7", Scheme::Https)
        );
    }

    #[test]
    fn forwarded_gives_address_and_proto_of_the_client_hop() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8:1::/48"]);
        let headers = [(
            "forwarded",
            "for=1.1.1.1;proto=http, for=\"[2001:db8:9::5]:4711\";proto=https, for=10.1.2.3;proto=http",
        )];
        assert_eq!(
            origin(&trusted, "10.0.0.2", &headers),
            at("2001:db8:9::5", Scheme::Https)
        );
        let split_lines = [
            ("forwarded", "for=192.0.2.60;proto=https"),
            ("forwarded", "for=10.9.9.9"),
        ];
        assert_eq!(
            origin(&trusted, "2001:db8:1::1", &split_lines),
            at("192.0.2.60", Scheme::Https)
        );
    }

    #[test]
    fn unknown_or_garbled_entries_stop_at_the_nearest_trusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let unknown = [("forwarded", "for=198.51.100.7, for=unknown, for=10.0.0.9")];
        assert_eq!(
            origin(&trusted, "10.0.0.2", &unknown),
            at("10.0.0.9", Scheme::Http)
        );
        let garbled = [("x-forwarded-for", "198.51.100.7, not-an-address")];
        assert_eq!(
            origin(&trusted, "10.0.0.2", &garbled),
            at("10.0.0.2", Scheme::Http)
        );
    }

    #[test]
    fn headers_that_disagree_give_the_proxy_and_plain_http() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = [
            ("forwarded", "for=198.51.100.7;proto=https"),
            ("x-forwarded-for", "203.0.113.4"),
            ("x-forwarded-proto", "http"),
        ];
        assert_eq!(
            origin(&trusted, "10.0.0.2", &headers),
            at("10.0.0.2", Scheme::Http)
        );
        let agreeing = [
            ("forwarded", "for=198.51.100.7;proto=https"),
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(
            origin(&trusted, "10.0.0.2", &agreeing),
            at("198.51.100.7", Scheme::Https)
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_plain_ipv4() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = [("x-forwarded-for", "::ffff:198.51.100.7")];
        assert_eq!(
            origin(&trusted, "::ffff:10.0.0.2", &headers),
            at("198.51.100.7", Scheme::Http)
        );
    }

    #[test]
    fn only_https_or_loopback_is_a_private_channel() {
        assert!(at("127.0.0.2", Scheme::Http).is_private_channel());
        assert!(at("198.51.100.7", Scheme::Https).is_private_channel());
        assert!(!at("198.51.100.7", Scheme::Http).is_private_channel());
    }
}
