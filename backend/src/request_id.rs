//! Every request's id, to find everything about one request: its log lines, its answer's
//! `X-Request-Id` header, and the body of a server error (5xx) a caller reports.
//!
//! The id comes from the request's `X-Request-Id` header when the TCP peer is a trusted proxy
//! (`CLAVIS_TRUSTED_PROXIES`, see [`crate::forwarded`]), so a proxy's access log and Clavis's
//! share it: the proxy must set or replace the header (nginx: `proxy_set_header X-Request-Id
//! $request_id;`), never pass on a client's. From any other peer, and when the header is
//! missing or not an acceptable id ([`acceptable`]), Clavis makes one: a random (v4) UUID.
//!
//! [`assign`] runs the rest of the request inside a `request` span carrying the id as the
//! field `request_id`, so every log line of the request has it (JSON lines as a top-level
//! member, see [`crate::logging`]). The span is at ERROR level, so it is enabled whenever
//! any line of the request can be written. The id is also kept for the request's task, where
//! [`current`] reads it for the error bodies.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use tracing::Instrument;

use crate::forwarded::TrustedProxies;

/// The header that carries the id, in both directions.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a proxy; a UUID is 36 characters, a W3C trace id 32.
pub const MAX_CHARS: usize = 128;

/// One request's id: visible ASCII only, so it is safe in a header, a log line and JSON alike.
#[derive(Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only ever made from visible ASCII (see `acceptable` and `generate`).
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request being served by this task, if any (none in background jobs).
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(RequestId::clone).ok()
}

/// Middleware: gives the request its id, serves it inside the id's span, and answers with
/// the id in `X-Request-Id`. An error that reaches this far (from a middleware; handlers
/// answer theirs themselves) gets its response made here, while the id is still known, so
/// that the body can name it and the header is there too.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = of(&req);
    let span = tracing::error_span!("request", request_id = %id);
    let header = id.0.clone();
    let served = async move {
        match next.call(req).await {
            Ok(mut response) => {
                response.headers_mut().insert(X_REQUEST_ID, header);
                Ok(response)
            }
            Err(error) => {
                let mut response = error.error_response();
                response.headers_mut().insert(X_REQUEST_ID, header);
                Err(InternalError::from_response(error, response).into())
            }
        }
    };
    CURRENT.scope(id, served.instrument(span)).await
}

/// The id a trusted proxy gave the request, when acceptable, or a new one.
fn of(req: &ServiceRequest) -> RequestId {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    let trusted = req
        .app_data::<web::Data<TrustedProxies>>()
        .is_some_and(|proxies| proxies.trusts_peer(peer));
    let forwarded = || {
        let mut values = req.headers().get_all(X_REQUEST_ID);
        // Two ids for one request: neither can be told to be the proxy's.
        match (values.next(), values.next()) {
            (Some(value), None) if acceptable(value.as_bytes()) => Some(value.clone()),
            _ => None,
        }
    };
    match trusted.then(forwarded).flatten() {
        Some(value) => RequestId(value),
        None => generate(),
    }
}

/// Whether `id` may be taken as a request id: 1 to [`MAX_CHARS`] visible ASCII characters
/// (`!` to `~`), without `"` or `\`, which would need escaping in log lines and JSON.
pub fn acceptable(id: &[u8]) -> bool {
    (1..=MAX_CHARS).contains(&id.len())
        && id
            .iter()
            .all(|&byte| byte.is_ascii_graphic() && byte != b'"' && byte != b'\\')
}

/// A new random (v4) UUID, from aws-lc's user-space generator (no system call per request).
fn generate() -> RequestId {
    let mut bytes = [0u8; 16];
    let uuid = match aws_lc_rs::rand::fill(&mut bytes) {
        Ok(()) => uuid::Builder::from_random_bytes(bytes).into_uuid(),
        Err(_) => uuid::Uuid::new_v4(),
    };
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid.hyphenated().encode_lower(&mut text);
    RequestId(HeaderValue::from_str(text).expect("a UUID is a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_visible_ascii_of_bounded_length() {
        assert!(acceptable(b"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
        assert!(acceptable(b"nginx:4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(acceptable(&[b'a'; MAX_CHARS]));
        for refused in [
            &b""[..],
            &[b'a'; MAX_CHARS + 1],
            b"two words",
            b"tab\there",
            b"quote\"d",
            b"back\\slash",
            b"line\nbreak",
            "caf\u{e9}".as_bytes(),
        ] {
            assert!(!acceptable(refused), "{refused:?}");
        }
    }

    #[test]
    fn generated_ids_are_v4_uuids_and_differ() {
        let (a, b) = (generate(), generate());
        assert_ne!(a.as_str(), b.as_str());
        let parsed = uuid::Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert!(acceptable(a.as_str().as_bytes()));
    }
}
